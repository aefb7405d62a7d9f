"""`robostack status` (and `ps`): read the state directory, and ask the live supervisor.

The run state on disk is what a dead supervisor left; a live one is asked over its
control socket (with a short deadline) for the state it holds in memory, which is
fresher (probe results are not written to disk every time) and is the only record
while the disk is full. A supervisor whose pid lives but does not answer is shown as
"not responding" (hung, or stopped with SIGSTOP), never as healthy.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_SERVICE_FAILED, NotRunningError
from launcher.output.status import current_probe, describe_now, status_lines, status_problems
from launcher.state.interpret import effective_state, live_supervisor
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, StackLock, read_run_state
from launcher.state.transitions import FINE, RUNNING, parse_state

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from launcher.stack.redaction import Redactor

STATUS_DEADLINE = 1.0  # a live supervisor answers from memory in milliseconds; the rest is slack for a loaded machine


@dataclass
class StatusView:
    """The stack as `status` shows it, and what is known about its supervisor."""

    state: RunState
    alive: bool  # the recorded supervisor process runs and holds the lock
    responding: bool  # ... and answered within STATUS_DEADLINE
    write_error: str | None = None  # the supervisor cannot save its state (a full disk)
    log_failures: dict[str, str] = field(default_factory=dict)  # service -> "cannot write its log: No space..."

    def __post_init__(self) -> None:
        if not self.log_failures:
            self.log_failures = log_failures(self.state)

    @property
    def probing(self) -> bool:
        """Probe results are current only while a supervisor runs probes and answers."""
        return self.alive and self.responding

    def problems(self) -> list[str]:
        """Stack-wide problems, one line each (empty when there are none)."""
        lines = []
        pid = self.state.supervisor_pid
        if self.alive and not self.responding:
            lines.append(f"supervisor (pid {pid}) not responding: no answer within {STATUS_DEADLINE:g}s (hung, or "
                         "stopped with SIGSTOP); the states below are its last saved ones; `robostack down` stops it")
        if self.write_error:
            lines.append(f"supervisor (pid {pid}): {self.write_error}; it keeps the state in memory (shown here) "
                         "and retries")
        return lines


def load_status(ctx: CommandContext) -> StatusView:
    paths = ctx.paths()
    view = supervisor_view(paths)
    if view is None:
        holder = StackLock(paths).holder()
        detail = f"; a supervisor (pid {holder}) is starting it" if holder else "; start it with `robostack up`"
        raise NotRunningError(f"this stack has no run state in {paths.root}{detail}")
    return view


def supervisor_view(paths: StatePaths) -> StatusView | None:
    """The run state, from the live supervisor's memory if it answers, else from disk; None if there is none."""
    from launcher.supervise.control_point import ask_status

    state = read_run_state(paths)
    if state is None:
        return None
    supervisor = live_supervisor(paths, state)
    alive = supervisor is not None
    reply = ask_status(paths, STATUS_DEADLINE, supervisor.pid) if supervisor else None
    view = reply_view(reply)
    if view is not None:
        return view
    return StatusView(effective_state(state, supervisor_alive=alive), alive, False)


def reply_view(reply: dict | None) -> StatusView | None:
    """A live supervisor's answer (`Supervisor.status_reply`) as `status` shows it: what the control socket
    brings to `status`, and what the supervisor's own HTTP API serves, so both show the same.
    None if there is no answer or it does not read as a run state."""
    answered = _answered_state(reply)
    if answered is None:
        return None
    write_error = reply.get("write_error") if isinstance(reply.get("write_error"), str) else None
    return StatusView(effective_state(answered, supervisor_alive=True), alive=True, responding=True,
                      write_error=write_error)


def _answered_state(reply: dict | None) -> RunState | None:
    """The state a (verified) supervisor answered with; None if there is none or it does not read as one."""
    if reply is None:
        return None
    try:
        return RunState.from_json(reply["state"])
    except ValueError:
        return None


def masked_view(view: StatusView, redactor: Redactor) -> StatusView:
    """The view as shown to a person: its texts masked (a run state an older robostack wrote is not)."""
    state = copy.deepcopy(view.state)
    for record in state.services.values():
        record.reason = record.reason and redactor.mask(record.reason)
        record.exit = record.exit and redactor.mask(record.exit)
        for detail, key in ((record.probe, "detail"), (record.last_event, "reason")):
            if detail and isinstance(detail.get(key), str):
                detail[key] = redactor.mask(detail[key])
    return StatusView(state, view.alive, view.responding, view.write_error and redactor.mask(view.write_error),
                      view.log_failures)


def log_failures(state: RunState) -> dict[str, str]:
    """Services whose log writer reports it cannot write (a full disk), read from the writers' status records."""
    from launcher.logwriter.files import status_path
    from launcher.logwriter.status import describe_failure, read_writer_status

    failing = {}
    for name, record in state.services.items():
        if record.log:
            failure = describe_failure(read_writer_status(status_path(record.log)))
            if failure is not None:
                failing[name] = failure
    return failing


def status_json(view: StatusView) -> dict:
    state = view.state
    services = []
    for name in reversed(state.stop_order or list(state.services)):
        record = state.services[name]
        running = parse_state(record.state) in RUNNING
        services.append({"name": name, "state": record.state, "pid": record.pid,
                         "health": current_probe(record, view.probing), "restarts": record.restarts,
                         "log": record.log, "reason": record.reason,
                         "detail": describe_now(record, probing=view.probing),
                         "uptime": (time.time() - record.started_at) if record.started_at and running else None,
                         "next_try_at": record.next_try_at, "last_event": record.last_event, "exit": record.exit,
                         "external": record.external, "warnings": list(record.warnings),
                         "log_error": view.log_failures.get(name),
                         "condition": record.condition})
    supervisor = {"pid": state.supervisor_pid, "alive": view.alive, "responding": view.responding,
                  "state_write_error": view.write_error}
    return {"stack": state.stack, "stack_file": state.stack_file, "run_id": state.run_id, "phase": state.phase,
            "supervisor_pid": state.supervisor_pid if view.alive else None, "supervisor": supervisor,
            "problems": view.problems(), "symbols": state.symbols, "services": services}


def run_status(ctx: CommandContext, as_json: bool) -> int:
    redactor = ctx.redactor(with_stack=False)  # what the supervisor wrote is masked with the stack's secrets
    view = masked_view(load_status(ctx), redactor)
    out = ctx.out
    if as_json:
        out.line(json.dumps(redactor.mask_data(status_json(view)), indent=2))
    else:
        for line in status_lines(view.state, supervisor=_supervisor_label(view), probing=view.probing, out=out):
            out.line(line)
        for line in view.problems() + status_problems(view.state, view.log_failures, probing=view.probing):
            out.line(ctx.suggest(line), "red")
    if not view.alive:
        return EXIT_NOT_RUNNING
    if view.problems() or view.log_failures:
        return EXIT_SERVICE_FAILED
    fine = all(parse_state(r.state) in FINE for r in view.state.services.values())
    return EXIT_OK if fine else EXIT_SERVICE_FAILED


def _supervisor_label(view: StatusView) -> str:
    pid = view.state.supervisor_pid
    if not view.alive:
        return "not running"
    return f"pid {pid}" if view.responding else f"pid {pid}, not responding"

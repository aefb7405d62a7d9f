"""`robostack status` and `robostack events`: read the state directory, and ask the live supervisor.

The run state on disk is what a dead supervisor left; a live one is asked over its
control socket (with a short deadline) for the state it holds in memory, which is
fresher (probe results are not written to disk every time) and is the only record
while the disk is full. A supervisor whose pid lives but does not answer is shown as
"not responding" (hung, or stopped with SIGSTOP), never as healthy.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from dataclasses import dataclass, replace

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_SERVICE_FAILED, EXIT_STATE, NotRunningError
from launcher.output.console import status_problems, status_table
from launcher.stack.redaction import Redactor
from launcher.state.events import Timeline, read_timeline
from launcher.state.interpret import effective_state, live_supervisor
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, StackLock, read_run_state
from launcher.state.transitions import RUNNING, ServiceState, parse_state
from launcher.supervise.control import ask_status

STATUS_DEADLINE = 1.0  # a live supervisor answers from memory in milliseconds; the rest is slack for a loaded machine
# A Gateway in maintenance is away on purpose (its window, its daily restart): `status` exits 0 for it.
FINE = (ServiceState.HEALTHY, ServiceState.EXTERNAL, ServiceState.DONE, ServiceState.MAINTENANCE)


@dataclass
class StatusView:
    """The stack as `status` shows it, and what is known about its supervisor."""

    state: RunState
    alive: bool  # the recorded supervisor process runs and holds the lock
    responding: bool  # ... and answered within STATUS_DEADLINE
    write_error: str | None = None  # the supervisor cannot save its state (a full disk)

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
    state = read_run_state(paths)
    if state is None:
        return None
    supervisor = live_supervisor(paths, state)
    alive = supervisor is not None
    reply = asyncio.run(ask_status(paths, STATUS_DEADLINE, supervisor.pid)) if supervisor else None
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
    return StatusView(state, view.alive, view.responding, view.write_error and redactor.mask(view.write_error))


def status_json(view: StatusView) -> dict:
    state = view.state
    services = []
    for name in reversed(state.stop_order or list(state.services)):
        record = state.services[name]
        running = parse_state(record.state) in RUNNING
        services.append({"name": name, "state": record.state, "pid": record.pid, "health": record.probe,
                         "restarts": record.restarts, "log": record.log, "reason": record.reason,
                         "uptime": (time.time() - record.started_at) if record.started_at and running else None,
                         "next_try_at": record.next_try_at, "last_event": record.last_event, "exit": record.exit,
                         "external": record.external, "condition": record.condition})
    supervisor = {"pid": state.supervisor_pid, "alive": view.alive, "responding": view.responding,
                  "state_write_error": view.write_error}
    return {"stack": state.stack, "stack_file": state.stack_file, "run_id": state.run_id, "phase": state.phase,
            "supervisor_pid": state.supervisor_pid if view.alive else None, "supervisor": supervisor,
            "problems": view.problems(), "symbols": state.symbols, "services": services}


def run_status(ctx: CommandContext, as_json: bool) -> int:
    redactor = ctx.redactor()
    view = masked_view(load_status(ctx), redactor)
    if as_json:
        ctx.console.print_json(json.dumps(redactor.mask_data(status_json(view))))
    else:
        label = _supervisor_label(view)
        ctx.console.print(status_table(view.state, supervisor=label, width=ctx.console.width))
        for line in view.problems() + status_problems(view.state):
            ctx.console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
    if not view.alive:
        return EXIT_NOT_RUNNING
    if view.problems():
        return EXIT_SERVICE_FAILED
    fine = all(parse_state(r.state) in FINE for r in view.state.services.values())
    return EXIT_OK if fine else EXIT_SERVICE_FAILED


def _supervisor_label(view: StatusView) -> str:
    pid = view.state.supervisor_pid
    if not view.alive:
        return "not running"
    return f"pid {pid}" if view.responding else f"pid {pid}, not responding"


def run_events(ctx: CommandContext, follow: bool, as_json: bool) -> int:
    """Print the timeline (masked); damaged lines are skipped, each said in one line, and make the exit 6."""
    paths = ctx.paths()
    redactor = ctx.redactor()
    timeline = read_timeline(paths.events)
    damaged = _print_events(ctx, timeline, as_json, redactor)
    if follow:
        asyncio.run(_follow_events(ctx, timeline, as_json, redactor))
    return EXIT_STATE if damaged else EXIT_OK


async def _follow_events(ctx: CommandContext, timeline: Timeline, as_json: bool, redactor: Redactor) -> None:
    path = timeline.path
    while True:
        timeline = read_timeline(path, offset=timeline.offset, first_line=timeline.next_line)
        _print_events(ctx, timeline, as_json, redactor)
        await asyncio.sleep(0.2)


def _print_events(ctx: CommandContext, timeline: Timeline, as_json: bool, redactor: Redactor) -> bool:
    """Print the events, masked; say (on stderr) which lines were damaged; True if some were."""
    for event in timeline.events:
        event = replace(event, reason=redactor.mask(event.reason), data=redactor.mask_data(event.data))
        if as_json:
            ctx.console.print(json.dumps(event.to_json()), markup=False, highlight=False, soft_wrap=True)
            continue
        extras = " ".join(f"{k}={v}" for k, v in event.data.items() if k != "pid" or str(v) not in event.reason)
        text = f"{event.time:%Y-%m-%d %H:%M:%S} {event.service or 'stack':<12} {event.event:<18} {event.reason} {extras}"
        ctx.console.print(text.rstrip(), markup=False, highlight=False, soft_wrap=True)
    damaged = timeline.damaged
    if damaged:
        numbers = ", ".join(map(str, damaged[:5])) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        lines = "line" if len(damaged) == 1 else "lines"
        ctx.error_console.print(f"robostack: {timeline.path}: {lines} {numbers} damaged (no event robostack wrote); "
                                "skipped", markup=False, highlight=False, soft_wrap=True)
    return bool(damaged)

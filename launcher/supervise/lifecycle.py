"""One service while the supervisor runs it: its record, its process, and every change of its state.

:class:`ServiceLifecycle` is the only owner of a service's state. Every change goes
through :meth:`ServiceLifecycle.fire`, which asks the pure transition table
(:mod:`launcher.state.transitions`) what a trigger leads to, records the new state,
and writes it through the journal's one emit path and one save path. Nothing else
assigns ``record.state``.

Starting records the service *before* its process is spawned (state ``starting``,
no pid yet) and its pid the moment the fork returns, with no ``await`` in between:
a supervisor killed at any instant leaves either a pending record, which ``status``
and ``down`` reconcile through the run token and service name in the process's
environment, or a complete one.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from stackkit.clock import Clock
from launcher.hygiene.scan import foreign_port_holders
from launcher.logwriter.policy import RotationPolicy
from launcher.logwriter.status import WRITING, describe_failure
from launcher.probes.base import ProbeContext, ProbeResult, run_probe
from launcher.probes.notify_listener import NotifyListener, NotifyState
from launcher.process.spawn import ServiceProcess, Spawner
from launcher.process.stop import StopReport, kill_group_now, stop_group
from launcher.stack.resolved import ResolvedService
from launcher.errors import ServiceFailed, StateError
from launcher.state.interpret import RUN_TOKEN_VARIABLE, SERVICE_VARIABLE
from launcher.state.paths import StatePaths, point_current_log
from launcher.state.store import ServiceRecord
from launcher.state.transitions import SHOWS_REASON, UP, ServiceState, Trigger, transition
from launcher.supervise.gate import wait_until_done, wait_until_healthy
from launcher.supervise.gateway import GatewayWatch
from launcher.supervise.policy import RestartHistory
from launcher.supervise.primitives import Changes, ServiceLock, StopDoor

if TYPE_CHECKING:
    from launcher.supervise.journal import Journal

LOG_TAIL_LINES = 20
EXIT_SETTLE_TIMEOUT = 5.0


class ServiceLifecycle:
    """Mutable state of one service, owned by the supervisor's event loop (no locking beyond `busy`)."""

    def __init__(self, service: ResolvedService, record: ServiceRecord, *, journal: "Journal", clock: Clock,
                 spawner: Spawner, paths: StatePaths, run_token: str, door: StopDoor,
                 log_policy: RotationPolicy | None = None):
        self.service = service
        self.log_policy = log_policy  # when its log is rotated (the stack's `logs:` settings); None: defaults
        self.name = service.name
        self.record = record
        self.journal = journal
        self.clock = clock
        self.spawner = spawner
        self.paths = paths
        self.run_token = run_token
        self.door = door
        self.log_path = Path(record.log) if record.log else None
        self.log_offset = 0
        self.process: ServiceProcess | None = None
        self.exit_watcher: asyncio.Task[None] | None = None
        self.exited = asyncio.Event()  # the current process has ended (the gate wakes on it)
        self.notify: NotifyListener | None = None
        self.history = RestartHistory()
        self.started_at: float | None = None  # monotonic time of the current start
        self.healthy_since: float | None = None  # monotonic time it last became up
        self.stopping = False  # an exit now is one we asked for
        self._exit_taken = False
        self.halted_with: str | None = None  # the service whose `robostack stop` halted this one too
        self.log_failure: str | None = None  # what its log writer last reported failing ("No space left...")
        self.busy = ServiceLock()  # serialises watchers and restarts on this service
        self.changes = Changes()  # bumped on every exit and change of state
        self.gateway = GatewayWatch(self) if GatewayWatch.wanted(service) else None  # an ib_api service's monitor

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> ServiceState:
        return ServiceState(self.record.state)

    @property
    def up(self) -> bool:
        """Dependents may count on it (healthy, waiting, external and up, or a finished one-shot)."""
        return self.state in UP

    @property
    def running(self) -> bool:
        """Its process is alive."""
        return self.process is not None and self.process.returncode is None

    @property
    def probed(self) -> bool:
        """Its liveness probe runs now: it is up or unhealthy, and running (or run by someone else)."""
        watched = self.state in (ServiceState.HEALTHY, ServiceState.WAITING, ServiceState.UNHEALTHY,
                                 ServiceState.EXTERNAL, ServiceState.MAINTENANCE)
        return self.service.health is not None and watched and (self.running or self.service.external)

    def fire(self, trigger: Trigger, reason: str = "", **data: object) -> bool:
        """Apply `trigger`: record the new state, emit its event, save. False if it does not apply now."""
        step = transition(self.state, trigger)
        if step is None:
            return False
        was_up = self.up
        record = self.record
        record.state = step.state.value
        record.reason = (self.journal.mask(reason) or None) if step.state in SHOWS_REASON else None
        if step.state is not ServiceState.RESTARTING:
            record.next_try_at = None
        if self.up and not was_up:
            self.healthy_since = self.clock.monotonic()
            record.healthy_at = self.clock.now().timestamp()
        elif not self.up:
            self.healthy_since = None
        self.journal.emit(self.name, step.event, reason, **data)
        self.journal.save()
        self.changes.bump()
        return True

    def next_try_in(self, delay: float) -> None:
        """Record when a restart will try again (status shows it), and save."""
        self.record.next_try_at = self.clock.now().timestamp() + delay
        self.journal.save()

    # -- starting ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Record, spawn and gate the service (or wait for an external one's probe).

        Raises ServiceFailed (the state stays ``starting``; the caller decides what
        follows) or StackStopping if the stack began stopping.
        """
        self.door.check(self.name)
        if self.service.external:
            self.started_at = self.clock.monotonic()
            self.fire(Trigger.START, "external: waiting for its probe to pass")
            result = await self._gated()
            self.fire(Trigger.EXTERNAL_UP, result.detail, seconds_to_healthy=self.uptime())
            return
        self.record.pid = self.record.pgid = self.record.create_time = None
        self.record.started_at = self.clock.now().timestamp()
        command = shlex.join(self.journal.redactor.mask_argv(self.service.argv or ()))
        self.fire(Trigger.START, command)  # saved before the fork: a pending record
        process = await self._spawn()
        self.fire(Trigger.SPAWNED, f"pid {process.pid}", pid=process.pid)
        if self.service.spec.oneshot:
            await wait_until_done(self)
            self.take_exit()
            self.fire(Trigger.FINISHED, self.record.exit or "exited with code 0", seconds=self.uptime())
            return
        result = await self._gated()
        await self._refuse_foreign_port_holders()
        self.fire(Trigger.PROBE_PASSED, result.detail, seconds_to_healthy=self.uptime())

    async def _gated(self) -> ProbeResult:
        try:
            return await wait_until_healthy(self, self.journal)
        except ServiceFailed as failure:
            if self.gateway is not None:  # "awaiting the second factor ... IBC gives up at ..." says why
                failure.detail = await self.gateway.explain(failure.detail)
                failure.args = (f"{failure.service}: {failure.detail}",)
            raise

    async def _refuse_foreign_port_holders(self) -> None:
        """Healthy only if its own tree holds its ports: a squatter answering the probe is a failure."""
        if not self.service.ports or self.process is None:
            return
        conflicts = await asyncio.to_thread(foreign_port_holders, self.service, self.process.target)
        if conflicts:
            detail = "; ".join(conflict.describe() for conflict in conflicts)
            kind = self.service.health.kind if self.service.health else "port"
            self.remember_probe(ProbeResult(False, kind, f"answered by a foreign holder: {detail}", 0.0))
            raise ServiceFailed(self.name, detail)

    async def _spawn(self) -> ServiceProcess:
        service = self.service
        assert service.argv is not None and self.log_path is not None, "external services are never spawned"
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            point_current_log(self.paths, self.name, self.log_path)
        except StateError as err:  # a full disk must not stop a restart; the run's own log still works
            self.journal.note(f"{self.name}: {err}")
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {**service.env, RUN_TOKEN_VARIABLE: self.run_token, SERVICE_VARIABLE: self.name}
        health = service.health
        if health is not None and health.kind == "notify":
            if self.notify is None:
                self.notify = NotifyListener(on_message=self._notified)
            self.notify.reset()
            env["NOTIFY_SOCKET"] = self.notify.address
            if health.notify.watchdog_timeout:
                env["WATCHDOG_USEC"] = str(int(health.notify.watchdog_timeout * 1_000_000))
        if self.gateway is not None:
            await self.gateway.spawning()
        self.exited.clear()
        self.stopping = self._exit_taken = False
        self.record.exit = None
        self.record.warnings = []  # the new process says its own
        self.door.check(self.name)
        process = await self.spawner.spawn_service(self.name, service.argv, cwd=service.cwd, env=env,
                                                   log_path=self.log_path, log_policy=self.log_policy)
        # No await from the fork to here: a cancelled start cannot lose the process.
        self.process = process
        self.started_at = self.clock.monotonic()
        self.record.pid, self.record.pgid = process.pid, process.pgid
        self.record.create_time = process.identity.create_time
        self.exit_watcher = asyncio.ensure_future(self._watch_exit(process))
        return process

    async def _watch_exit(self, process: ServiceProcess) -> None:
        status = await process.wait()
        if self.process is process:
            self.record.exit = status.describe()
            self.exited.set()
            self.changes.bump()

    def _notified(self, state: NotifyState, fields: dict[str, str]) -> None:
        """A notify message arrived: a warning it brings is recorded and told (once per process)."""
        for warning in state.warnings:
            if warning not in self.record.warnings:
                self.record.warnings.append(warning)
                self.journal.emit(self.name, "warning", warning)
                self.journal.save()

    def uptime(self) -> float:
        """Seconds since its current start (rounded for the timeline)."""
        return round(0.0 if self.started_at is None else self.clock.monotonic() - self.started_at, 3)

    # -- exits ---------------------------------------------------------------------------------

    @property
    def exit_pending(self) -> bool:
        """Its process ended by itself and nobody has dealt with that yet."""
        return self.exited.is_set() and not self.stopping and not self._exit_taken

    def take_exit(self) -> bool:
        """Claim the pending exit (once): True if there was one to deal with."""
        if not self.exit_pending:
            return False
        self._exit_taken = True
        return True

    # -- stopping ----------------------------------------------------------------------------

    async def stop(self, reason: str) -> None:
        """Stop the service (for good, or while a dependency restarts): ``stopping``, its group, ``stopped``."""
        if self.gateway is not None:
            await self.gateway.close()
        if self.service.external:
            return  # run by someone else: never signalled
        self.fire(Trigger.STOP, reason)
        report = await self.stop_process()
        if self.state is ServiceState.STOPPING:  # also a stop that was cancelled half-way and is finished now
            self.fire(Trigger.STOPPED, report.summary if report and report.signalled else (self.record.exit or ""))

    async def halt(self, reason: str) -> None:
        """`robostack stop`: stop it like :meth:`stop`, then leave it ``halted`` (never restarted until started)."""
        self.fire(Trigger.STOP, reason)
        report = await self.stop_process()
        summary = report.summary if report and report.signalled else ""
        self.fire(Trigger.HALT, f"{reason} ({summary})" if summary else reason)

    async def stop_process(self) -> StopReport | None:
        """Stop its process group without a change of state (a restart clears the way); None if it never ran."""
        self.stopping = True
        process = self.process
        if process is None or self.service.external:
            return None
        spec = self.service.spec
        if self.gateway is not None:
            await self.gateway.ask_to_stop(spec.stop_grace)  # IBC's STOP first: a clean logout
        report = await stop_group(process.target, stop_signal=signal.Signals[spec.stop_signal], grace=spec.stop_grace)
        await self.settle_exit()
        return report

    async def kill_now(self, reason: str) -> None:
        """The second signal: SIGKILL its group at once, unless it is already stopped (its record stays)."""
        if self.service.external or transition(self.state, Trigger.KILLED) is None:
            return
        self.stopping = True
        report = await kill_group_now(self.process.target) if self.process is not None else None
        await self.settle_exit()
        summary = report.summary if report is not None and report.signalled else "nothing was running"
        self.fire(Trigger.KILLED, f"{reason}: {summary}")

    async def settle_exit(self) -> None:
        """Let the exit watcher record how the process ended (it is dead or dying)."""
        watcher = self.exit_watcher
        if watcher is not None and not watcher.done():
            await asyncio.wait([watcher], timeout=EXIT_SETTLE_TIMEOUT)

    # -- probes and logs ---------------------------------------------------------------------

    async def check_health(self) -> ProbeResult:
        """Its health probe once: a Gateway's monitor verdict, else the configured probe."""
        if self.gateway is not None:
            return await self.gateway.verdict()
        return await run_probe(self.service.health, self.probe_context())

    def probe_context(self) -> ProbeContext:
        return ProbeContext(service_name=self.name, log_path=self.log_path, log_start_offset=self.log_offset,
                            notify=self.notify, cwd=self.service.cwd, env=dict(self.service.env), clock=self.clock,
                            command=self.service.probe_argv)

    def remember_probe(self, result: ProbeResult) -> None:
        """Keep the latest probe outcome in memory (status asks the supervisor; run.json gets it with the next save)."""
        self.record.probe = {"ok": result.ok, "detail": self.journal.mask(result.detail), "latency": round(result.latency, 6),
                             "at": self.clock.now().timestamp()}
        self.journal.changes.bump()  # not saved (run.json is written on state changes), but shown live

    def check_log_writer(self) -> None:
        """Read its log writer's status record; on a change, emit `log-disk-full` or `log-disk-writable`.

        Called on the watcher's ticks (no wakeup of its own): a full log disk never stops a
        service, so this is the only way anyone hears of it while it lasts.
        """
        status = self.process.log_status() if self.process is not None else None
        if status is None:
            return
        failing = describe_failure(status)
        if failing is not None and self.log_failure is None:
            self.log_failure = failing
            self.journal.emit(self.name, "log-disk-full", f"{failing}: {status.get('file') or self.log_path}",
                              error=status.get("error"))
        elif failing is None and self.log_failure is not None and status.get("state") == WRITING:
            self.log_failure = None
            self.journal.emit(self.name, "log-disk-writable", "its log is written again",
                              lost=status.get("lost") or 0)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        if self.log_path is None or not self.log_path.exists():
            return []
        from launcher.output.logs import last_lines

        return last_lines(self.log_path, lines)

    def close(self) -> None:
        """Release the notify socket and the exit watcher; safe to call twice."""
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        if self.exit_watcher is not None and not self.exit_watcher.done():
            self.exit_watcher.cancel()

"""The supervisor: bring the stack up gated on health, keep it running, take it down.

One asyncio loop owns everything. Signal handlers only record (first signal:
stop gracefully; second: kill now); the loop acts on what they recorded.
Every change of a service's state is written to the run state atomically and
every event to the timeline, so `status`, `events` and `down` work from any
shell, even after this process was SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from typing import Awaitable, Callable

from stackkit.clock import Clock, SystemClock
from launcher.errors import Interrupted, ServiceFailed
from launcher.process.identity import identify
from launcher.process.spawn import Spawner, SubprocessSpawner
from launcher.stack.resolved import ResolvedStack
from launcher.state.events import Event, EventLog
from launcher.state.paths import StatePaths, new_run_id
from launcher.state.store import RunState, StackLock, read_run_state, write_run_state
from launcher.supervise import lifecycle
from launcher.supervise.gate import wait_until_healthy
from launcher.supervise.reporter import Reporter
from launcher.supervise.control import serve_control
from launcher.supervise.runtime import ServiceRuntime
from launcher.supervise.teardown import stop_escaped, stop_recorded_services
from launcher.supervise.watch import ensure_watched, supervise_until_stopped

Preflight = Callable[["Supervisor"], Awaitable[None]]
LOG_TAIL_LINES = 20
PROBE_RESULTS_SAVE_INTERVAL = 5.0  # an idle supervisor should not fsync run.json every second


class Supervisor:
    """Runs one stack. Use `await Supervisor(...).run()`; it always leaves nothing running."""

    def __init__(self, stack: ResolvedStack, paths: StatePaths, *, reporter: Reporter,
                 spawner: Spawner | None = None, clock: Clock | None = None,
                 detached: bool = False, preflight: Preflight | None = None):
        self.stack = stack
        self.paths = paths.ensure()
        self.reporter = reporter
        self.spawner = spawner or SubprocessSpawner()
        self.clock = clock or SystemClock()
        self.preflight = preflight
        self.run_id = new_run_id(self.clock.now(), os.getpid())
        self.run_token = secrets.token_hex(12)
        self.lock = StackLock(self.paths)
        self.events = EventLog(self.paths.events)
        self.runtimes = {name: ServiceRuntime(svc, None if svc.external else paths.run_log(name, self.run_id), self.clock)
                         for name, svc in stack.services.items()}
        me = identify(os.getpid())
        self.state = RunState(stack=stack.name, stack_file=str(stack.path), run_id=self.run_id,
                              symbols=list(stack.symbols), supervisor_pid=os.getpid(),
                              supervisor_create_time=me.create_time if me else None, detached=detached,
                              started_at=self.clock.now().timestamp(), stop_order=list(stack.stop_order),
                              run_token=self.run_token,
                              services={name: rt.record for name, rt in self.runtimes.items()})
        self.stop_requested = asyncio.Event()
        self.kill_requested = asyncio.Event()
        self.signals_received = 0
        self.stop_reason = ""
        self.failure: ServiceFailed | None = None  # set when a failed service takes the stack down
        self.listeners: list[Reporter] = []  # control clients following a restart they asked for
        self.watchers: dict[str, asyncio.Task] = {}  # one liveness watcher per service, after up
        self._closed = False
        self._saved_at = float("-inf")

    # -- signals: record only ------------------------------------------------------------

    def on_signal(self, signum: int) -> None:
        """Signal handler body: count, and set the event the main loop waits on."""
        self.signals_received += 1
        if self.signals_received == 1:
            self.stop_reason = f"received {signal.Signals(signum).name}"
            self.stop_requested.set()
        else:
            self.kill_requested.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_signal, signum)

    def request_stop(self, reason: str, failure: ServiceFailed | None = None) -> None:
        """Ask the main loop to take the stack down (used by policies such as on_failure: stop-stack)."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
            self.failure = failure
            self.stop_requested.set()

    # -- the whole life of a stack ---------------------------------------------------------

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start everything, call `on_ready`, supervise until asked to stop, stop everything.

        Raises ServiceFailed if the stack could not be brought up and Interrupted if
        a signal stopped it during start-up; in every case nothing is left running.
        """
        self.lock.acquire(self.stack.name)
        try:
            await self._stop_leftovers()
            self.emit("", "supervisor-started", f"run {self.run_id}", pid=os.getpid())
            self.save()
            if self.preflight is not None:
                await self.preflight(self)
            await self._start_or_stop()
            self.state.phase = "running"
            self.save()
            control = await serve_control(self)
            if on_ready is not None:
                on_ready()
            try:
                await supervise_until_stopped(self)
            finally:
                control.close()
            await self.stop_all(self.stop_reason or "stop requested")
            if self.failure is not None:
                raise self.failure
        finally:
            self.close()

    async def _stop_leftovers(self) -> None:
        """Stop whatever an earlier run of this stack left running (its supervisor was killed)."""
        previous = read_run_state(self.paths)
        if previous is None:
            return
        await stop_recorded_services(previous, lambda text: self.reporter.note(f"leftover of run {previous.run_id}: {text}"))

    async def _start_or_stop(self) -> None:
        starting = asyncio.ensure_future(self.start_all())
        stopping = asyncio.ensure_future(self.stop_requested.wait())
        try:
            await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await self.stop_all(self.stop_reason)
            raise Interrupted(f"interrupted while starting ({self.stop_reason}); everything started was stopped")
        failure = starting.exception()
        if failure is not None:
            await self.stop_all(f"start-up of {getattr(failure, 'service', 'the stack')} failed")
            raise failure

    async def start_all(self) -> None:
        """Start every service as soon as all its dependencies are healthy; fail fast on the first failure."""
        tasks = [asyncio.ensure_future(self._start_when_dependencies_healthy(name)) for name in self.stack.start_order]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _start_when_dependencies_healthy(self, name: str) -> None:
        for dependency in self.stack.services[name].depends_on:
            await self.runtimes[dependency].healthy.wait()
        runtime = self.runtimes[name]
        try:
            await self.start_service(name)
        except ServiceFailed as failure:
            failure.log_tail = self.log_tail(name)
            runtime.record.state = "failed"
            runtime.record.reason = failure.detail
            self.emit(name, "gave-up", failure.detail)
            self.save()
            raise

    async def start_service(self, name: str) -> None:
        """Start one service (or, if external, just wait for it) and gate on its probe."""
        runtime = self.runtimes[name]
        if not runtime.service.external:
            self.emit(name, "starting", " ".join(runtime.service.argv or ()))
            await lifecycle.start_process(runtime, self.spawner, self.paths, self.run_token)
            self.emit(name, "started", f"pid {runtime.record.pid}", pid=runtime.record.pid)
        else:
            runtime.started_at = self.clock.monotonic()
            self.emit(name, "starting", "external: waiting for its probe to pass")
        self.save()
        result = await wait_until_healthy(runtime, self.reporter)
        runtime.mark_healthy()
        runtime.record.state = "external" if runtime.service.external else "healthy"
        self.emit(name, "healthy", result.detail, seconds_to_healthy=round(runtime.seconds_since_start(), 3))
        self.save()

    async def stop_all(self, reason: str) -> None:
        """Stop every running service, dependents first; a second signal switches to SIGKILL now."""
        self.state.phase = "stopping"
        self.save()
        graceful = asyncio.ensure_future(self._stop_in_reverse_order(reason))
        kill = asyncio.ensure_future(self.kill_requested.wait())
        try:
            await asyncio.wait([graceful, kill], return_when=asyncio.FIRST_COMPLETED)
        finally:
            kill.cancel()
        if not graceful.done():
            graceful.cancel()
            await asyncio.gather(graceful, return_exceptions=True)
            self.reporter.note("second interrupt: killing every service now")
            await asyncio.gather(*(lifecycle.kill_process_now(rt) for rt in self.runtimes.values()))
            for runtime in self.runtimes.values():
                self._mark_stopped(runtime, "killed on second interrupt")
        self.state.phase = "stopped"
        self.save()

    async def _stop_in_reverse_order(self, reason: str) -> None:
        stopped: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.runtimes}

        async def stop_after_dependents(name: str) -> None:
            for dependent in self.stack.dependents_of(name):
                await stopped[dependent].wait()
            try:
                await self.stop_service(name, reason)
            finally:
                stopped[name].set()

        await asyncio.gather(*(stop_after_dependents(name) for name in self.stack.stop_order))
        await stop_escaped(self.run_token, self.reporter.note)

    async def stop_service(self, name: str, reason: str) -> None:
        runtime = self.runtimes[name]
        if not runtime.running:
            runtime.stopping = True
            self._mark_stopped(runtime, None)
            return
        self.emit(name, "stopping", reason)
        report = await lifecycle.stop_process(runtime)
        self._mark_stopped(runtime, report.summary if report else None)

    def _mark_stopped(self, runtime: ServiceRuntime, summary: str | None) -> None:
        if runtime.service.external:
            runtime.record.state = "external"
            return
        was_running = runtime.record.state not in ("stopped", "failed")
        runtime.mark_not_healthy()
        if runtime.record.state != "failed":
            runtime.record.state = "stopped"
        if summary is not None or was_running:
            self.emit(runtime.name, "stopped", summary or runtime.record.exit or "")
        self.save()

    async def restart_on_request(self, name: str, *, with_dependents: bool) -> None:
        """`robostack restart`: stop the service (and dependents), start it again, gate, restart dependents."""
        runtime = self.runtimes[name]
        if runtime.service.external:
            raise ServiceFailed(name, "is external: robostack never starts or stops it")
        dependents = [self.runtimes[d] for d in self.stack.dependents_of(name) if not self.stack.services[d].external
                      and (with_dependents or self.stack.services[d].spec.on_dependency_restart == "restart")]
        async with contextlib.AsyncExitStack() as held:
            for each in (runtime, *dependents):  # start order, like every other lock holder
                await held.enter_async_context(each.busy)
            for dependent in reversed(dependents):
                await self.stop_service(dependent.name, f"{name} is restarting")
            await self.stop_service(name, "restart requested")
            runtime.record.restarts += 1
            self.emit(name, "restarting", "requested by `robostack restart`", attempt=runtime.record.restarts)
            for each in (runtime, *dependents):
                try:
                    await self.start_service(each.name)
                except ServiceFailed as failure:
                    each.record.state, each.record.reason = "failed", failure.detail
                    self.emit(each.name, "gave-up", failure.detail)
                    self.save()
                    raise
                ensure_watched(self, each)
            self.emit(name, "restarted", "requested by `robostack restart`")

    # -- bookkeeping --------------------------------------------------------------------

    def emit(self, service: str, event: str, reason: str = "", **data: object) -> Event:
        """Record an event in the timeline, on the service's record, and tell the reporter."""
        entry = Event(self.clock.now(), service, event, reason, dict(data))
        self.events.append(entry)
        if service in self.runtimes:
            self.runtimes[service].record.last_event = {"time": entry.time.timestamp(), "event": event, "reason": reason}
        for reporter in (self.reporter, *self.listeners):
            reporter.event(entry)
        return entry

    def save(self) -> None:
        """Write the run state now (every change of state goes through here)."""
        write_run_state(self.paths, self.state)
        self._saved_at = self.clock.monotonic()

    def save_probe_results(self) -> None:
        """Write routine probe results at most every few seconds: status shows them, nothing depends on them."""
        if self.clock.monotonic() - self._saved_at >= PROBE_RESULTS_SAVE_INTERVAL:
            self.save()

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> list[str]:
        path = self.runtimes[name].log_path
        if path is None or not path.exists():
            return []
        from launcher.output.logs import last_lines

        return last_lines(path, lines)

    def close(self) -> None:
        """Release the lock, sockets and files; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for runtime in self.runtimes.values():
            lifecycle.close_runtime(runtime)
        try:
            self.emit("", "supervisor-stopped", self.stop_reason)
            self.save()
        finally:
            self.events.close()
            self.lock.release()

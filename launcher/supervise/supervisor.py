"""The supervisor: bring the stack up gated on health, keep it running, take it down, and always exit.

One asyncio loop owns everything. Signal handlers only record; the loop acts:

* the first SIGINT, SIGTERM or SIGHUP starts one graceful stop, dependents first;
* a later SIGINT or SIGTERM kills what still runs (services already stopped keep
  their record); a later SIGHUP is the same hangup again and changes nothing (a
  closed terminal sends one to the foreground group and the shell forwards another).

Stopping is a one-way door: once it begins (a signal, `on_failure: stop-stack`,
`robostack down`), nothing is started or restarted again, control requests that
would change anything are refused, watchers and restarts in flight are cancelled
and awaited, every service is stopped, ``supervisor-stopped`` is written, and
:meth:`Supervisor.run` returns (the process then exits).

The run state is written through the journal (:mod:`launcher.supervise.journal`)
on every change of state, so `status`, `events` and `down` work from any shell,
even after this process was SIGKILLed; while it lives, the supervisor also answers
`status` from memory over its control socket.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from stackkit.clock import Clock, SystemClock
from launcher.errors import Interrupted, RobostackError, ServiceFailed, StackStopping, UsageError
from launcher.logwriter.policy import rotation_policy
from launcher.process.identity import identify
from launcher.process.spawn import Spawner, SubprocessSpawner
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.events import EventLog
from launcher.state.paths import StatePaths, new_run_id
from launcher.state.store import RunState, ServiceRecord, StackLock, read_run_state
from launcher.supervise.control import ControlServer
from launcher.supervise.journal import Journal, Output
from launcher.supervise.lifecycle import ServiceLifecycle
from launcher.supervise.primitives import StopDoor, run_unless
from launcher.supervise.services import Services
from launcher.supervise.teardown import stop_escaped, stop_recorded_services
from launcher.supervise.unattended import Unattended

if TYPE_CHECKING:
    from launcher.web.server import HttpServer

Preflight = Callable[["Supervisor"], Awaitable[None]]
HTTP_CLOSE_GRACE = 1.0  # seconds open pages get to receive the final state before the server closes


class Supervisor:
    """Runs one stack. Use `await Supervisor(...).run()`; it always leaves nothing running."""

    def __init__(self, stack: ResolvedStack, paths: StatePaths, *, outputs: list[Output],
                 spawner: Spawner | None = None, clock: Clock | None = None,
                 detached: bool = False, preflight: Preflight | None = None):
        self.stack = stack
        self.paths = paths.ensure()
        self.clock = clock or SystemClock()
        self.preflight = preflight
        self.run_id = new_run_id(self.clock.now(), os.getpid())
        self.run_token = secrets.token_hex(12)
        self.lock = StackLock(self.paths)
        self.door = StopDoor()
        me = identify(os.getpid())
        records = {name: _new_record(service, self.paths, self.run_id) for name, service in stack.services.items()}
        self.state = RunState(stack=stack.name, stack_file=str(stack.path), run_id=self.run_id,
                              symbols=list(stack.symbols), supervisor_pid=os.getpid(),
                              supervisor_create_time=me.create_time if me else None, detached=detached,
                              started_at=self.clock.now().timestamp(), stop_order=list(stack.stop_order),
                              run_token=self.run_token, services=records)
        self.unattended = Unattended(stack, clock=self.clock, log=lambda text: self.journal.note(f"alerts: {text}"),
                                     states=lambda: {name: record.state for name, record in records.items()})
        outputs = [*outputs, *(Output(name, reporter, disposable=False) for name, reporter in self.unattended.outputs())]
        rotation = rotation_policy(stack.logs)  # the supervisor's own files rotate like a service's default
        self.journal = Journal(self.paths, self.state, self.clock, outputs, Redactor.for_stack(stack),
                               timeline=EventLog(self.paths.events, max_size=rotation.max_size, keep=rotation.keep))
        spawner = spawner or SubprocessSpawner()
        lifecycles = {name: ServiceLifecycle(service, records[name], journal=self.journal, clock=self.clock,
                                             spawner=spawner, paths=self.paths, run_token=self.run_token,
                                             door=self.door, log_policy=stack.log_policy(name))
                      for name, service in stack.services.items()}
        self.services = Services(stack, lifecycles, clock=self.clock, door=self.door, request_stop=self.request_stop)
        self.stop_requested = asyncio.Event()
        self.kill_requested = asyncio.Event()
        self.stop_signal: str | None = None  # the signal that stopped the stack, if one did
        self.failure: ServiceFailed | None = None  # set when a failed service takes the stack down
        self.ready = False
        self._control = ControlServer(self)
        self._http: HttpServer | None = None  # the dashboard and HTTP API (launcher.web), when the stack file has `http:`
        self._stopped = False
        self._closed = False

    @property
    def stop_reason(self) -> str:
        return self.door.reason or ""

    # -- signals: record only ----------------------------------------------------------------

    def on_signal(self, signum: int) -> None:
        """Signal handler body: the first signal stops, a later SIGINT/SIGTERM kills, a later SIGHUP is ignored."""
        name = signal.Signals(signum).name
        if not self.door.closed:
            self.stop_signal = name
            self.request_stop(f"received {name}")
        elif signum != signal.SIGHUP:
            self.kill_requested.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_signal, signum)

    def request_stop(self, reason: str, failure: ServiceFailed | None = None) -> None:
        """Close the door and wake the main loop (a signal, `on_failure: stop-stack`, a failed start-up)."""
        if self.door.close(reason):
            self.failure = failure
            self.stop_requested.set()

    # -- the whole life of a stack -----------------------------------------------------------

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start everything, call `on_ready`, supervise until asked to stop, stop everything.

        Raises ServiceFailed (or PreflightRefused) if the stack could not be brought up,
        Interrupted if a signal stopped it during start-up, and the failure that took
        it down with `on_failure: stop-stack`; in every case nothing is left running.
        """
        self.lock.acquire(self.stack.name)
        try:
            await self._control.start()
        except BaseException:
            self.lock.release()  # nothing was started: no stop to run, no state to write
            raise
        try:
            self.unattended.start()  # closed by _close, whatever happens from here on
            await self._serve_http()  # a port in use refuses here: the finally below closes the control socket
            failed_start = await self._bring_up_unless_stopped(on_ready)
            if failed_start is None and self.ready:
                await self.stop_requested.wait()
            await self._stop_everything()
            if failed_start is not None:
                raise self._masked(failed_start)
            if self.failure is not None:
                raise self._masked(self.failure)
            if not self.ready:
                raise Interrupted(f"interrupted while starting ({self.stop_reason}); everything started was stopped")
        finally:
            if not self._stopped:  # cancelled, or a bug: still leave nothing running
                self.request_stop("the supervisor is closing")
                await self._stop_everything()
            await self._close()

    async def _bring_up_unless_stopped(self, on_ready: Callable[[], None] | None) -> BaseException | None:
        """Bring the stack up, abandoning that at once if a stop is requested; the start-up's own failure, if any."""
        bring_up = await run_unless(self._bring_up(on_ready), self.stop_requested)
        if self.stop_requested.is_set() or bring_up.cancelled() or bring_up.exception() is None:
            return None  # up, or interrupted (whatever the cancelled start-up raised on its way out)
        error = bring_up.exception()
        failed = error if isinstance(error, ServiceFailed) else None
        self.request_stop(f"start-up of {failed.service if failed else 'the stack'} failed", failed)
        return error

    async def _bring_up(self, on_ready: Callable[[], None] | None) -> None:
        await self._stop_leftovers()
        self.journal.saving = True  # from here on run.json is ours
        self.journal.emit("", "supervisor-started", f"run {self.run_id}", pid=os.getpid())
        self.journal.save()
        if self.preflight is not None:
            await self.preflight(self)
        await self.services.start_all()
        self.state.phase = "running"
        self.journal.save()
        self.ready = True
        self.unattended.ready()
        if on_ready is not None:
            on_ready()
        self.services.watch_all()

    async def _serve_http(self) -> None:
        """Serve the dashboard and the read-only HTTP API before anything starts: a port in use refuses `up`."""
        if self.stack.http is None:
            return
        from launcher.web.live import serve_supervisor  # the web package only for stacks that serve it

        self._http = await serve_supervisor(self)
        self.state.http_url = self._http.url
        self.journal.note(f"dashboard and HTTP API: {self._http.url}")

    async def _stop_leftovers(self) -> None:
        """Stop whatever an earlier run of this stack left running (its supervisor was killed)."""
        previous = read_run_state(self.paths)
        if previous is None:
            return
        await stop_recorded_services(previous, lambda text: self.journal.note(f"leftover of run {previous.run_id}: {text}"))

    async def _stop_everything(self) -> None:
        """Cancel what is in flight, stop every service dependents first (kill on a second signal)."""
        self._stopped = True
        self.unattended.stopping(self.stop_reason)
        self.state.phase = "stopping"
        self.journal.save()
        unfinished = await self.services.cancel_work()
        if unfinished:
            self.journal.note(f"still running after being cancelled: {', '.join(unfinished)}; stopping anyway")
        graceful = await run_unless(self.services.stop_all(self.stop_reason), self.kill_requested)
        failed = None if graceful.cancelled() else graceful.exception()
        if graceful.cancelled() or failed is not None:
            self.journal.note("second signal: killing every service that still runs now" if failed is None
                              else f"the graceful stop failed ({failed!r}); killing every service that still runs")
            await self.services.kill_all("killed on a second signal" if failed is None else "killed after a failed stop")
        await stop_escaped(self.run_token, self.journal.note)
        self.state.phase = "stopped"
        self.journal.save()

    def _masked(self, error: BaseException) -> BaseException:
        """The error as it leaves the supervisor (to a terminal, the `up --detach` pipe): secrets masked."""
        if isinstance(error, ServiceFailed):
            masked = ServiceFailed(error.service, self.journal.mask(error.detail),
                                   log_tail=[self.journal.mask(line) for line in error.log_tail])
            masked.__cause__ = error.__cause__
            return masked
        if isinstance(error, RobostackError) and len(error.args) == 1 and isinstance(error.args[0], str):
            error.args = (self.journal.mask(error.args[0]),)
        return error

    # -- control requests (the control socket calls these) -------------------------------------

    async def restart_requested(self, name: str, with_dependents: bool) -> None:
        """`robostack restart NAME`: refused while starting or stopping; raises if NAME did not come back."""
        await self.change_requested("restart", [name], with_dependents)

    async def change_requested(self, command: str, names: list[str], with_dependents: bool) -> str:
        """`robostack restart|stop|start NAME...`: refused while starting or stopping; raises if one did not
        end as asked. Several services are taken in dependency order (stops dependents first)."""
        self._known(names)
        if self.door.closed:
            raise StackStopping(f"refused: the stack is stopping ({self.door.reason}); nothing is {_DONE[command]}")
        if not self.ready:
            raise ServiceFailed(names[0], "the stack is still starting; try again once it is up")
        order = self.stack.stop_order if command == "stop" else self.stack.start_order
        done = []
        for name in sorted(set(names), key=order.index):
            if command == "restart":
                await self.services.restart_requested(name, with_dependents)
                done.append(f"{name} {_DONE[command]}")
            elif command == "stop":
                await self.services.stop_requested(name, with_dependents)
                done.append(f"{name} halted")
            elif await self.services.start_requested(name, with_dependents):
                done.append(f"{name} {_DONE[command]}")
            else:
                done.append(f"{name} was already {self.services[name].state.value}")
        return "; ".join(done)

    async def wait_requested(self, names: list[str], timeout: float | None) -> str | None:
        """`robostack wait [NAME...]`: None once they are all up, else why not (also while still starting)."""
        self._known(names)
        if self.door.closed:
            raise StackStopping(f"the stack is stopping ({self.door.reason})")
        return await self.services.wait_until_up(names or list(self.stack.start_order), timeout)

    def _known(self, names: list[str]) -> None:
        unknown = [name for name in names if name not in self.services]
        if unknown:
            known = ", ".join(self.stack.services)
            raise UsageError(f"unknown service {unknown[0]!r}; this stack has: {known}")

    def status_reply(self) -> dict[str, Any]:
        """What `status` and `doctor` ask a live supervisor: its state in memory, and whether it can save it."""
        return {"pid": os.getpid(), "state": self.state.to_json(), "write_error": self.journal.write_error,
                "stopping": self.door.reason}

    # -- closing ------------------------------------------------------------------------------

    async def _close(self) -> None:
        """Close the control socket, release sockets and the lock, write `supervisor-stopped`; safe twice."""
        if self._closed:
            return
        self._closed = True
        await self._control.close()
        for lifecycle in self.services.in_start_order():
            lifecycle.close()
        try:
            if self.journal.saving:  # it announced itself (`supervisor-started`): a refusal before that writes nothing
                self.journal.emit("", "supervisor-stopped", self.stop_reason)
                self.journal.save()
            await self.unattended.aclose()
            if self._http is not None:  # last: open pages have seen every service stop
                await self._http.close(grace=HTTP_CLOSE_GRACE)
        finally:
            self.journal.close()
            self.lock.release()


_DONE = {"restart": "restarted", "stop": "stopped", "start": "started"}


def _new_record(service, paths: StatePaths, run_id: str) -> ServiceRecord:
    log = None if service.external else str(paths.run_log(service.name, run_id))
    ibc = service.spec.ibc
    return ServiceRecord(name=service.name, log=log, external=service.external, ports=service.ports,
                         stop_signal=service.spec.stop_signal, stop_grace=service.spec.stop_grace,
                         ibc_address=f"{ibc.host}:{ibc.command_port}" if ibc is not None else None)

"""The stack's services and the rules between them: start order, the one restart path, settling, stopping.

:class:`Services` orchestrates the per-service lifecycles; it never changes a state
itself, it fires triggers on them. Three rules live here and nowhere else:

* **One restart path** (:meth:`Services.restart`), for the watcher's policy, for
  `robostack restart`, and for blocked dependents coming back: dependents that must
  follow are stopped first (reverse order), the service is stopped, the backoff is
  waited out (status shows when the next try is), the service is started and gated,
  then the dependents are started again. A start that fails is judged by the policy,
  the same way whoever asked for the restart.
* **Settling**: a service that gave up, failed, or was left stopped by its policy
  blocks every service that depends on it (``blocked``, with an event naming the
  cause), and `on_failure: stop-stack` of the service or of a blocked dependent stops
  the stack.
* **The stop door**: once the stack stops, every start is refused
  (:class:`~launcher.supervise.primitives.StopDoor`), watchers and restarts in flight
  are cancelled and awaited, and everything is stopped dependents first.

Work on a service is serialised by its `busy` lock, always taken in start order.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Callable, Coroutine, Iterable

from stackkit.clock import Clock
from launcher.errors import ServiceFailed, StackStopping
from launcher.stack.resolved import ResolvedStack
from launcher.state.transitions import ServiceState, Trigger
from launcher.supervise.lifecycle import ServiceLifecycle
from launcher.supervise.policy import Decision, decide_after_failed_start
from launcher.supervise.primitives import StopDoor
from launcher.supervise.watch import watch_service

CANCEL_TIMEOUT = 10.0  # for watchers and restarts to end once cancelled (they only wait on cancellable things)
REQUESTED = "requested by `robostack restart`"
STOP_REQUESTED = "stopped by `robostack stop`"
START_REQUESTED = "requested by `robostack start`"
WAIT_RECHECK = 0.5  # `robostack wait` also looks again this often (a service left stopped changes no state)

StopRequest = Callable[[str, ServiceFailed], None]


class Services:
    """Every service's lifecycle, in start order, and what happens between them."""

    def __init__(self, stack: ResolvedStack, lifecycles: dict[str, ServiceLifecycle], *, clock: Clock,
                 door: StopDoor, request_stop: StopRequest):
        self.stack = stack
        self.clock = clock
        self.door = door
        self._lifecycles = lifecycles
        self._request_stop = request_stop
        self._position = {name: index for index, name in enumerate(stack.start_order)}
        self.watchers: dict[str, asyncio.Task[None]] = {}
        self.work: set[asyncio.Task[object]] = set()

    def __getitem__(self, name: str) -> ServiceLifecycle:
        return self._lifecycles[name]

    def __contains__(self, name: object) -> bool:
        return name in self._lifecycles

    def in_start_order(self) -> list[ServiceLifecycle]:
        return [self._lifecycles[name] for name in self.stack.start_order]

    @property
    def stopping(self) -> bool:
        return self.door.closed

    def dependencies(self, lifecycle: ServiceLifecycle) -> list[ServiceLifecycle]:
        return [self._lifecycles[name] for name in lifecycle.service.depends_on]

    def dependents(self, lifecycle: ServiceLifecycle) -> list[ServiceLifecycle]:
        """Services depending on it, directly or not, in start order."""
        return [self._lifecycles[name] for name in self.stack.dependents_of(lifecycle.name)]

    # -- start-up ---------------------------------------------------------------------------------

    async def start_all(self) -> None:
        """Start every service once its dependencies are up, in parallel where they allow; fail fast."""
        tasks = [asyncio.ensure_future(self._start_when_dependencies_up(each)) for each in self.in_start_order()]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _start_when_dependencies_up(self, lifecycle: ServiceLifecycle) -> None:
        for dependency in self.dependencies(lifecycle):
            await dependency.changes.wait_until(lambda dependency=dependency: dependency.up)
        try:
            await lifecycle.start()
        except ServiceFailed as failure:
            failure.log_tail = lifecycle.log_tail()
            lifecycle.fire(Trigger.GIVE_UP, failure.detail)
            raise

    # -- supervision: watchers and tracked work ---------------------------------------------------

    def watch_all(self) -> None:
        for lifecycle in self.in_start_order():
            self.watch(lifecycle)

    def watch(self, lifecycle: ServiceLifecycle) -> None:
        """Start its watcher unless one runs (it ends when the service settles; a restart brings it back)."""
        watcher = self.watchers.get(lifecycle.name)
        if self.stopping or (watcher is not None and not watcher.done()):
            return
        watcher = self.watchers[lifecycle.name] = asyncio.ensure_future(watch_service(self, lifecycle))
        watcher.add_done_callback(lambda task: _say_if_it_crashed(lifecycle, task))

    def track(self, work: Coroutine[object, object, object]) -> asyncio.Task[object]:
        """Run `work` as a task the stop cancels (a restart someone asked for)."""
        task = asyncio.ensure_future(work)
        self.work.add(task)
        task.add_done_callback(self.work.discard)
        return task

    async def cancel_work(self) -> list[str]:
        """Cancel every watcher and restart in flight and wait for them; the names of any that did not end."""
        tasks = [task for task in (*self.watchers.values(), *self.work) if not task.done()]
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=CANCEL_TIMEOUT)
        unfinished = [f"{name}'s watcher" for name, task in self.watchers.items() if task in pending]
        return unfinished + ["a restart"] * len(pending & self.work)

    # -- the one restart path ---------------------------------------------------------------------

    async def restart_requested(self, name: str, with_dependents: bool) -> None:
        """`robostack restart NAME`: run the restart as tracked work; raise if it did not bring NAME back."""
        lifecycle = self[name]
        soft = lifecycle.gateway is not None and lifecycle.gateway.can_restart_softly  # IBC: the login is kept
        await self._requested(name, self.restart(lifecycle, REQUESTED, with_dependents=with_dependents,
                                                 requested=True, soft=soft), "restart")

    async def stop_requested(self, name: str, with_dependents: bool) -> None:
        """`robostack stop NAME`: halt it, and the dependents a restart of it would take along (stopped first).

        A halted service is never restarted (by its policy or a dependency's restart) until
        `robostack start` (or `restart`) brings it back; dependents that wait for it show
        ``waiting`` meanwhile.
        """
        lifecycle = self[name]
        if lifecycle.service.external:
            raise ServiceFailed(name, "is external: robostack never starts or stops it")
        await self._requested(name, self._halt(lifecycle, with_dependents), "stop")

    async def _halt(self, lifecycle: ServiceLifecycle, with_dependents: bool) -> bool:
        following = self._following(lifecycle, with_dependents)
        async with self._holding([lifecycle, *following]):
            for dependent in reversed(following):
                if dependent.state is not ServiceState.HALTED:
                    dependent.halted_with = lifecycle.name
                    await dependent.halt(f"{lifecycle.name} was {STOP_REQUESTED}")
            if lifecycle.state is not ServiceState.HALTED:
                lifecycle.halted_with = None
                await lifecycle.halt(STOP_REQUESTED)
        return lifecycle.state is ServiceState.HALTED

    async def start_requested(self, name: str, with_dependents: bool) -> bool:
        """`robostack start NAME`: bring a halted (or failed, stopped, blocked) service back through the one
        restart path, with the dependents halted along with it; False if it was running already."""
        lifecycle = self[name]
        if lifecycle.state not in (ServiceState.HALTED, ServiceState.STOPPED, ServiceState.FAILED,
                                   ServiceState.BLOCKED):
            return False
        await self._requested(name, self.restart(lifecycle, START_REQUESTED, with_dependents=with_dependents,
                                                 requested=True), "start")
        return True

    async def _requested(self, name: str, work: Coroutine[object, object, bool], verb: str) -> None:
        """Run a change someone asked for as tracked work; raise if it did not do what was asked."""
        if self.door.closed:
            work.close()
            raise StackStopping(f"{verb} of {name} refused: the stack is stopping ({self.door.reason})")
        task = self.track(work)
        await asyncio.wait([task])
        if task.cancelled():
            raise StackStopping(f"{verb} of {name} abandoned: the stack is stopping ({self.door.reason})")
        if not task.result():
            raise ServiceFailed(name, self[name].record.reason or "did not come back")

    async def wait_until_up(self, names: list[str], timeout: float | None) -> str | None:
        """`robostack wait`: None once every named service is up; else why not (settled, or the time ran out)."""
        lifecycles = [self[name] for name in names]
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            seen = [lifecycle.changes.count for lifecycle in lifecycles]
            if all(lifecycle.up for lifecycle in lifecycles):
                return None
            settled = [each for each in lifecycles if _settled(each)]
            if settled:
                return "; ".join(_describe(each) for each in settled)
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                pending = [each for each in lifecycles if not each.up]
                return f"not up within {timeout:g}s: " + "; ".join(_describe(each) for each in pending)
            waits = [asyncio.ensure_future(each.changes.wait(count, WAIT_RECHECK))
                     for each, count in zip(lifecycles, seen)]
            try:
                await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()

    async def restart(self, lifecycle: ServiceLifecycle, reason: str, *, delay: float = 0.0,
                      with_dependents: bool = False, requested: bool = False, soft: bool = False) -> bool:
        """Restart `lifecycle` (and the dependents that must follow); True if it came back up.

        `soft`: a Gateway's restart through IBC (its process and login kept, no second
        factor) while it can; dependents then follow only if asked or blocked (they
        reconnect, as after the Gateway's own daily restart). A soft restart that fails
        is followed by a hard one, which for a Gateway is a new login: refused once its
        login budget is spent (it gives up instead).
        """
        if lifecycle.service.external:
            raise ServiceFailed(lifecycle.name, "is external: robostack never starts or stops it")
        gateway = lifecycle.gateway
        soft = soft and gateway is not None and gateway.can_restart_softly
        following = self._following(lifecycle, with_dependents, soft)
        async with self._holding([lifecycle, *following]):
            while True:
                self.door.check(lifecycle.name)
                resuming = lifecycle.state is ServiceState.HALTED  # `robostack start`: a start, not a restart
                if not requested:  # only the policy's own restarts count towards the crash-loop limit
                    lifecycle.history.record(self.clock.monotonic(), lifecycle.service.spec.max_restarts.window)
                if not resuming:
                    lifecycle.record.restarts += 1
                    lifecycle.fire(Trigger.BACKOFF, reason, delay=round(delay, 3), attempt=lifecycle.record.restarts)
                for dependent in reversed(following):
                    await dependent.stop(f"{lifecycle.name} is restarting")
                # The budget stops loops, not people: `robostack restart` (a person, with the phone) may log in.
                refusal = None if soft or requested or gateway is None else gateway.budget_refusal()
                if refusal is not None:
                    await self._settle(lifecycle, Decision("give-up", reason=f"{reason}; {refusal}"))
                    return False
                began = self.clock.monotonic()
                try:
                    if soft:
                        await gateway.restart_softly()
                    else:
                        await lifecycle.stop_process()
                        lifecycle.next_try_in(delay)
                        await self.clock.sleep(delay)
                        began = self.clock.monotonic()
                        await lifecycle.start()
                except ServiceFailed as failure:
                    decision = decide_after_failed_start(lifecycle.service.spec, reason=failure.detail,
                                                         history=lifecycle.history, now=self.clock.monotonic())
                    if decision.action != "restart":
                        await self._settle(lifecycle, decision)
                        return False
                    reason, delay, requested, soft = decision.reason, decision.delay, False, False
                    continue
                if not resuming:
                    lifecycle.fire(Trigger.RESTARTED, reason, seconds=round(self.clock.monotonic() - began, 3))
                break
            for dependent in following:
                await self._start_again(dependent)
        for each in (lifecycle, *following):
            self.watch(each)
        return True

    def _following(self, lifecycle: ServiceLifecycle, with_dependents: bool,
                   soft: bool = False) -> list[ServiceLifecycle]:
        """Dependents restarted with it: asked for, `on_dependency_restart: restart` (not for a soft
        restart: the process lives on), or blocked by it."""
        return [dependent for dependent in self.dependents(lifecycle) if not dependent.service.external and (
            with_dependents or (dependent.service.spec.on_dependency_restart == "restart" and not soft)
            or dependent.state is ServiceState.BLOCKED
            or (dependent.state is ServiceState.HALTED and dependent.halted_with == lifecycle.name))]

    async def _start_again(self, dependent: ServiceLifecycle) -> None:
        try:
            await dependent.start()
        except ServiceFailed as failure:
            decision = decide_after_failed_start(dependent.service.spec, reason=failure.detail,
                                                 history=dependent.history, now=self.clock.monotonic())
            await self.apply(dependent, decision)

    async def apply(self, lifecycle: ServiceLifecycle, decision: Decision) -> None:
        """Carry out a policy decision about a service that exited or turned unhealthy."""
        if decision.action == "restart":
            await self.restart(lifecycle, decision.reason, delay=decision.delay, soft=decision.soft)
        elif decision.action in ("give-up", "leave"):
            await self._settle(lifecycle, decision)

    # -- settling ---------------------------------------------------------------------------------

    async def _settle(self, lifecycle: ServiceLifecycle, decision: Decision) -> None:
        """It will not come back by itself: fail it (unless it just exited cleanly), block its dependents."""
        clean = lifecycle.state is ServiceState.STOPPED and lifecycle.process is not None \
            and lifecycle.process.returncode == 0
        if clean:
            cause = f"{lifecycle.name} exited and is not restarted: {decision.reason}"
        else:
            await lifecycle.stop_process()
            gave_up = decision.action == "give-up"
            lifecycle.fire(Trigger.GIVE_UP if gave_up else Trigger.FAIL, decision.reason,
                           restarts=lifecycle.record.restarts)
            cause = f"{lifecycle.name} {'gave up' if gave_up else 'failed'}: {decision.reason}"
        blocked = await self._block_dependents(lifecycle, cause)
        settled = [] if clean else [lifecycle]
        for each in (*settled, *blocked):
            if each.service.spec.on_failure == "stop-stack":
                self._request_stop(f"{each.name} {each.state.value} and its on_failure is stop-stack",
                                   ServiceFailed(each.name, each.record.reason or cause))
                return

    async def _block_dependents(self, lifecycle: ServiceLifecycle, cause: str) -> list[ServiceLifecycle]:
        blocked = []
        for dependent in self.dependents(lifecycle):
            if dependent.service.external:
                continue
            async with dependent.busy:
                if dependent.fire(Trigger.BLOCK, cause):
                    blocked.append(dependent)
        return blocked

    @contextlib.asynccontextmanager
    async def _holding(self, lifecycles: Iterable[ServiceLifecycle]) -> AsyncIterator[None]:
        """Hold the `busy` locks of these services, taken in start order like every other holder."""
        async with contextlib.AsyncExitStack() as held:
            for lifecycle in sorted(set(lifecycles), key=lambda each: self._position[each.name]):
                await held.enter_async_context(lifecycle.busy)
            yield

    # -- stopping ---------------------------------------------------------------------------------

    async def stop_all(self, reason: str) -> None:
        """Stop every service, each once all its dependents have stopped."""
        stopped = {name: asyncio.Event() for name in self._lifecycles}

        async def stop_after_dependents(lifecycle: ServiceLifecycle) -> None:
            for dependent in self.dependents(lifecycle):
                await stopped[dependent.name].wait()
            try:
                await lifecycle.stop(reason)
            finally:
                stopped[lifecycle.name].set()

        await asyncio.gather(*(stop_after_dependents(each) for each in self.in_start_order()))

    async def kill_all(self, reason: str) -> None:
        """SIGKILL whatever still runs; services already stopped keep their record."""
        await asyncio.gather(*(lifecycle.kill_now(reason) for lifecycle in self.in_start_order()))


def _settled(lifecycle: ServiceLifecycle) -> bool:
    """It will not come up by itself: failed, blocked, halted, or left stopped by its policy (nobody works on it)."""
    state = lifecycle.state
    if state in (ServiceState.FAILED, ServiceState.BLOCKED, ServiceState.HALTED):
        return True
    return state is ServiceState.STOPPED and lifecycle.process is not None and not lifecycle.running \
        and not lifecycle.busy.locked()  # it ran and ended, and nothing is about to restart it


def _describe(lifecycle: ServiceLifecycle) -> str:
    reason = lifecycle.record.reason
    return f"{lifecycle.name} is {lifecycle.state.value}" + (f": {reason}" if reason else "")


def _say_if_it_crashed(lifecycle: ServiceLifecycle, watcher: asyncio.Task[None]) -> None:
    """A watcher that died of a bug must not leave its service silently unwatched."""
    if not watcher.cancelled() and watcher.exception() is not None:
        lifecycle.journal.note(f"{lifecycle.name}: its watcher failed ({watcher.exception()!r}); "
                               f"it is no longer watched until it is restarted")

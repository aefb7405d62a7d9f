"""Small asyncio building blocks of the supervisor: the stop door, a per-service lock, a change counter,
and running something until an event interrupts it.

None of them polls: every wait blocks on a future until something happens or its
deadline passes, and cancellation always propagates (no ``asyncio.wait_for``, which
can swallow a cancellation that races its own timeout on Python 3.10 and 3.11).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable

from launcher.errors import StackStopping


class StopDoor:
    """Once the stack starts stopping, nothing starts again: a one-way door every start passes through."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.reason is not None

    def close(self, reason: str) -> bool:
        """Close the door (the first reason is kept); True if this call closed it."""
        if self.reason is not None:
            return False
        self.reason = reason
        return True

    def check(self, what: str) -> None:
        """Raise StackStopping if the door is closed (called right before anything is started)."""
        if self.reason is not None:
            raise StackStopping(f"not starting {what}: the stack is stopping ({self.reason})")


class ServiceLock:
    """Serialises the work on one service (a watcher, a restart); re-entrant for the task that holds it,
    so a restart that has to restart a dependent it already holds does not wait for itself."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is task and task is not None:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner, self._depth = task, 1

    async def __aexit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


class Changes:
    """Counts what happens to a service (its process exits, its state changes) so a watcher can sleep until
    the next one: read `count`, look at the service, then ``await wait(count, timeout)``. Nothing is missed:
    a change between the look and the wait makes the wait return at once."""

    def __init__(self) -> None:
        self.count = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def bump(self) -> None:
        self.count += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seen: int, timeout: float | None = None) -> None:
        """Return once `count` differs from `seen`, or after `timeout` seconds (None: no deadline)."""
        if self.count != seen:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(max(0.0, timeout), lambda: waiter.done() or waiter.set_result(None))
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if timer is not None:
                timer.cancel()

    async def wait_until(self, condition) -> None:
        """Return once `condition()` holds, checked after every change."""
        while True:
            seen = self.count
            if condition():
                return
            await self.wait(seen)


async def run_unless(work: Awaitable[Any], interrupt: asyncio.Event) -> asyncio.Task[Any]:
    """Run `work` until it ends or `interrupt` is set, then cancel it; return its task, ended either way."""
    task = asyncio.ensure_future(work)
    interrupted = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait([task, interrupted], return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupted.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait([task])
    return task

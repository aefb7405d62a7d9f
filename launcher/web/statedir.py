"""A :class:`StackView` that reads the state directory, like `robostack status` and `events` do.

It needs nothing from the supervisor, so it works for any running stack (and for one
whose supervisor is gone: the status then says so). Changes are found by `stat` checks
of run.json and events.jsonl every `poll_interval`, only while someone waits for them
(an open event stream), by one shared task: a page left open costs two `stat` calls per
half second, whatever the number of pages.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from launcher.commands.status import StatusView, status_json
from launcher.errors import NotRunningError
from launcher.stack.resolved import ResolvedStack
from launcher.state.interpret import effective_state, live_supervisor
from launcher.state.paths import StatePaths
from launcher.state.store import read_run_state
from launcher.supervise.primitives import Changes
from launcher.web.views import ViewBase

POLL_INTERVAL = 0.5       # how often open streams look for changes (two stat calls)
RECHECK_INTERVAL = 5.0    # a full status recomputation even without file changes (a process died, uptime)


class StateDirView(ViewBase):
    """The stack as the state directory shows it."""

    def __init__(self, stack: ResolvedStack, paths: StatePaths, *, poll_interval: float = POLL_INTERVAL,
                 recheck_interval: float = RECHECK_INTERVAL):
        super().__init__(stack, paths)
        self.poll_interval = poll_interval
        self.recheck_interval = recheck_interval
        self._changes = Changes()
        self._signature = self._files_signature()
        self._waiters = 0
        self._poller: asyncio.Task | None = None

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.status_and_alive()[0]

    def supervisor_alive(self) -> bool:
        try:
            return self.status_and_alive()[1]
        except NotRunningError:
            return False

    def status_and_alive(self) -> tuple[dict[str, Any], bool]:
        state = read_run_state(self.paths)
        if state is None:
            raise NotRunningError(f"this stack has not run here (no state in {self.paths.root}); "
                                  "start it with `robostack up`")
        alive = live_supervisor(self.paths, state) is not None
        # Read from disk (this view serves without a supervisor); the supervisor's own server answers from memory.
        view = StatusView(effective_state(state, supervisor_alive=alive), alive, responding=alive)
        document = self.redactor.mask_data(status_json(view))
        return document, alive

    # -- change notification ----------------------------------------------------------------

    async def changed(self, version: int, timeout: float) -> int:
        if version != self._changes.count:
            return self._changes.count
        self._waiters += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        try:
            await self._changes.wait(version, timeout)
        finally:
            self._waiters -= 1
        return self._changes.count

    async def _poll(self) -> None:
        """Look for changes while anyone waits; then end (started again by the next waiter)."""
        last_recheck = time.monotonic()
        while self._waiters > 0:
            await asyncio.sleep(self.poll_interval)
            signature = self._files_signature()
            now = time.monotonic()
            if signature != self._signature or now - last_recheck >= self.recheck_interval:
                self._signature, last_recheck = signature, now
                self._changes.bump()

    def _files_signature(self) -> tuple:
        return (_stat_key(self.paths.run_state), _stat_key(self.paths.events))

    def close(self) -> None:
        """Stop the poller; safe to call twice."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None


def _stat_key(path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)

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
from launcher.process.sockets import sockets_on_ports
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.paths import StatePaths
from launcher.state.store import read_run_state
from launcher.state.interpret import effective_state, live_supervisor
from launcher.web.events_view import read_timeline
from launcher.web.metrics import log_samples, socket_samples, status_samples
from launcher.web.provider import Sample, TimelineEntry, TimelinePage

POLL_INTERVAL = 0.5       # how often open streams look for changes (two stat calls)
RECHECK_INTERVAL = 5.0    # a full status recomputation even without file changes (a process died, uptime)
SOCKET_SCAN_CACHE = 5.0   # the socket table is read at most this often (about 10 ms on a busy machine)


class StateDirView:
    """The stack as the state directory shows it."""

    def __init__(self, stack: ResolvedStack, paths: StatePaths, *, poll_interval: float = POLL_INTERVAL,
                 recheck_interval: float = RECHECK_INTERVAL):
        self.stack = stack
        self.redactor = Redactor.for_stack(stack)
        self.paths = paths
        self.poll_interval = poll_interval
        self.recheck_interval = recheck_interval
        self._version = 0
        self._signature = self._files_signature()
        self._bumped = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task | None = None
        self._sockets_cache: tuple[float, list] | None = None

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._status()[0]

    def supervisor_alive(self) -> bool:
        try:
            return self._status()[1]
        except NotRunningError:
            return False

    def _status(self) -> tuple[dict[str, Any], bool]:
        state = read_run_state(self.paths)
        if state is None:
            raise NotRunningError(f"this stack has not run here (no state in {self.paths.root}); "
                                  "start it with `robostack up`")
        alive = live_supervisor(self.paths, state) is not None
        # Read from disk (this view serves without a supervisor); the supervisor's own server answers from memory.
        view = StatusView(effective_state(state, supervisor_alive=alive), alive, responding=alive)
        document = self.redactor.mask_data(status_json(view))
        return document, alive

    # -- timeline --------------------------------------------------------------------------

    def timeline(self, since: int | None, limit: int) -> TimelinePage:
        page = read_timeline(self.paths.events, since, limit)
        return TimelinePage([TimelineEntry(e.cursor, self.redactor.mask_data(e.event))
                             for e in page.entries],
                            page.next_cursor, page.more)

    # -- change notification ----------------------------------------------------------------

    async def changed(self, version: int, timeout: float) -> int:
        if version != self._version:
            return self._version
        self._waiters += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        bumped = self._bumped
        try:
            await asyncio.wait_for(bumped.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiters -= 1
        return self._version

    async def _poll(self) -> None:
        """Look for changes while anyone waits; then end (started again by the next waiter)."""
        last_recheck = time.monotonic()
        while self._waiters > 0:
            await asyncio.sleep(self.poll_interval)
            signature = self._files_signature()
            now = time.monotonic()
            if signature != self._signature or now - last_recheck >= self.recheck_interval:
                self._signature, last_recheck = signature, now
                self._bump()

    def _bump(self) -> None:
        self._version += 1
        bumped, self._bumped = self._bumped, asyncio.Event()
        bumped.set()

    def _files_signature(self) -> tuple:
        return (_stat_key(self.paths.run_state), _stat_key(self.paths.events))

    def close(self) -> None:
        """Stop the poller; safe to call twice."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    # -- metrics and logs --------------------------------------------------------------------

    async def samples(self) -> list[Sample]:
        try:
            status, alive = self._status()
        except NotRunningError:
            status, alive = {"services": []}, False
        gateways = [name for name, svc in self.stack.services.items() if svc.health and svc.health.kind == "ib_api"]
        ports = {name: svc.ports for name, svc in self.stack.services.items() if svc.ports}
        records = await self._socket_records([port for group in ports.values() for port in group])
        sizes = {}
        for name in self.stack.services:
            path = self.log_path(name)
            if path is not None:
                sizes[name] = _size(path)
        return status_samples(status, alive=alive, gateways=gateways) + socket_samples(records, ports) + log_samples(sizes)

    async def _socket_records(self, ports: list[int]) -> list:
        if not ports:
            return []
        now = time.monotonic()
        if self._sockets_cache is None or now - self._sockets_cache[0] >= SOCKET_SCAN_CACHE:
            records = await asyncio.to_thread(sockets_on_ports, ports)
            self._sockets_cache = (time.monotonic(), records)
        return self._sockets_cache[1]

    def log_path(self, service: str):
        spec = self.stack.services.get(service)
        if spec is None or spec.external:
            return None
        return self.paths.current_log_target(service)  # robostack's own link, checked to point inside


def _stat_key(path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _size(path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0

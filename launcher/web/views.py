"""What every :class:`~launcher.web.provider.StackView` does the same way, whoever knows the state.

Both views (the supervisor's own, :mod:`launcher.web.live`, and the state directory's,
:mod:`launcher.web.statedir`) read the timeline from events.jsonl, tail logs through
robostack's checked link, and build `/metrics` from their status document plus the
socket table and the log writers' files. Only the status itself and how changes are
noticed differ; subclasses provide those.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from launcher.errors import NotRunningError
from launcher.logwriter.files import run_files, status_path
from launcher.logwriter.status import read_writer_status
from launcher.process.sockets import SocketRecord, sockets_on_ports
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.paths import StatePaths
from launcher.web.events_view import read_timeline
from launcher.web.metrics import log_samples, socket_samples, status_samples
from launcher.web.provider import Sample, TimelineEntry, TimelinePage

SOCKET_SCAN_CACHE = 5.0   # the socket table is read at most this often (about 10 ms on a busy machine)


class ViewBase:
    """The shared half of a StackView; a subclass adds status(), supervisor_alive() and changed()."""

    def __init__(self, stack: ResolvedStack, paths: StatePaths):
        self.stack = stack
        self.paths = paths
        self.redactor = Redactor.for_stack(stack)
        self._sockets_cache: tuple[float, list[SocketRecord]] | None = None

    def status(self) -> dict[str, Any]:
        raise NotImplementedError

    def supervisor_alive(self) -> bool:
        raise NotImplementedError

    def status_and_alive(self) -> tuple[dict[str, Any], bool]:
        """Both at once (a view that reads them from one file reads it once)."""
        return self.status(), self.supervisor_alive()

    # -- timeline and logs -------------------------------------------------------------------

    def timeline(self, since: int | None, limit: int) -> TimelinePage:
        page = read_timeline(self.paths.events, since, limit)
        return TimelinePage([TimelineEntry(e.cursor, self.redactor.mask_data(e.event)) for e in page.entries],
                            page.next_cursor, page.more)

    def log_path(self, service: str) -> Path | None:
        spec = self.stack.services.get(service)
        if spec is None or spec.external:
            return None
        return self.paths.current_log_target(service)  # robostack's own link, checked to point inside

    # -- metrics -------------------------------------------------------------------------------

    async def samples(self) -> list[Sample]:
        """State, restarts and probes from the status; zombie sockets per port; the log writers' files."""
        try:
            status, alive = self.status_and_alive()
        except NotRunningError:
            status, alive = {"services": []}, False
        gateways = [name for name, svc in self.stack.services.items() if svc.health and svc.health.kind == "ib_api"]
        ports = {name: svc.ports for name, svc in self.stack.services.items() if svc.ports}
        records = await self._socket_records([port for group in ports.values() for port in group])
        logs = {service["name"]: service["log"] for service in status.get("services", []) if service.get("log")}
        sizes, lost = await asyncio.to_thread(_log_figures, logs)
        return (status_samples(status, alive=alive, gateways=gateways) + socket_samples(records, ports)
                + log_samples(sizes, lost))

    async def _socket_records(self, ports: list[int]) -> list[SocketRecord]:
        if not ports:
            return []
        now = time.monotonic()
        if self._sockets_cache is None or now - self._sockets_cache[0] >= SOCKET_SCAN_CACHE:
            records = await asyncio.to_thread(sockets_on_ports, ports)
            self._sockets_cache = (time.monotonic(), records)
        return self._sockets_cache[1]


def _log_figures(logs: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    """Per service: bytes in its current run's log files (the current one and the rotated parts still
    kept), and the lines its log writer could not write (its status record's `lost`)."""
    sizes, lost = {}, {}
    for name, current in logs.items():
        sizes[name] = sum(_size(path) for path in run_files(current))
        record = read_writer_status(status_path(current))
        if record is not None and isinstance(record.get("lost"), int):
            lost[name] = record["lost"]
    return sizes, lost


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0

"""The event timeline: one JSON line per thing that happened to a service.

Appended with a single write per event on an O_APPEND descriptor, so lines
from one supervisor never interleave and the file is never rewritten.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from launcher.state import files

@dataclass(frozen=True)
class Event:
    """One entry of the timeline."""

    time: datetime
    service: str  # "" for stack-wide events
    event: str
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # durations and details: seconds_to_healthy, exit, ...

    def to_json(self) -> dict[str, Any]:
        record = {"time": self.time.isoformat(timespec="milliseconds"), "service": self.service, "event": self.event}
        if self.reason:
            record["reason"] = self.reason
        record.update(self.data)
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Event":
        data = {k: v for k, v in record.items() if k not in ("time", "service", "event", "reason")}
        return cls(datetime.fromisoformat(record["time"]), record.get("service", ""), record["event"],
                   record.get("reason", ""), data)


class EventLog:
    """Appends events to a stack's events.jsonl.

    A line that cannot be written (a full disk) is kept, in order, and written by the
    next append or :meth:`flush`: the timeline loses nothing while the supervisor
    lives, and a reader never sees two lines run together (a half-written line is
    completed before the next one starts).
    """

    PENDING_LIMIT = 4 * 1024 * 1024  # beyond this, while the disk stays full, newer lines are dropped

    def __init__(self, path: Path):
        self._path = path
        self._fd: int | None = None
        self._pending = bytearray()
        self.dropped = 0  # lines given up on because the pending buffer was full

    @property
    def pending(self) -> bool:
        """True if some lines are still waiting to be written."""
        return bool(self._pending)

    def append(self, event: Event) -> None:
        """Write one event (and any earlier ones still pending); OSError if the write failed (kept for later)."""
        line = (json.dumps(event.to_json(), sort_keys=False) + "\n").encode()
        if len(self._pending) + len(line) > self.PENDING_LIMIT:
            self.dropped += 1
        else:
            self._pending += line
        self.flush()

    def flush(self) -> None:
        """Write what is pending; OSError (the rest still pending) if the file system refuses."""
        if self._fd is None:
            self._fd = files.open_file(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        while self._pending:
            written = os.write(self._fd, self._pending)
            del self._pending[:written]

    def close(self) -> None:
        """Safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_events(path: Path, *, offset: int = 0) -> tuple[list[Event], int]:
    """Events from byte `offset` on, and the offset to continue from (skips a half-written last line)."""
    try:
        with os.fdopen(files.open_file(path, os.O_RDONLY), "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    events = list(_parse_lines(complete))
    return events, offset + len(complete)


def _parse_lines(chunk: bytes) -> Iterator[Event]:
    for line in chunk.splitlines():
        try:
            yield Event.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):  # a line holding 5 or [] is not an event
            continue  # a damaged line must not hide the rest of the timeline

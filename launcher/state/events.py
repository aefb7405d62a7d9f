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
from typing import Any

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
    def from_json(cls, record: Any) -> "Event":
        """The event in one decoded timeline line; ValueError if it is not one (a damaged or foreign line)."""
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        time, service, event, reason = (record.get("time"), record.get("service", ""), record.get("event"),
                                        record.get("reason", ""))
        if not all(isinstance(value, str) for value in (time, service, event, reason)):
            raise ValueError("time, service, event and reason must be strings")
        data = {k: v for k, v in record.items() if k not in ("time", "service", "event", "reason")}
        return cls(datetime.fromisoformat(time), service, event, reason, data)


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


@dataclass
class Timeline:
    """What one read of events.jsonl found: the events, where to continue, and the damaged lines skipped."""

    path: Path
    events: list[Event] = field(default_factory=list)
    offset: int = 0
    next_line: int = 1  # the number of the next line, counting from the start of the file
    damaged: list[int] = field(default_factory=list)  # numbers of the lines that are no events


def read_events(path: Path, *, offset: int = 0) -> tuple[list[Event], int]:
    """Events from byte `offset` on, and the offset to continue from (skips a half-written last line)."""
    timeline = read_timeline(path, offset=offset)
    return timeline.events, timeline.offset


def read_timeline(path: Path, *, offset: int = 0, first_line: int = 1) -> Timeline:
    """Like :func:`read_events`, also naming the damaged lines it skipped (a hand edit, a foreign line).

    `first_line` is the number of the line at `offset` (the previous read's `next_line`).
    """
    try:
        with os.fdopen(files.open_file(path, os.O_RDONLY), "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return Timeline(path, offset=offset, next_line=first_line)
    complete = chunk[: chunk.rfind(b"\n") + 1]
    lines = complete.split(b"\n")[:-1]
    timeline = Timeline(path, offset=offset + len(complete), next_line=first_line + len(lines))
    for number, line in enumerate(lines, start=first_line):
        try:
            timeline.events.append(Event.from_json(json.loads(line)))
        except (ValueError, RecursionError):  # a line holding 5, [], a list as the service, 5000 brackets
            timeline.damaged.append(number)  # a damaged line must not hide the rest of the timeline
    return timeline

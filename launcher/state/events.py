"""The event timeline: one JSON line per thing that happened to a service.

Appended with a single write per event on an O_APPEND descriptor, so lines
from one supervisor never interleave and the file is never rewritten; past a
size it is rotated (``events.1.jsonl`` ..., :mod:`launcher.state.rotation`).

Readers never take whole files: :func:`end_offset` (where `down` starts relaying),
:func:`last_events` (``events -n``: backwards), :func:`events_since`
(``events --since``: bisection on the times, which only grow), :func:`all_events`
(line by line, across the parts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from launcher.logwriter.files import DEFAULT_KEEP, DEFAULT_MAX_SIZE
from launcher.state import files
from launcher.state.rotation import RotatingFile

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Any, Iterator
    from launcher.logwriter.reader import Follower

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

    def __init__(self, path: Path, *, max_size: int = DEFAULT_MAX_SIZE, keep: int = DEFAULT_KEEP):
        self._file = RotatingFile(path, max_size=max_size, keep=keep)  # events.1.jsonl ... past max_size
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
        while self._pending:
            written = self._file.write(bytes(self._pending))
            del self._pending[:written]

    def close(self) -> None:
        """Safe to call twice."""
        self._file.close()


def end_offset(path: Path) -> int:
    """The size of the current timeline file: where a reader of only what comes next starts (nothing is read)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def last_events(path: Path, count: int) -> list[Event]:
    """The last `count` events, oldest first, read backwards from the end (across rotated parts)."""
    from launcher.logwriter.reader import read_backwards
    from launcher.state.rotation import all_files

    found: list[Event] = []
    for file in reversed(all_files(path)):
        if len(found) >= count:
            break
        # Damaged lines are skipped, so ask for a few more than are missing.
        lines = read_backwards(str(file), 2 * (count - len(found)) + 8)
        found = list(_parse_lines(b"\n".join(lines)))[-(count - len(found)):] + found
    return found[-count:] if count else []


def events_since(path: Path, when: float) -> Iterator[Event]:
    """Every event at or after `when` (epoch seconds), oldest first: the first one is found by bisection."""
    from launcher.logwriter.reader import last_stamp, lines_between, offset_at_time
    from launcher.state.rotation import all_files

    for file in all_files(path):
        latest = last_stamp(str(file), stamp_of=event_time)
        if latest is not None and latest < when:
            continue
        start = offset_at_time(str(file), when, stamp_of=event_time, head=_TIME_HEAD)
        for line in lines_between(str(file), start, end_offset(file)):
            yield from _parse_lines(line)


def all_events(path: Path) -> Iterator[Event]:
    """Every event, oldest first, read file by file in blocks (never one whole file at once)."""
    from launcher.logwriter.reader import lines_between
    from launcher.state.rotation import all_files

    for file in all_files(path):
        for line in lines_between(str(file), 0, end_offset(file)):
            yield from _parse_lines(line)


def timeline_follower(path: Path) -> "Follower":
    """A reader of what is appended to the timeline from now on, across its rotations (`down`, `events -f`)."""
    from launcher.logwriter.reader import Follower

    follower = Follower(path, is_link=False, suffix=".jsonl")
    follower.start_at_end()
    return follower


def parse_event_lines(lines: list[bytes]) -> list[Event]:
    """The events among complete lines (damaged ones skipped)."""
    return [event for line in lines for event in _parse_lines(line)]


_TIME_HEAD = 64  # bytes: `{"time": "2025-10-23T16:05:00.123+02:00", ...` has the time in its first field


def event_time(head: bytes) -> float | None:
    """The time (epoch seconds) of the event line starting with `head`, or None if it has none there."""
    marker = head.find(b'"time": "')
    if marker < 0:
        return None
    start = marker + 9
    end = head.find(b'"', start)
    try:
        return datetime.fromisoformat(head[start:end].decode("ascii")).timestamp() if end > 0 else None
    except (ValueError, UnicodeDecodeError):
        return None


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

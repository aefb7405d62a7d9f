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


class Skipped:
    """The damaged lines a reader skipped (a hand edit, a foreign line), to be said once: file -> their numbers,
    or 0 where the reader (backwards, from the middle, following) does not know a line's number."""

    def __init__(self) -> None:
        self.lines: dict[Path, list[int]] = {}

    def add(self, file: Path, number: int = 0) -> None:
        self.lines.setdefault(Path(file), []).append(number)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def describe(self) -> list[str]:
        """One text per file: `events.jsonl: lines 2, 3, 4, 5, 6 and 2 more damaged`."""
        said = []
        for file, numbers in self.lines.items():
            known = [number for number in numbers if number]
            noun = "line" if len(numbers) == 1 else "lines"
            if len(known) == len(numbers):
                listed = ", ".join(map(str, known[:5])) + (f" and {len(known) - 5} more" if len(known) > 5 else "")
                said.append(f"{file}: {noun} {listed} damaged")
            else:
                said.append(f"{file}: {len(numbers)} {noun} damaged")
        return said


def last_events(path: Path, count: int, skipped: Skipped | None = None) -> list[Event]:
    """The last `count` events, oldest first, read backwards from the end (across rotated parts)."""
    from launcher.logwriter.reader import read_backwards
    from launcher.state.rotation import all_files

    found: list[Event] = []
    for file in reversed(all_files(path)):
        if len(found) >= count:
            break
        # Damaged lines are skipped, so ask for a few more than are missing.
        lines = read_backwards(str(file), 2 * (count - len(found)) + 8)
        found = _parse_lines(lines, file, skipped)[-(count - len(found)):] + found
    return found[-count:] if count else []


def events_since(path: Path, when: float, skipped: Skipped | None = None) -> Iterator[Event]:
    """Every event at or after `when` (epoch seconds), oldest first: the first one is found by bisection."""
    from launcher.logwriter.reader import last_stamp, offset_at_time
    from launcher.state.rotation import all_files

    for file in all_files(path):
        latest = last_stamp(str(file), stamp_of=event_time)
        if latest is not None and latest < when:
            continue
        start = offset_at_time(str(file), when, stamp_of=event_time, head=_TIME_HEAD)
        for line, _ in _complete_lines(file, start):
            yield from _parse_lines([line], file, skipped)


def all_events(path: Path, skipped: Skipped | None = None) -> Iterator[Event]:
    """Every event, oldest first, read file by file in blocks (never one whole file at once)."""
    from launcher.state.rotation import all_files

    for file in all_files(path):
        for line, number in _complete_lines(file, 0):
            yield from _parse_lines([line], file, skipped, number)


def _complete_lines(file: Path, start: int) -> Iterator[tuple[bytes, int]]:
    """The lines of `file` from byte `start` (a line start) on, with their numbers when `start` is 0; a last line
    still being written (no newline yet) is left for the next read."""
    from launcher.logwriter.reader import lines_between

    size = end_offset(file)
    end = size if _ends_a_line(file, size) else None
    number = 1 if start == 0 else 0
    previous = None
    for line in lines_between(str(file), start, size):
        if previous is not None:
            yield previous, number
            number = number + 1 if number else 0
        previous = line
    if previous is not None and end is not None:
        yield previous, number


def _ends_a_line(file: Path, size: int) -> bool:
    if size == 0:
        return True
    try:
        with files.open_for_reading(str(file)) as handle:
            handle.seek(size - 1)
            return handle.read(1) == b"\n"
    except OSError:
        return True


def timeline_follower(path: Path) -> "Follower":
    """A reader of what is appended to the timeline from now on, across its rotations (`down`, `events -f`)."""
    from launcher.logwriter.reader import Follower

    follower = Follower(path, is_link=False, suffix=".jsonl")
    follower.start_at_end()
    return follower


def parse_event_lines(lines: list[bytes], skipped: Skipped | None = None, file: Path | None = None) -> list[Event]:
    """The events among complete lines (damaged ones skipped, and counted in `skipped`)."""
    return _parse_lines(lines, file, skipped)


def _parse_lines(lines: list[bytes], file: Path | None, skipped: Skipped | None, number: int = 0) -> list[Event]:
    found = []
    for line in lines:
        if not line.strip():
            continue
        try:
            found.append(Event.from_json(json.loads(line)))
        except (ValueError, RecursionError):  # a line holding 5, [], a list as the service, 5000 brackets
            if skipped is not None and file is not None:
                skipped.add(file, number)  # a damaged line must not hide the rest of the timeline
    return found


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

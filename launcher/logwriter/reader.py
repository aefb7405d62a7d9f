"""Reading a service's logs without reading whole files: tails, time ranges and following.

Everything seeks: the last N lines are read backwards block by block; the
first line at or after a time is found by bisecting the file on its stamps
(lines are appended in the order they were received, so stamps only grow);
following reads what was appended since the last look and, when the file was
rotated or a new run began, finishes the old file (and any part it missed)
before it goes on. Works across all the files of a service folder: the parts
of each run and the runs that retention kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from launcher.logwriter import files
from launcher.state import files as state_files
from launcher.logwriter.format import parse_stamp

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Callable, Iterator

BLOCK = 64 * 1024
_LINEAR_WINDOW = 16 * 1024  # below this, bisection hands over to a forward scan


@dataclass(frozen=True)
class Segment:
    """Bytes [start, end) of one log file: where the lines asked for are."""

    path: str
    start: int
    end: int


def read_backwards(path: str, count: int, *, start: int = 0, end: int | None = None) -> list[bytes]:
    """The last `count` complete lines of `path` within [start, end), oldest first (no newlines)."""
    if count <= 0:
        return []
    try:
        with state_files.open_for_reading(path) as handle:
            stop = os.fstat(handle.fileno()).st_size if end is None else end
            position, chunks, newlines = stop, [], 0
            while position > start and newlines <= count:
                step = min(BLOCK, position - start)
                position -= step
                handle.seek(position)
                chunk = handle.read(step)
                chunks.insert(0, chunk)
                newlines += chunk.count(b"\n")
    except FileNotFoundError:
        return []
    data = b"".join(chunks)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if position > start and lines:
        lines.pop(0)  # began in the middle of a line
    return lines[-count:]


def lines_between(path: str, start: int, end: int) -> Iterator[bytes]:
    """The lines in [start, end) of `path`, read forward block by block (no newlines)."""
    try:
        handle = state_files.open_for_reading(path)
    except FileNotFoundError:
        return
    with handle:
        handle.seek(start)
        position, partial = start, b""
        while position < end:
            chunk = handle.read(min(BLOCK, end - position))
            if not chunk:
                break
            position += len(chunk)
            data = partial + chunk
            lines = data.split(b"\n")
            partial = lines.pop()
            yield from lines
        if partial:
            yield partial


def _line_start_from(handle, position: int) -> int | None:
    """The first line start at or after `position` (None at the end of the file)."""
    if position == 0:
        return 0
    handle.seek(position - 1)
    offset = position - 1
    while True:
        chunk = handle.read(4096)
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(chunk)


def _stamp_at(handle, position: int, stamp_of: Callable[[bytes], float | None], head: int) -> float | None:
    handle.seek(position)
    return stamp_of(handle.read(head))


def offset_at_time(path: str, when: float, *, stamp_of: Callable[[bytes], float | None] = parse_stamp,
                   head: int = 32) -> int:
    """The offset of the first line stamped at or after `when` (the file's size if there is none).

    `stamp_of` reads the time from the first `head` bytes of a line (the timeline's JSON lines
    have theirs in their first field).
    """
    try:
        handle = state_files.open_for_reading(path)
    except FileNotFoundError:
        return 0
    with handle:
        size = os.fstat(handle.fileno()).st_size
        low, high = 0, size  # lines starting before `low` are earlier; the first line from `high` on is not
        while high - low > _LINEAR_WINDOW:
            middle = (low + high) // 2
            start = _line_start_from(handle, middle)
            if start is None or start >= high:
                high = middle
                continue
            stamp = _stamp_at(handle, start, stamp_of, head)
            if stamp is not None and stamp < when:
                low = start
            else:
                high = middle
        position = low
        for line in lines_between(path, low, size):
            stamp = stamp_of(line[:head])
            if stamp is not None and stamp >= when:
                return position
            position += len(line) + 1
        return size


def first_stamp(path: str, *, stamp_of: Callable[[bytes], float | None] = parse_stamp) -> float | None:
    """The stamp of the first stamped line among the first few of `path`."""
    for line in _head(path, 8):
        stamp = stamp_of(line)
        if stamp is not None:
            return stamp
    return None


def last_stamp(path: str, *, stamp_of: Callable[[bytes], float | None] = parse_stamp) -> float | None:
    """The stamp of the last stamped line among the last few of `path`."""
    for line in reversed(read_backwards(path, 8)):
        stamp = stamp_of(line)
        if stamp is not None:
            return stamp
    return None


def _head(path: str, count: int) -> list[bytes]:
    try:
        with state_files.open_for_reading(path) as handle:
            return handle.read(BLOCK).split(b"\n")[:count]
    except FileNotFoundError:
        return []


def segments(folder: str | Path, *, since: float | None = None, until: float | None = None,
             ends: dict[str, int] | None = None) -> list[Segment]:
    """Where the lines of [since, until] are in a service folder, oldest first (all lines if both are None).

    `ends` caps a file (by path) at a size, so a reader can follow on from
    exactly there with no line shown twice or missed.
    """
    result = []
    for path in files.log_files(str(folder)):
        end = (ends or {}).get(os.path.realpath(path))  # the follower's key is the link's resolved target
        if end is None:
            try:
                end = os.path.getsize(path)
            except FileNotFoundError:
                continue
        start = 0
        if since is not None:
            latest = last_stamp(path)
            if latest is not None and latest < since:
                continue
            start = min(end, offset_at_time(path, since))
        if until is not None:
            earliest = first_stamp(path)
            if earliest is not None and earliest > until:
                break
            end = min(end, offset_at_time(path, until + 0.0005))
        if end > start:
            result.append(Segment(path, start, end))
    return result


def tail(parts: list[Segment], count: int) -> list[bytes]:
    """The last `count` lines of the segments, oldest first."""
    lines: list[bytes] = []
    for part in reversed(parts):
        if len(lines) >= count:
            break
        lines = read_backwards(part.path, count - len(lines), start=part.start, end=part.end) + lines
    return lines


def forward(parts: list[Segment]) -> Iterator[bytes]:
    """Every line of the segments in order, read lazily."""
    for part in parts:
        yield from lines_between(part.path, part.start, part.end)


class Follower:
    """Follows one service's current log (`link` -> this run's file) across rotations and new runs.

    With ``is_link=False`` it follows a file that is itself the current one and is rotated the
    same way (the supervisor's ``events.jsonl``: `suffix` ``.jsonl``).
    """

    def __init__(self, link: Path, *, is_link: bool = True, suffix: str = files.LOG_SUFFIX) -> None:
        self.link = link
        self.is_link = is_link
        self.suffix = suffix
        self._handle = None
        self._identity: tuple[int, int] | None = None
        self._partial = b""

    def start_at_end(self) -> dict[str, int]:
        """Begin at the current end; returns {path: size} for :func:`segments` to stop at."""
        target = self._target()
        if target is None:
            return {}
        self._open(target, at_end=True)
        return {target: self._handle.tell()} if self._handle else {}

    def read_new(self) -> list[bytes]:
        """Complete lines appended since the last call (no newlines), moving on to a newer file if there is one."""
        lines = self._read_current()
        target = self._target()
        if target is None:
            return lines
        try:
            info = os.stat(target)
        except FileNotFoundError:
            return lines
        if (info.st_dev, info.st_ino) != self._identity:
            lines += self._finish_and_move(target)
        return lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _target(self) -> str | None:
        if not self.is_link:
            return str(self.link)
        # robostack's own link, read without following it and refused if it points outside
        # the logs folder (StateError): a planted link must not show another file's lines.
        target = state_files.read_link_inside(self.link)
        return None if target is None else str(target)

    def _open(self, path: str, *, at_end: bool) -> None:
        self.close()
        try:
            self._handle = state_files.open_for_reading(path)
        except FileNotFoundError:
            self._handle, self._identity = None, None
            return
        info = os.fstat(self._handle.fileno())
        self._identity = (info.st_dev, info.st_ino)
        if at_end:
            self._handle.seek(0, os.SEEK_END)
        self._partial = b""

    def _read_current(self) -> list[bytes]:
        if self._handle is None:
            return []
        data = self._partial + self._handle.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return lines

    def _finish_and_move(self, target: str) -> list[bytes]:
        """The old file was rotated (or a new run began): finish it, read parts it missed, open the new one."""
        lines = self._read_current()
        if self._partial:
            lines.append(self._partial)
        missed: list[str] = []
        if self._identity is not None:
            renamed = files.find_by_identity(os.path.dirname(target), self._identity, self.suffix)
            parsed = files.split_name(os.path.basename(renamed), self.suffix) if renamed else None
            if renamed is not None and parsed is not None and parsed[1] > 0:
                current = os.path.join(os.path.dirname(renamed), parsed[0] + self.suffix)
                missed = [path for number, path in files.run_parts(current, self.suffix) if number > parsed[1]]
        for path in missed:
            lines += list(lines_between(path, 0, 1 << 62))
        self._open(target, at_end=False)
        return lines + self._read_current()

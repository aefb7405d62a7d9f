"""The ``log`` probe: healthy once a line of the service's current log matches ``pattern``.

Only what the current start wrote counts (bytes from ``context.log_start_offset``
on). Lines are matched as the service wrote them: the log writer's time stamp
(:mod:`launcher.logwriter.format`) is cut off first. When the log is rotated
under a scan, the scan finishes the renamed file and goes on in the new one. Logs can be large and the probe runs every interval, so where the scan
stopped is remembered in a :class:`LogCursor`: each call reads only the bytes
appended since the last one. Once a line has matched, the probe stays healthy
for this start without scanning again (it only checks that line is still there).

The cursors live in a small bounded cache in this module because the supervisor
builds a fresh :class:`ProbeContext` for every probe. The cache cannot give a
wrong answer: a scan resumes only in the same file (device and inode), the
same start offset and the same pattern, a file that shrank is read again, and a
remembered match counts only while its line is still where it was found.

A pattern cannot block the supervisor: it runs with the ``regex`` engine, which releases
the GIL while matching (the scan runs in a thread, so the event loop carries on) and
gives up at the probe's deadline. A pattern that backtracks catastrophically (``^(a+)+$``
on a line of a's) is then an unhealthy result that says so, not an 11 s freeze.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import regex

from launcher.errors import StateError
from launcher.logwriter.files import find_by_identity, newest_part
from launcher.logwriter.format import LAUNCHER_MARK, split_stamp, strip_stamps
from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, format_seconds
from launcher.stack.model import LogCheck
from launcher.state import files as state_files

_CHUNK = 1024 * 1024
_MAX_LINE = 1024 * 1024  # a "line" longer than this is searched as it is rather than buffered forever
_SHOWN_LINE = 160
_CACHED_CURSORS = 256  # far more than the log-probed services of any stack


@dataclass(frozen=True)
class LogCursor:
    """How far one log file has been scanned for one pattern, and what matched."""

    path: Path
    start_offset: int
    pattern: str
    file_identity: tuple[int, int] | None = None  # (device, inode): a replaced file is rescanned
    position: int = 0  # next byte to read; always at a line start
    matched_line: str | None = None
    matched_offset: int = 0  # where the matched line starts in the file
    matched_bytes: bytes = b""  # the matched line as stored, to check it is still there
    size_seen: int = 0
    matched_identity: tuple[int, int] | None = None  # the file the match is in (None: the current file)
    continued_identity: tuple[int, int] | None = None  # a newer current file known to continue that one

    def scanned(self) -> int:
        """Bytes of this start's output already read."""
        return max(0, self.position - self.start_offset)


LAUNCHER_HEADER = LAUNCHER_MARK


class PatternTooSlow(Exception):
    """Matching the pattern did not finish before the probe's deadline."""


def _line_regexes(pattern: str) -> tuple[regex.Pattern, regex.Pattern | None]:
    """The per-line regex, and a whole-block prefilter that can only over-match.

    Searching a block of many lines at once is much faster than line by line; the
    hit is then confirmed per line. Anchors to the whole text (\\A, \\Z) would behave
    differently on a block, so such patterns skip the prefilter.
    """
    line = regex.compile(pattern)
    if "\\A" in pattern or "\\Z" in pattern:
        return line, None
    return line, regex.compile(pattern, regex.MULTILINE)


def _search(compiled: regex.Pattern, text: str, deadline: float) -> bool:
    """A search that releases the GIL and stops at `deadline` (PatternTooSlow)."""
    remaining = deadline - time.monotonic()
    timeout = max(0.001, remaining) if remaining != float("inf") else None
    try:
        return compiled.search(text, timeout=timeout, concurrent=True) is not None
    except TimeoutError as err:
        raise PatternTooSlow(compiled.pattern) from err


def _find_line(data: bytes, line_regex: regex.Pattern, block_regex: regex.Pattern | None,
               deadline: float) -> tuple[int, bytes] | None:
    """The offset within ``data`` and the bytes of its first line matching, or ``None``."""
    if not data:
        return None
    if block_regex is not None and not _search(block_regex, strip_stamps(data).decode("utf-8", errors="replace"),
                                               deadline):
        return None
    offset = 0
    for raw in data.splitlines(keepends=True):
        line = split_stamp(raw.rstrip(b"\r\n"))[1]
        # The launcher's own start header quotes the command, which may contain the pattern itself.
        if not line.startswith(LAUNCHER_HEADER) and _search(line_regex, line.decode("utf-8", errors="replace"), deadline):
            return offset, raw.rstrip(b"\r\n")
        offset += len(raw)
    return None


def scan_log(cursor: LogCursor, deadline: float) -> LogCursor:
    """Read on from ``cursor`` until a line matches, the end of the file, or ``deadline``.

    Blocking file I/O: the probe runs it in a thread. Returns a new cursor. A file
    rotated since the last look is finished first (found by its inode among the
    run's parts); a file that shrank or was replaced otherwise is scanned again
    from the start offset.
    """
    regexes = _line_regexes(cursor.pattern)
    with state_files.open_for_reading(cursor.path) as log:
        status = os.fstat(log.fileno())
        identity = (status.st_dev, status.st_ino)
        if identity != cursor.file_identity or status.st_size < cursor.position:
            earlier = _rotated_from(cursor, identity, status.st_size)
            if earlier is not None:
                found = _scan_earlier_file(cursor, earlier, regexes, deadline)
                if found is not None or time.monotonic() >= deadline:
                    return found or cursor
                cursor = replace(cursor, file_identity=identity, position=0)
            else:
                # Smaller than the start offset at the first look: rotated since the start, all of it is new.
                first_look_rotated = cursor.file_identity is None and status.st_size < cursor.start_offset
                cursor = replace(cursor, file_identity=identity, position=0 if first_look_rotated else cursor.start_offset)
        position, found, partial = _scan(log, cursor.position, regexes, deadline)
        if found is not None:
            return _matched(cursor, found[0], found[1], found[2], status.st_size)
        # A last line without its newline yet may already say "ready"; it is searched
        # but not consumed, so it is read again whole next time.
        found_partial = _find_line(partial, *regexes, deadline)
        if found_partial is not None:
            return _matched(cursor, position + found_partial[0], found_partial[1], position, status.st_size)
        return replace(cursor, position=position, size_seen=max(status.st_size, position))


def _scan(log, position: int, regexes, deadline: float) -> tuple[int, tuple[int, bytes, int] | None, bytes]:
    """Scan complete lines from `position`: (next position, (offset, line, position after it) or None, partial)."""
    log.seek(position)
    partial = b""
    while time.monotonic() < deadline:
        chunk = log.read(_CHUNK)
        if not chunk:
            break
        data = partial + chunk
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) < _MAX_LINE:
            partial = data
            continue
        end = end or len(data)
        complete, partial = data[:end], data[end:]
        found = _find_line(complete, *regexes, deadline)
        if found is not None:
            return position, (position + found[0], found[1], position + len(complete)), b""
        position += len(complete)
    return position, None, partial


def _rotated_from(cursor: LogCursor, identity: tuple[int, int], size: int) -> tuple[str, int] | None:
    """The file this start's unread lines are in when the log was rotated since the last look, and where to resume.

    After a rotation the old file is one of the run's parts (same inode, new name).
    On the very first look, a current file smaller than the start offset was
    rotated since the start: the start's first lines are in the newest part.
    """
    folder = os.path.dirname(cursor.path)
    if cursor.file_identity is not None and cursor.file_identity != identity:
        renamed = find_by_identity(folder, cursor.file_identity)
        return (renamed, cursor.position) if renamed is not None else None
    if cursor.file_identity is None and size < cursor.start_offset:
        part = newest_part(str(cursor.path))
        return (part, cursor.start_offset) if part is not None else None
    return None


def _scan_earlier_file(cursor: LogCursor, earlier: tuple[str, int], regexes, deadline: float) -> LogCursor | None:
    """Finish a rotated file: a cursor at the match in it, or None if it holds none."""
    path, position = earlier
    try:
        with state_files.open_for_reading(path) as log:
            status = os.fstat(log.fileno())
            end, found, partial = _scan(log, position, regexes, deadline)
    except (OSError, StateError):
        return None
    if found is None:
        found_partial = _find_line(partial, *regexes, deadline)
        if found_partial is None:
            return None
        found = (end + found_partial[0], found_partial[1], 0)
    return replace(_matched(cursor, found[0], found[1], cursor.position, cursor.size_seen),
                   matched_identity=(status.st_dev, status.st_ino))


def _matched(cursor: LogCursor, offset: int, line: bytes, position: int, size: int) -> LogCursor:
    return replace(cursor, position=position, matched_line=split_stamp(line)[1].decode("utf-8", errors="replace"),
                   matched_offset=offset, matched_bytes=line, size_seen=max(size, position))


def _match_still_there(cursor: LogCursor) -> LogCursor | None:
    """The cursor if its matched line is still where it was found (a rewritten log does not keep it), else None.

    A rotation keeps it: the matched file is then one of the run's parts, and the
    new current file is remembered as its continuation, so the match still holds
    once retention has removed that part (as long as the probe looks at least once
    per `keep` rotations).
    """
    try:
        with state_files.open_for_reading(cursor.path) as log:
            status = os.fstat(log.fileno())
            identity = (status.st_dev, status.st_ino)
            matched_identity = cursor.matched_identity or cursor.file_identity
            if matched_identity is None or identity == matched_identity:
                log.seek(cursor.matched_offset)
                if log.read(len(cursor.matched_bytes)) == cursor.matched_bytes:
                    return cursor
    except (OSError, StateError):
        return None
    if identity == cursor.continued_identity:
        return cursor
    folder = os.path.dirname(cursor.path)
    for earlier in (cursor.continued_identity, matched_identity):
        if earlier is not None and earlier != identity:  # an inode number can be reused by the new file
            renamed = find_by_identity(folder, earlier)
            if renamed is not None and renamed != str(cursor.path):
                return replace(cursor, matched_identity=matched_identity, continued_identity=identity)
    return None


class CursorCache:
    """The last cursors used, by (log path, start offset, pattern); least recently used dropped first."""

    def __init__(self, size: int = _CACHED_CURSORS) -> None:
        self._size = size
        self._cursors: OrderedDict[tuple[Path, int, str], LogCursor] = OrderedDict()

    def get(self, path: Path, start_offset: int, pattern: str) -> LogCursor:
        key = (path, start_offset, pattern)
        cursor = self._cursors.get(key)
        if cursor is None:
            return LogCursor(path, start_offset, pattern, position=start_offset)
        self._cursors.move_to_end(key)
        return cursor

    def put(self, cursor: LogCursor) -> None:
        self._cursors[(cursor.path, cursor.start_offset, cursor.pattern)] = cursor
        self._cursors.move_to_end((cursor.path, cursor.start_offset, cursor.pattern))
        while len(self._cursors) > self._size:
            self._cursors.popitem(last=False)


CURSORS = CursorCache()


@bounded_probe("log")
async def probe_log(check: LogCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """Look for ``check.pattern`` in the service's current log, reading only new bytes."""
    started = time.monotonic()
    path = context.log_path
    if path is None:
        return ProbeResult(False, "log", f"no log file known for {context.service_name}", 0.0)
    cursor = CURSORS.get(Path(path).absolute(), context.log_start_offset, check.pattern)
    if cursor.matched_line is not None:
        kept = _match_still_there(cursor)
        cursor = kept or LogCursor(cursor.path, cursor.start_offset, cursor.pattern, position=cursor.start_offset)
        if kept is not None:
            CURSORS.put(kept)
    if cursor.matched_line is None:
        try:
            cursor = await asyncio.to_thread(scan_log, cursor, started + timeout)
        except FileNotFoundError:
            return ProbeResult(False, "log", f"log file {path} does not exist yet", time.monotonic() - started)
        except PatternTooSlow:
            detail = (f"matching /{check.pattern}/ against {path} did not finish within {format_seconds(timeout)}: "
                      "the pattern backtracks catastrophically (like ^(a+)+$); make it simpler")
            return ProbeResult(False, "log", detail, time.monotonic() - started)
        except (OSError, StateError) as err:
            detail = f"cannot read log {path}: {getattr(err, 'strerror', None) or err}"
            return ProbeResult(False, "log", detail, time.monotonic() - started)
        CURSORS.put(cursor)
    latency = time.monotonic() - started
    facts = {"log_path": str(path), "bytes_scanned": cursor.scanned()}
    if cursor.matched_line is not None:
        shown = cursor.matched_line.strip()[:_SHOWN_LINE]
        return ProbeResult(True, "log", f"log line matched /{check.pattern}/: {shown}", latency, facts)
    unread = cursor.size_seen - cursor.position
    if unread > _MAX_LINE:
        detail = (f"no line matching /{check.pattern}/ in the first {cursor.scanned()} bytes of {path} "
                  f"(scan continues; {unread} bytes left after {format_seconds(timeout)})")
    else:
        detail = f"no line matching /{check.pattern}/ yet in {path} ({cursor.scanned()} bytes since this start)"
    return ProbeResult(False, "log", detail, latency, facts)

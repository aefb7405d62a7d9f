"""The new lines of a Gateway's log since the last look, a bounded read at a time.

A Gateway's log can be tens of megabytes; the login phase needs only its recent
lines. So the first look starts at most :data:`CATCH_UP` bytes before the end (on a
line boundary), and each look reads at most :data:`READ_LIMIT` bytes: a log that
grows faster is skipped ahead, never buffered whole. A replaced file (new inode)
or a shorter one is read from its start. The file is opened the way every state
file is (:func:`launcher.state.files.open_for_reading`: no link followed, ours alone).
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher.errors import StateError
from launcher.state.files import open_for_reading as open_log

CATCH_UP = 256 * 1024
READ_LIMIT = 1024 * 1024
MAX_PARTIAL = 64 * 1024  # an unterminated "line" longer than this is dropped, not kept growing


class LogTail:
    """Where reading one log file has got to."""

    def __init__(self, path: Path, start_offset: int = 0):
        self.path = Path(path)
        self.start_offset = start_offset  # bytes before this belong to earlier starts of the service
        self.position: int | None = None
        self._identity: tuple[int, int] | None = None
        self._partial = b""
        self._mid_line = False

    def new_lines(self) -> list[str]:
        """Complete lines appended since the last call (``[]`` when the file is missing or unreadable)."""
        try:
            with open_log(self.path) as handle:
                stat = os.fstat(handle.fileno())
                self._follow(stat.st_dev, stat.st_ino, stat.st_size)
                if stat.st_size - self.position > READ_LIMIT:
                    self._skip_to(stat.st_size - CATCH_UP)
                handle.seek(self.position)
                data = handle.read(READ_LIMIT)
        except (FileNotFoundError, StateError, OSError):
            return []
        self.position += len(data)
        data = self._partial + data
        complete, newline, self._partial = data.rpartition(b"\n")
        if not newline:
            complete, self._partial = b"", data
        if len(self._partial) > MAX_PARTIAL:
            self._partial = b""
        lines = complete.decode("utf-8", errors="replace").split("\n") if newline else []
        if lines and self._mid_line:
            lines, self._mid_line = lines[1:], False  # after a skip: the fragment before the first newline
        return lines

    def _follow(self, device: int, inode: int, size: int) -> None:
        if self._identity != (device, inode) or self.position is None or size < self.position:
            first_look = self.position is None
            self._identity = (device, inode)
            self._skip_to(max(self.start_offset, size - CATCH_UP) if first_look else self.start_offset)

    def _skip_to(self, offset: int) -> None:
        self.position = max(0, offset)
        self._partial = b""
        self._mid_line = offset > self.start_offset  # the skip may have landed inside a line

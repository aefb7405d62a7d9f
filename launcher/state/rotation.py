"""The supervisor's own growing files (``events.jsonl``, ``supervisor.log``), rotated by size like the services' logs.

Named the way a service's log parts are (:mod:`launcher.logwriter.files`)::

    events.jsonl        the current file (always this name: readers and `down` open it)
    events.1.jsonl      earlier parts, N = 1, 2, ... oldest first; a part never changes name again
    supervisor.log      the same, with supervisor.1.log ...

Past `max_size` the current file is renamed to the next part and a new one begins,
between two whole lines (each line is one write), and only the newest `keep` parts
are kept: a stack supervised for months holds at most ``(keep + 1) * max_size`` of
each. The settings are the stack file's top-level ``logs:`` (the services' default).
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher.logwriter import files as naming
from launcher.logwriter.files import DEFAULT_KEEP, DEFAULT_MAX_SIZE
from launcher.state import files

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Sequence


def suffix_of(path: Path | str) -> str:
    """``.jsonl`` for events.jsonl, ``.log`` for supervisor.log."""
    return os.path.splitext(str(path))[1]


def parts(path: Path | str) -> list[Path]:
    """The earlier parts of the file whose current name is `path`, oldest first."""
    return [Path(part) for _, part in naming.run_parts(str(path), suffix_of(path))]


def all_files(path: Path | str) -> list[Path]:
    """Its parts, then the current file if it exists: everything in the order it was written."""
    current = Path(path)
    return parts(current) + ([current] if current.exists() else [])


def rotate(path: Path | str, keep: int) -> Path:
    """Rename the current file to the next part, drop parts beyond the newest `keep`; the new part's path.

    OSError if the rename fails (the caller keeps appending to the current file).
    """
    suffix = suffix_of(path)
    renamed = Path(naming.part_path(str(path), naming.next_part_number(str(path), suffix), suffix))
    os.rename(path, renamed)
    for old in parts(path)[:-keep] if keep > 0 else parts(path):
        try:
            old.unlink()
        except OSError:
            pass
    return renamed


class RotatingFile:
    """An append-only state file that starts a new part past `max_size`; one ``write(2)`` per call.

    ``also`` are descriptors pointed at the current file after each rotation (a detached
    supervisor's stdout and stderr are supervisor.log, so a stray traceback lands there too).
    Opened like every state file (no link followed, private, yours).
    """

    def __init__(self, path: Path, *, max_size: int = DEFAULT_MAX_SIZE, keep: int = DEFAULT_KEEP,
                 also: Sequence[int] = (), root: Path | None = None):
        self.path = Path(path)
        self.root = root  # the state folder: every folder from it down is checked on opening
        self.max_size = max_size
        self.keep = keep
        self.also = tuple(also)
        self.fd: int | None = None
        self.size = 0

    def open(self) -> int:
        """Open (or create) the current file now; the descriptor."""
        if self.fd is None:
            self.fd = files.open_file(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, root=self.root)
            self.size = os.fstat(self.fd).st_size
            for target in self.also:
                os.dup2(self.fd, target)
        return self.fd

    def write(self, data: bytes) -> int:
        """Append `data` (whole lines); rotate first if it would not fit. Raises OSError (ENOSPC...) like write(2)."""
        fd = self.open()
        if self.size and self.size + len(data) > self.max_size:
            self._rotate()
            fd = self.open()
        written = os.write(fd, data)
        self.size += written
        return written

    def _rotate(self) -> None:
        try:
            rotate(self.path, self.keep)
        except OSError:
            self.size = 0  # cannot rename now (a full disk does not stop renames, a read-only one does): go on
            return
        self.close()

    def close(self) -> None:
        """Safe to call twice."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

"""`robostack logs`: the last lines of each service's log, and following new ones.

Lines are multiplexed through honcho's Printer (time, coloured service prefix).
Following reads what the service appended since the last look; when the
`logs/<service>.log` link moves to a new run's file, following continues there
from its first line, so nothing is missed across a restart of the stack.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, TextIO

from honcho.colour import get_colours
from honcho.printer import Message, Printer

from launcher.state import files

FOLLOW_INTERVAL = 0.2  # how often -f looks for new bytes; tail -F uses 1s
_READ_BLOCK = 64 * 1024


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file, reading backwards so a huge log costs little."""
    if count <= 0:
        return []
    try:
        with open_log(path) as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            chunks: list[bytes] = []
            newlines = 0
            while position > 0 and newlines <= count:
                step = min(_READ_BLOCK, position)
                position -= step
                handle.seek(position)
                chunk = handle.read(step)
                chunks.insert(0, chunk)
                newlines += chunk.count(b"\n")
    except FileNotFoundError:
        return []
    lines = b"".join(chunks).decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def open_log(path: Path) -> BinaryIO:
    """A service log opened for reading the way every state file is (no link followed, yours alone)."""
    return os.fdopen(files.open_file(Path(path), os.O_RDONLY), "rb")


def make_printer(output: TextIO, names: Iterable[str], *, colour: bool = True) -> "ServicePrinter":
    return ServicePrinter(output, list(names), colour=colour)


class ServicePrinter:
    """honcho's Printer with one stable colour per service name."""

    def __init__(self, output: TextIO, names: list[str], *, colour: bool = True):
        width = max((len(n) for n in names), default=0)
        self._printer = Printer(output=output, width=width, colour=colour)
        colours = get_colours()
        self._colours = {name: next(colours) for name in names}

    def line(self, name: str, text: str, when: datetime | None = None) -> None:
        self._printer.write(Message(type="line", data=text, time=when or datetime.now(), name=name,
                                    colour=self._colours.get(name)))


@dataclass
class _Cursor:
    """Where following one service's log has got to."""

    link: Path
    target: Path | None = None
    offset: int = 0
    partial: bytes = b""


def _resolve(link: Path) -> Path | None:
    """The file robostack's current-log link points at (inside the logs folder), or None if there is none."""
    return files.read_link_inside(link)


def start_cursor(link: Path) -> _Cursor:
    """A cursor at the current end of the service's log (only new lines will be shown)."""
    target = _resolve(link)
    try:
        size = target.stat().st_size if target else 0
    except FileNotFoundError:
        size = 0
    return _Cursor(link, target, size)


def read_new_lines(cursor: _Cursor) -> list[str]:
    """Complete lines appended since the cursor; switches to a new run's file when the link moves."""
    target = _resolve(cursor.link)
    if target is None:
        return []
    lines: list[str] = []
    if target != cursor.target:
        lines += _drain(cursor)  # finish the old file before moving on
        cursor.target, cursor.offset, cursor.partial = target, 0, b""
    return lines + _drain(cursor)


def _drain(cursor: _Cursor) -> list[str]:
    if cursor.target is None:
        return []
    try:
        with open_log(cursor.target) as handle:
            handle.seek(cursor.offset)
            data = handle.read()
    except FileNotFoundError:
        return []
    cursor.offset += len(data)
    data = cursor.partial + data
    complete, _, cursor.partial = data.rpartition(b"\n")
    if not complete and not _:
        cursor.partial = data
        return []
    return complete.decode("utf-8", errors="replace").split("\n")


async def follow(cursors: dict[str, _Cursor], emit: Callable[[str, str], None],
                 stop: asyncio.Event | None = None) -> None:
    """Print new lines of every service as they arrive, until `stop` is set (or forever)."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        for name, cursor in cursors.items():
            for text in read_new_lines(cursor):
                emit(name, text)
        try:
            await asyncio.wait_for(stop.wait(), timeout=FOLLOW_INTERVAL)
        except asyncio.TimeoutError:
            pass

"""`robostack logs`: the services' lines merged in time order, shown the way the user asked.

Each line carries the time its log writer received it (:mod:`launcher.logwriter.format`),
so lines of several services are merged by that time, not grouped per service, and
``-t`` shows it. Reading never takes whole files (:mod:`launcher.logwriter.reader`):
the tail is read backwards, ``--since``/``--until`` bisect the files on their stamps,
and following reads only what was appended, across rotations and restarts.

Output is plain text written as it is, never cut to a terminal's width. Colours
(one per service prefix) only on a terminal, and never with ``--no-color`` or
``NO_COLOR`` set (https://no-color.org).
"""

from __future__ import annotations

import heapq
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from launcher.logwriter import reader
from launcher.logwriter.format import LAUNCHER_MARK, PREFIX_LENGTH, STAMP_LENGTH, parse_stamp
from launcher.output.term import colour_wanted  # noqa: F401  (the rule every command follows)

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Callable, Iterable, Iterator, TextIO
    import asyncio

FOLLOW_INTERVAL = 0.2  # how often -f looks for new bytes; tail -F uses 1s
DEFAULT_LINES = 20
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")  # docker compose's order
_ROTATION_NOTE = re.compile(rb"^--- robostack: \S+ log continued from ")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def last_lines(path: Path | str, count: int) -> list[str]:
    """The last `count` lines of one file, as stored (read backwards, so a huge log costs little)."""
    return [line.decode("utf-8", errors="replace") for line in reader.read_backwards(str(path), count)]


@dataclass(frozen=True)
class Entry:
    """One line of one service: when it was received (None: not stamped), and the line as stored."""

    service: str
    when: float | None
    raw: bytes

    @property
    def text(self) -> bytes:
        return self.raw[PREFIX_LENGTH:] if self.when is not None else self.raw

    @property
    def is_rotation_note(self) -> bool:
        return self.text.startswith(LAUNCHER_MARK) and bool(_ROTATION_NOTE.match(self.text))


def entries(service: str, lines: Iterable[bytes]) -> Iterator[Entry]:
    """The lines of one service as entries."""
    for raw in lines:
        yield Entry(service, parse_stamp(raw), raw)


def merge(streams: list[Iterator[Entry]]) -> Iterator[Entry]:
    """Several services' entries (each in file order) merged in time order, lazily.

    A line without a stamp sorts with the stamped line before it in its own stream;
    equal times keep the order of the streams.
    """
    def keyed(index: int, stream: Iterator[Entry]) -> Iterator[tuple[float, int, int, Entry]]:
        last = 0.0
        for sequence, entry in enumerate(stream):
            last = entry.when if entry.when is not None else last
            yield last, index, sequence, entry

    for *_, entry in heapq.merge(*(keyed(index, stream) for index, stream in enumerate(streams))):
        yield entry


def parse_moment(text: str, now: datetime) -> float:
    """``--since``/``--until``: a duration before `now` (``90s``, ``10m``, ``2h``, ``1d``) or a time.

    Times are ISO 8601 (``2025-10-23T18:05:00``, ``2025-10-23 18:05``, with ``Z`` or an
    offset, else local time) or a time of today (``18:05``). Returns epoch seconds;
    ValueError with a readable reason otherwise.
    """
    match = _DURATION.match(text)
    if match:
        return (now - timedelta(seconds=float(match.group(1)) * _SCALE[match.group(2)])).timestamp()
    value = text.strip()
    try:
        if re.fullmatch(r"\d{1,2}:\d\d(:\d\d(\.\d+)?)?", value):
            moment = datetime.combine(now.astimezone().date(), datetime.strptime(value.split(".")[0], "%H:%M:%S" if value.count(":") == 2 else "%H:%M").time())
        else:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError(f'expected a duration (90s, 10m, 2h, 1d) or a time (2025-10-23T18:05:00, 18:05), got "{text}"') from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without offset is local time
    return moment.timestamp()


class LogPrinter:
    """Writes entries: ``service | `` (coloured), the stamp with ``-t``, then the line as the service wrote it."""

    def __init__(self, output: TextIO, names: list[str], *, colour: bool = False, prefix: bool = True,
                 timestamps: bool = False, mask: Callable[[str], str] = str) -> None:
        self.output = output
        self.mask = mask  # a service may print a secret it was given: shown masked
        self.prefix, self.timestamps = prefix, timestamps
        width = max((len(name) for name in names), default=0)
        self._prefixes = {}
        for index, name in enumerate(names):
            label = f"{name.ljust(width)} | "
            self._prefixes[name] = f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m" if colour else label

    def write(self, entry: Entry) -> None:
        if entry.is_rotation_note:
            return  # how the files are cut is no part of what the services said
        pieces = [self._prefixes.get(entry.service, entry.service + " | ")] if self.prefix else []
        if self.timestamps:
            stamp = entry.raw[:STAMP_LENGTH].decode("ascii") if entry.when is not None else " " * STAMP_LENGTH
            pieces.append(stamp + " ")
        pieces.append(self.mask(entry.text.decode("utf-8", errors="replace")))
        self.output.write("".join(pieces) + "\n")

    def flush(self) -> None:
        self.output.flush()


def show(streams: list[Iterator[Entry]], printer: LogPrinter) -> None:
    """Print the merged streams."""
    for entry in merge(streams):
        printer.write(entry)
    printer.flush()


async def follow(followers: dict[str, reader.Follower], emit: Callable[[Entry], None],
                 stop: asyncio.Event | None = None, flush: Callable[[], None] | None = None) -> None:
    """Emit every service's new lines as they arrive, merged by time per look, until `stop` is set (or forever);
    the lines written before the stop are emitted too."""
    import asyncio  # here: `logs` without -f never needs an event loop

    stop = stop or asyncio.Event()
    while True:
        batch = [list(entries(name, follower.read_new())) for name, follower in followers.items()]
        for entry in merge([iter(lines) for lines in batch if lines]):
            emit(entry)
        if flush is not None and any(batch):
            flush()
        if stop.is_set():
            return  # after one last look: what was written before the stop is shown
        try:
            await asyncio.wait_for(stop.wait(), timeout=FOLLOW_INTERVAL)
        except asyncio.TimeoutError:
            pass

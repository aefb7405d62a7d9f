"""The log line format: each line as the service wrote it, behind the time the writer received it.

    2025-10-23T16:05:00.123Z ib_async connected to 127.0.0.1:4002

The stamp is UTC, ISO 8601 with milliseconds and a ``Z``, then one space: always
25 bytes, so it sorts as text, reads at a glance with ``tail``, and is cut off
without parsing. It is the time the writer *read* the bytes from the service's
pipe (one read stamps every line it holds), which is within a pipe's latency of
when the service wrote them. Lines the launcher writes itself start with
``--- robostack: `` after the stamp (a service's start, a rotation, lost lines).
Lines without a stamp (logs written before the writer existed) are still read:
they carry no time of their own.

Standard library only, and only cheap imports: the writer process imports this.
"""

from __future__ import annotations

import time

STAMP_LENGTH = 24  # "2025-10-23T16:05:00.123Z"
PREFIX_LENGTH = STAMP_LENGTH + 1  # the stamp and its space
LAUNCHER_MARK = b"--- robostack: "
_DIGIT_SLICES = ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19), (20, 23))
_SEPARATORS = ((4, 45), (7, 45), (10, 84), (13, 58), (16, 58), (19, 46), (23, 90), (24, 32))  # - - T : : . Z space


def format_stamp(epoch: float) -> bytes:
    """The 25-byte prefix for a line received at `epoch` (seconds since 1970, UTC)."""
    seconds, millis = divmod(int(round(epoch * 1000)), 1000)
    t = time.gmtime(seconds)
    return b"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ " % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                                                      t.tm_sec, millis)


class Stamper:
    """:func:`format_stamp` with the date and time of the last second cached (the writer calls it per read)."""

    def __init__(self) -> None:
        self._second = -1
        self._head = b""

    def __call__(self, epoch: float) -> bytes:
        seconds, millis = divmod(int(round(epoch * 1000)), 1000)
        if seconds != self._second:
            self._second, self._head = seconds, format_stamp(seconds)[:20]
        return self._head + b"%03dZ " % millis


def stamp_lines(block: bytes, stamp: bytes) -> bytes:
    """Every line of `block` (complete lines, ending in a newline) behind `stamp`."""
    return stamp + block[:-1].replace(b"\n", b"\n" + stamp) + b"\n"


def parse_stamp(line: bytes) -> float | None:
    """The epoch seconds a stamped line was received, or None for a line without a stamp."""
    if len(line) < PREFIX_LENGTH:
        return None
    for index, value in _SEPARATORS:
        if line[index] != value:
            return None
    fields = []
    for start, end in _DIGIT_SLICES:
        part = line[start:end]
        if not part.isdigit():
            return None
        fields.append(int(part))
    year, month, day, hour, minute, second, millis = fields
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second + millis / 1000


def split_stamp(line: bytes) -> tuple[float | None, bytes]:
    """(time received, the service's text) of one line; (None, line) when it has no stamp."""
    when = parse_stamp(line)
    return (when, line[PREFIX_LENGTH:]) if when is not None else (None, line)


def strip_stamps(block: bytes) -> bytes:
    """`block` with the stamp removed from the start of each line (lines without one are kept whole)."""
    import re  # only readers strip stamps; the writer never needs `re`

    return re.sub(rb"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", b"", block)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; no calendar import)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468

"""Times of day and time zones as written in a stack file or a simulator scenario. Pure.

One spelling for both: ``"23:45"`` (or ``"23:44:50"``) and an IANA zone name such as
``America/New_York``. YAML 1.1 reads an unquoted ``23:45`` as the base-60 number 1425,
so a number is refused with a message that says to quote it.
"""

from __future__ import annotations

import re
from datetime import time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")


def parse_clock_time(value: Any) -> time:
    """``"23:45"`` or ``"23:44:50"`` as a :class:`datetime.time`; ``ValueError`` with the reason otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'expected a time of day like "23:45" in quotes (YAML reads an unquoted 23:45 as the '
                         f"number {value})")
    match = _CLOCK_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
        raise ValueError(f"expected a time of day HH:MM (00:00 to 23:59), got {shown!r}")
    hour, minute, second = (int(part or 0) for part in match.groups())
    return time(hour, minute, second)


def parse_time_zone(value: Any) -> tzinfo:
    """An IANA time zone name as a :class:`zoneinfo.ZoneInfo`; ``ValueError`` with the reason otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError(f"expected a time zone name like America/New_York, got {str(value)[:40]!r}")
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from None


def zone_name(zone: tzinfo) -> str:
    """The name a zone was made from (``America/New_York``), else how it prints."""
    return getattr(zone, "key", None) or str(zone)

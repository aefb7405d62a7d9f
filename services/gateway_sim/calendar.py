"""The exchange calendar: NYSE trading days, regular and extended hours, the login timezone.

No calendar library: the simulator starts with the standard library alone, and the one that
knows NYSE (exchange_calendars) brings pandas and numpy for what is ten holiday rules here.
The rules are NYSE's since 2022 (Juneteenth included) with weekend observance; early closes
are not modelled.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXCHANGE_ZONE = ZoneInfo("America/New_York")
EXCHANGE_ZONE_NAME = "US/Eastern"  # how IB names it in contractDetails
REGULAR = (time(9, 30), time(16, 0))
EXTENDED = (time(4, 0), time(20, 0))


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l) // 433
    month = (h + l - 7 * m + 90) // 25
    return date(year, month, (h + l - 7 * m + 33 * month + 19) % 32)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + timedelta(days=offset + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    """NYSE full-day holidays of ``year``."""
    days = {
        _nth_weekday(year, 1, 0, 3), _nth_weekday(year, 2, 0, 3), _easter(year) - timedelta(days=2),
        _nth_weekday(year, 5, 0, -1), _nth_weekday(year, 9, 0, 1), _nth_weekday(year, 11, 3, 4),
        _observed(date(year, 7, 4)), _observed(date(year, 12, 25)),
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # NYSE does not close on Friday Dec 31 for a Saturday New Year
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    return frozenset(days)


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def trading_days_before(day: date, count: int) -> list[date]:
    """The ``count`` trading days up to and including ``day`` (if it trades), oldest first."""
    days: list[date] = []
    while len(days) < count:
        if is_trading_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def session(day: date, extended: bool = False) -> tuple[datetime, datetime]:
    """Start and end of ``day``'s session in exchange time (regular, or 04:00-20:00)."""
    start, end = EXTENDED if extended else REGULAR
    return (datetime.combine(day, start, EXCHANGE_ZONE), datetime.combine(day, end, EXCHANGE_ZONE))


def session_bounds(now: float) -> tuple[float, float]:
    """Epoch seconds of the latest regular open at or before ``now`` and the close before it."""
    today = datetime.fromtimestamp(now, EXCHANGE_ZONE).date()
    days = trading_days_before(today, 2)
    opened, _ = session(days[-1])
    if opened.timestamp() > now:
        days = trading_days_before(today - timedelta(days=1), 2)
        opened, _ = session(days[-1])
    _, previous_close = session(days[-2])
    return opened.timestamp(), previous_close.timestamp()


def trading_hours(now: float, days: int = 5, extended: bool = True) -> str:
    """contractDetails' ``tradingHours``/``liquidHours``: ``20251124:0400-20251124:2000;...``."""
    today = datetime.fromtimestamp(now, EXCHANGE_ZONE).date()
    parts = []
    day = today
    while len(parts) < days:
        stamp = f"{day:%Y%m%d}"
        if is_trading_day(day):
            start, end = EXTENDED if extended else REGULAR
            parts.append(f"{stamp}:{start:%H%M}-{stamp}:{end:%H%M}")
        else:
            parts.append(f"{stamp}:CLOSED")
        day += timedelta(days=1)
    return ";".join(parts)


_chosen_zone: list[str] = []  # --timezone, when given: the login's zone follows it


def choose_login_zone(zone: tzinfo) -> None:
    """Make ``zone`` (``--timezone``) the login's timezone: bar times and the daily restart agree."""
    name = getattr(zone, "key", None)
    if name and name != login_zone()[0]:
        _chosen_zone[:] = [name]
        login_zone.cache_clear()


@lru_cache(maxsize=1)
def login_zone() -> tuple[str, ZoneInfo]:
    """The login's timezone, which a Gateway uses for bar times: ``--timezone``, else ``TZ``, else the
    system's, else UTC."""
    candidates = _chosen_zone + [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = Path("/etc/localtime").resolve()
        candidates.append(str(target).split("zoneinfo/", 1)[-1] if "zoneinfo/" in str(target) else "")
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return name, ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC", ZoneInfo("UTC")


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)

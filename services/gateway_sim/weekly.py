"""The Gateway's week in wall-clock terms: IB's weekly reset, IBC's Sunday cold restart, days of the week. Pure.

IB keeps a Gateway's login across its daily restarts for about a week only: once
IB's weekly reset has passed (early Sunday, New York time) the next restart needs
a full login, second factor included, whoever is at the phone. IBC's
``ColdRestartTime`` setting moves that full login to a chosen time on Sundays
instead of whichever restart comes first. Both are plain functions of wall-clock
times here, so the lifecycle and the tests share one reading of the calendar.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

SUNDAY = 6  # date.weekday()
WEEKLY_RESET_ZONE = ZoneInfo("America/New_York")
WEEKLY_RESET_TIME = time(1, 0)  # IB's weekly reset: Sunday 01:00 New York
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekday(value: object) -> int:
    """``"sun"`` or ``"Sunday"`` (any case) as :meth:`date.weekday`; ``ValueError`` with the reason otherwise."""
    text = value.strip().lower() if isinstance(value, str) else ""
    for number, name in enumerate(DAY_NAMES):
        if text in (name, name[:3]):
            return number
    shown = value if not isinstance(value, str) or len(value) <= 20 else value[:20] + "..."
    raise ValueError(f"expected a day of the week (mon, tue, ..., sun), got {shown!r}")


def day_on_or_after(today: date, weekday: int) -> date:
    """The first ``weekday`` from ``today`` on (``today`` itself when it is one)."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def next_local_time(wall: datetime, at: time, zone: tzinfo, weekday: int | None = None) -> datetime:
    """The next ``at`` in ``zone`` (on ``weekday`` only, when given) at least a second after ``wall``.

    A second's margin keeps one minute from firing twice when the step that fired
    it schedules the next one.
    """
    local = (wall + timedelta(seconds=1)).astimezone(zone)
    day = local.date() if weekday is None else day_on_or_after(local.date(), weekday)
    target = datetime.combine(day, at, tzinfo=zone)
    if target <= local:
        target = datetime.combine(day + timedelta(days=1 if weekday is None else 7), at, tzinfo=zone)
    return target


def weekly_reset_between(since: datetime, now: datetime) -> bool:
    """True when IB's weekly reset (Sunday 01:00 New York) falls in ``(since, now]``."""
    reset = next_local_time(since - timedelta(seconds=1), WEEKLY_RESET_TIME, WEEKLY_RESET_ZONE, SUNDAY)
    return since < reset <= now

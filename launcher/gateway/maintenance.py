"""Maintenance windows: when the Gateway's absence is expected, and until when. Pure.

IB Gateway restarts itself every day at its auto-restart time (a minute or two
without an API), IB's servers have weekend maintenance, and a stack may declare
other windows. Inside one, a Gateway that does not answer is not a crash:
nothing is restarted and dependents wait. A window starts at a local time in its
time zone (default: the machine's) on the days it names (default: every day),
and may run past midnight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Sequence
from zoneinfo import ZoneInfo

from launcher.stack.gateway_fields import WEEKDAYS, MaintenanceWindow
from stackkit.times import parse_clock_time, zone_name

DAY = 86400.0


@dataclass(frozen=True)
class Window:
    """One occurrence of a maintenance window: start and end in UTC (aware datetimes of one zone compare by wall
    time, which a DST change makes wrong), shown in its own zone."""

    start: datetime
    end: datetime
    zone: tzinfo

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def until_text(self) -> str:
        """``23:55 America/New_York`` (``Sun 02:00 ...`` when it ends on another day than it started)."""
        end = self.end.astimezone(self.zone)
        day = f"{WEEKDAYS[end.weekday()].title()} " if end.date() != self.start.astimezone(self.zone).date() else ""
        return f"{day}{end:%H:%M} {zone_name(self.zone)}"

    def span_text(self) -> str:
        start, end = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        return f"{start:%H:%M}-{end:%H:%M} {zone_name(self.zone)}"


def occurrences(window: MaintenanceWindow, around: datetime, default_zone: tzinfo,
                days_before: int, days_after: int) -> list[Window]:
    """The window's occurrences starting from ``days_before`` days before ``around`` to ``days_after`` after."""
    zone = ZoneInfo(window.timezone) if window.timezone else default_zone
    at = parse_clock_time(window.at)
    today = around.astimezone(zone).date()
    found = []
    for offset in range(-days_before, days_after + 1):
        day = today + timedelta(days=offset)
        if window.days and WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = datetime(day.year, day.month, day.day, at.hour, at.minute, at.second, tzinfo=zone)
        start = start.astimezone(timezone.utc)  # the duration is elapsed time, across a DST change too
        found.append(Window(start, start + timedelta(seconds=window.duration), zone))
    return found


def local_zone() -> tzinfo:
    """This machine's time zone, for windows that name none and for the times shown."""
    return datetime.now().astimezone().tzinfo


def active_window(windows: Sequence[MaintenanceWindow], now: datetime, default_zone: tzinfo) -> Window | None:
    """The window ``now`` is in (the one ending last, when several overlap), or ``None``."""
    current = [occurrence for window in windows
               for occurrence in occurrences(window, now, default_zone, math.ceil(window.duration / DAY) + 1, 0)
               if occurrence.contains(now)]
    return max(current, key=lambda occurrence: occurrence.end, default=None)


def next_window(windows: Sequence[MaintenanceWindow], now: datetime, default_zone: tzinfo) -> Window | None:
    """The next window to start after ``now``, or ``None`` when there are no windows."""
    upcoming = [occurrence for window in windows for occurrence in occurrences(window, now, default_zone, 0, 8)
                if occurrence.start > now]
    return min(upcoming, key=lambda occurrence: occurrence.start, default=None)

"""Maintenance windows on values: days, zones, midnight, DST."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from launcher.gateway.maintenance import active_window, next_window
from launcher.stack.gateway_fields import MaintenanceWindow

NY = ZoneInfo("America/New_York")


def at(text: str, zone=NY) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


DAILY = MaintenanceWindow(at="23:45", duration="20m", timezone="America/New_York")


def test_a_daily_window_across_midnight():
    window = active_window([DAILY], at("2026-12-02 00:03"), timezone.utc)
    assert window is not None and window.until_text() == "Wed 00:05 America/New_York"
    assert window.span_text() == "23:45-00:05 America/New_York"
    assert active_window([DAILY], at("2026-12-02 00:05"), timezone.utc) is None
    assert active_window([DAILY], at("2026-12-01 23:44:59"), timezone.utc) is None


def test_the_window_is_in_its_own_zone_whatever_the_clock_shows():
    utc_moment = datetime(2026, 12, 2, 4, 50, tzinfo=timezone.utc)  # 23:50 in New York
    assert active_window([DAILY], utc_moment, timezone.utc) is not None
    local = MaintenanceWindow(at="04:45", duration="10m")  # no timezone: the default zone given
    assert active_window([local], utc_moment, timezone.utc) is not None
    assert active_window([local], utc_moment, NY) is None


def test_days_limit_a_window_and_long_ones_span_days():
    weekend = MaintenanceWindow(at="23:00", duration="26h", days=["fri"], timezone="America/New_York")
    assert active_window([weekend], at("2026-12-05 12:00"), NY) is not None  # Saturday noon, inside
    assert active_window([weekend], at("2026-12-06 12:00"), NY) is None  # Sunday noon: over
    assert active_window([weekend], at("2026-12-03 23:30"), NY) is None  # a Thursday
    upcoming = next_window([weekend], at("2026-12-03 23:30"), NY)
    assert upcoming.start == at("2026-12-04 23:00").astimezone(timezone.utc)


def test_a_window_across_a_dst_change_lasts_its_duration():
    # 2026-11-01 02:00 New York goes back to 01:00: a 2 h window from 00:30 ends at 01:30 (EST).
    window = active_window([MaintenanceWindow(at="00:30", duration="2h", timezone="America/New_York")],
                           datetime(2026, 11, 1, 6, 10, tzinfo=timezone.utc), NY)
    assert window is not None and (window.end - window.start).total_seconds() == 7200


def test_no_windows_no_maintenance():
    assert active_window([], at("2026-12-02 00:03"), NY) is None and next_window([], at("2026-12-02"), NY) is None

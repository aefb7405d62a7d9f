"""The trader's event shapes on plain values."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from services.runner_async.events import (
    clean_price,
    encode,
    iso_time,
    parse_symbols,
    position_event,
    status_event,
    tick_event,
)

MOMENT = datetime(2025, 11, 21, 14, 30, 5, 123456, tzinfo=timezone.utc)


def test_a_tick_has_exactly_the_documented_fields():
    event = tick_event("AAPL", 189.5, 189.52, 189.51, MOMENT)
    assert event == {"type": "tick", "symbol": "AAPL", "bid": 189.5, "ask": 189.52, "last": 189.51,
                     "time": "2025-11-21T14:30:05.123456+00:00"}


def test_missing_prices_become_null_and_an_empty_tick_is_not_published():
    assert tick_event("AAPL", math.nan, -1.0, 10.0, MOMENT)["bid"] is None
    assert tick_event("AAPL", math.nan, -1.0, 10.0, MOMENT)["ask"] is None
    assert tick_event("AAPL", math.nan, math.nan, None, MOMENT) is None


@pytest.mark.parametrize(("raw", "clean"), [(1.25, 1.25), (0.0, 0.0), (math.nan, None), (-1.0, None),
                                            (math.inf, None), (None, None), (3, 3.0)])
def test_clean_price(raw, clean):
    assert clean_price(raw) == clean


def test_times_are_utc_iso_8601():
    eastern = timezone(timedelta(hours=-5))
    assert iso_time(MOMENT.astimezone(eastern)) == "2025-11-21T14:30:05.123456+00:00"
    assert iso_time(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05.000000+00:00"
    assert iso_time(None).endswith("+00:00")


def test_status_and_position_events():
    status = status_event("reconnecting", MOMENT, target="gateway", attempt=2)
    assert status == {"type": "status", "state": "reconnecting", "time": "2025-11-21T14:30:05.123456+00:00",
                      "target": "gateway", "attempt": 2}
    position = position_event("DU1234567", "AAPL", 100, 150.25, MOMENT)
    assert position["type"] == "position" and position["position"] == 100.0 and position["avg_cost"] == 150.25


def test_encode_is_compact_json_and_refuses_nan():
    assert encode({"type": "tick", "bid": None}) == '{"type":"tick","bid":null}'
    assert json.loads(encode(tick_event("NVDA", 1.0, 2.0, math.nan, MOMENT)))["last"] is None
    with pytest.raises(ValueError):
        encode({"type": "tick", "bid": math.nan})


def test_symbols():
    assert parse_symbols("aapl, NVDA,TSLA") == ["AAPL", "NVDA", "TSLA"]
    assert parse_symbols("BRK.B") == ["BRK.B"]
    for bad, fragment in [("AAPL,,TSLA", "empty symbol"), ("AAPL,AAPL", "listed twice"), ("AA PL$", "not a symbol")]:
        with pytest.raises(ValueError, match=fragment):
            parse_symbols(bad)

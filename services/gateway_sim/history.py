"""Historical data the way IB serves it: requests validated, bars aligned and on trading days only.

Pure: a request's texts and "now" in, bars (or the refusal IB would send) out. The rules:

* bar sizes are IB's list; the smallest bar a duration allows follows IB's table (1800 S of
  1-second bars at most, 1 D needs at least 1 min, 1 W 3 mins, 1 M 30 mins, 1 Y 1 day);
* ``N D`` means N trading days, ``W`` weeks, ``M`` months, ``Y`` years (at most one year of
  days, 365 D, and 20 years of weeks or months), ``S`` seconds;
* whatToShow must exist for the security type (no TRADES for forex, no ADJUSTED_LAST intraday);
* endDateTime is ``""`` (now), ``yyyymmdd hh:mm:ss`` in the login timezone, the same followed by
  a timezone name, or ``yyyymmdd-hh:mm:ss`` in UTC; keepUpToDate needs it empty;
* useRTH keeps 09:30-16:00 New York time, otherwise 04:00-20:00 (forex trades around the clock
  on weekdays); formatDate 1 writes the login timezone, 2 epoch seconds, daily bars a date.

Every refusal is ``(162, text)``, the historical data farm's error, on the request's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ibproto.codes import say
from services.gateway_sim.calendar import EXCHANGE_ZONE, is_trading_day, login_zone, session
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.market import round_to_tick
from services.gateway_sim.prices import PricePath

BAR_SIZES = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
    "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400, "8 hours": 28800,
    "1 day": 86_400, "1 week": 604_800, "1 month": 2_592_000,
}
# (longest duration in seconds, smallest bar size in seconds): IB's "valid duration and bar size" table.
SMALLEST_BAR = ((1800, 1), (3600, 5), (14_400, 10), (28_800, 30), (86_400, 60), (2 * 86_400, 120),
                (7 * 86_400, 180), (31 * 86_400, 1800), (10**12, 86_400))
DURATION_LIMITS = {"S": 86_400, "D": 365, "W": 1040, "M": 240, "Y": 20}
_DURATION_SECONDS = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 31 * 86_400, "Y": 366 * 86_400}
_DURATION = re.compile(r"([0-9]{1,6}) ([SDWMY])")
WHAT_TO_SHOW = {
    "STK": {"TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
            "OPTION_IMPLIED_VOLATILITY", "SCHEDULE"},
    "CASH": {"MIDPOINT", "BID", "ASK", "BID_ASK", "SCHEDULE"},
}
MAX_BARS = 10_000


class Refused(Exception):
    """IB would refuse this request: ``code`` and ``text`` are its error record."""

    def __init__(self, reason: str, code: int = 162):
        self.code, self.text = say(code, reason)
        super().__init__(self.text)


@dataclass(frozen=True)
class Bar:
    """One bar; ``start`` is epoch seconds of the bar's beginning."""

    start: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


@dataclass(frozen=True)
class BarQuery:
    """A validated reqHistoricalData."""

    bar_seconds: int
    start: float
    end: float
    what: str
    use_rth: bool
    format_date: int


def parse_duration(text: str) -> tuple[int, str]:
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise Refused(f"Invalid duration '{text[:40]}': expected '<integer> <S|D|W|M|Y>'")
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0 or count > DURATION_LIMITS[unit]:
        raise Refused(f"Historical data request for greater than {DURATION_LIMITS[unit]} {unit} rejected "
                      f"('{text[:40]}')")
    return count, unit


def parse_end(text: str, now: float) -> float:
    """endDateTime as epoch seconds (``""`` is now)."""
    text = text.strip()
    if not text:
        return now
    try:
        if "-" in text[:9]:
            moment = datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=timezone.utc)
        else:
            day_time, _, zone_name = text[:17], text[17:18], text[18:].strip()
            zone = ZoneInfo(zone_name) if zone_name else login_zone()[1]
            moment = datetime.strptime(day_time, "%Y%m%d %H:%M:%S").replace(tzinfo=zone)
    except (ValueError, ZoneInfoNotFoundError, OSError):
        raise Refused(f"Invalid end date/time '{text[:40]}': expected 'yyyymmdd hh:mm:ss [timezone]' "
                      f"or 'yyyymmdd-hh:mm:ss' (UTC)") from None
    return min(moment.timestamp(), now)


def validate(instrument: Instrument, bar_size: str, duration: str, what: str, end: str, use_rth: bool,
             format_date: int, keep_up_to_date: bool, now: float) -> BarQuery:
    """The checks IB's historical farm makes, in its order; :class:`Refused` on the first failure."""
    bar_seconds = BAR_SIZES.get(bar_size.strip())
    if bar_seconds is None:
        raise Refused(f"Invalid bar size '{bar_size[:40]}'")
    what = what.strip().upper()
    allowed = WHAT_TO_SHOW.get(instrument.sec_type, set())
    if what not in allowed:
        feed = "Last" if what == "TRADES" else what.title()
        raise Refused(f"No historical market data for {instrument.symbol}/{instrument.sec_type}@"
                      f"{'FXSUBPIP' if instrument.is_forex else instrument.primary_exchange} {feed} {bar_size}")
    if what == "ADJUSTED_LAST" and bar_seconds < 86_400:
        raise Refused("ADJUSTED_LAST is available for daily bars and longer only")
    count, unit = parse_duration(duration)
    span = count * _DURATION_SECONDS[unit]
    smallest = next(bar for limit, bar in SMALLEST_BAR if span <= limit)
    if bar_seconds < smallest:
        raise Refused(f"Step {bar_size} is too small for a duration of {duration} (at least "
                      f"{next(k for k, v in BAR_SIZES.items() if v >= smallest)})")
    if format_date not in (1, 2, 3):
        raise Refused(f"Invalid formatDate {format_date}")
    if keep_up_to_date and end.strip():
        raise Refused("End date not supported with live updates")
    end_time = parse_end(end, now)
    return BarQuery(bar_seconds, _start_of(count, unit, end_time, instrument), end_time, what, use_rth, format_date)


def _start_of(count: int, unit: str, end: float, instrument: Instrument) -> float:
    if unit == "S":
        return end - count
    end_day = datetime.fromtimestamp(end, EXCHANGE_ZONE).date()
    if unit == "D":
        days = 0
        day = end_day
        while True:
            if instrument.is_forex and day.weekday() < 5 or is_trading_day(day):
                days += 1
                if days == count:
                    break
            day -= timedelta(days=1)
        return datetime.combine(day, datetime.min.time(), EXCHANGE_ZONE).timestamp()
    months = {"W": 0, "M": count, "Y": 12 * count}[unit]
    if unit == "W":
        return end - count * 7 * 86_400
    year, month = end_day.year, end_day.month - months
    while month <= 0:
        year, month = year - 1, month + 12
    start = date(year, month, min(end_day.day, 28))
    return datetime.combine(start, datetime.min.time(), EXCHANGE_ZONE).timestamp()


def _windows(query: BarQuery, instrument: Instrument) -> list[tuple[float, float]]:
    """The bars' [start, end) spans: aligned to their size, inside trading sessions."""
    size = query.bar_seconds
    spans: list[tuple[float, float]] = []
    day = datetime.fromtimestamp(query.start, EXCHANGE_ZONE).date()
    last_day = datetime.fromtimestamp(query.end, EXCHANGE_ZONE).date()
    while day <= last_day and len(spans) < MAX_BARS:
        if instrument.is_forex:
            trades = day.weekday() < 5
            opens = datetime.combine(day, datetime.min.time(), EXCHANGE_ZONE)
            closes = opens + timedelta(days=1)
        else:
            trades = is_trading_day(day)
            opens, closes = session(day, extended=not query.use_rth)
        if trades:
            if size >= 86_400:
                if opens.timestamp() < query.end:
                    spans.append((opens.timestamp(), min(closes.timestamp(), query.end)))
            else:
                midnight = datetime.combine(day, datetime.min.time(), EXCHANGE_ZONE).timestamp()
                t = max(opens.timestamp(), query.start)
                t = midnight + ((t - midnight) // size) * size
                while t < min(closes.timestamp(), query.end) and len(spans) < MAX_BARS:
                    if t + size > opens.timestamp():
                        spans.append((max(t, opens.timestamp()), min(t + size, closes.timestamp())))
                    t += size
        day += timedelta(days=1)
    spans = [(a, b) for a, b in spans if b > query.start]
    if size > 86_400:
        spans = _group(spans, size)
    return spans


def _group(days: list[tuple[float, float]], size: int) -> list[tuple[float, float]]:
    """Daily spans merged into weeks (from Monday) or months."""
    groups: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for start, end in days:
        moment = datetime.fromtimestamp(start, EXCHANGE_ZONE)
        key = moment.isocalendar()[:2] if size == 604_800 else (moment.year, moment.month)
        groups.setdefault(key, []).append((start, end))
    return [(spans[0][0], spans[-1][1]) for spans in groups.values()]


def bars(path: PricePath, instrument: Instrument, query: BarQuery) -> list[Bar]:
    """The bars of a validated query, from the shared price path."""
    result = []
    half_spread = instrument.min_tick * 1.5
    for start, end in _windows(query, instrument):
        samples = [path.mid(instrument.con_id, instrument.start_price, start + (end - start) * k / 6)
                   for k in range(7)]
        shift = {"BID": -half_spread, "ASK": half_spread}.get(query.what, 0.0)
        prices = [round_to_tick(p + shift, instrument) for p in samples]
        o, c, h, lo = prices[0], prices[-1], max(prices), min(prices)
        if query.what == "BID_ASK":
            o, c = round_to_tick(samples[0] - half_spread, instrument), round_to_tick(samples[-1] + half_spread, instrument)
            h, lo = max(h, o, c), min(lo, o, c)
        if query.what in ("HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY"):
            level = 0.25 + 10 * abs(samples[-1] - samples[0]) / samples[0]
            o = h = lo = c = round(level, 4)
        volume, count, wap = -1.0, -1, -1.0
        if query.what in ("TRADES", "ADJUSTED_LAST"):
            share = (end - start) / 23_400
            volume = float(int(instrument.daily_volume * share * path.volume_factor(instrument.con_id, start)))
            count = max(1, int(volume // 250))
            wap = round(sum(samples) / len(samples), instrument.price_decimals + 2)
        result.append(Bar(start, o, h, lo, c, volume, wap, count))
    return result


def format_time(epoch: float, bar_seconds: int, format_date: int) -> str:
    """A bar's time as TWS writes it: a date for daily bars, epoch seconds, or the login's local time."""
    if bar_seconds >= 86_400:
        return f"{datetime.fromtimestamp(epoch, EXCHANGE_ZONE):%Y%m%d}"
    if format_date == 2:
        return str(int(epoch))
    name, zone = login_zone()
    return f"{datetime.fromtimestamp(epoch, zone):%Y%m%d %H:%M:%S} {name}"


def head_timestamp(instrument: Instrument, format_date: int) -> str:
    day = datetime.strptime(instrument.listed_since, "%Y%m%d").replace(hour=14, minute=30, tzinfo=timezone.utc)
    return str(int(day.timestamp())) if format_date == 2 else f"{day:%Y%m%d-%H:%M:%S}"

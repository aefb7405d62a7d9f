"""A pure, seeded market: a random walk per instrument, quotes and historical bars.

Nothing here knows about sockets or time passing: the caller decides when to
``step`` and passes the clock's "now" for bars. All randomness comes from the
injected :class:`random.Random`, so a seed reproduces the same prices.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from services.gateway_sim.catalog import Instrument

# Per-step volatility of the mid price: 4 bp, so a few hundred steps move a stock
# by around one percent, which looks like an ordinary trading day.
STEP_VOLATILITY = 0.0004
MAX_SPREAD_TICKS = 3
MAX_BARS = 1000


@dataclass(frozen=True)
class Quote:
    """The top of book and the day's statistics for one instrument."""

    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int
    open: float
    high: float
    low: float
    close: float  # the previous session's close


@dataclass(frozen=True)
class Bar:
    """One historical bar; ``time`` is the bar's start."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    average: float
    trade_count: int


def round_to_tick(price: float, instrument: Instrument) -> float:
    """Snap a price to the instrument's minimum tick, keeping it positive."""
    ticks = max(1, round(price / instrument.min_tick))
    return round(ticks * instrument.min_tick, instrument.price_decimals)


class MarketModel:
    """Every instrument's current quote; ``step`` advances the random walk of the ones asked for."""

    def __init__(self, rng: random.Random, volatility: float = STEP_VOLATILITY):
        self._rng = rng
        self._volatility = volatility
        self._quotes: dict[Instrument, Quote] = {}
        self._mids: dict[Instrument, float] = {}

    def quote(self, instrument: Instrument) -> Quote:
        """The instrument's current quote (the opening one if it never stepped)."""
        if instrument not in self._quotes:
            self._mids[instrument] = instrument.start_price
            self._quotes[instrument] = self._opening_quote(instrument)
        return self._quotes[instrument]

    def step(self, instruments: Iterable[Instrument]) -> dict[Instrument, Quote]:
        """Move each instrument one random-walk step; return the new quotes."""
        return {instrument: self._advance(instrument) for instrument in instruments}

    def _opening_quote(self, instrument: Instrument) -> Quote:
        mid = instrument.start_price
        bid, ask = self._spread_around(mid, instrument)
        last = round_to_tick(mid, instrument)
        # The previous close sits a little away from today's open, like a real overnight gap.
        close = round_to_tick(mid * (1 + self._rng.uniform(-0.01, 0.01)), instrument)
        # The session is already under way: some volume has traded before the first subscriber.
        volume = self._rng.randint(1_000, 50_000) * instrument.lot_size
        return Quote(bid, ask, last, self._book_size(instrument), self._book_size(instrument), 0, volume,
                     open=last, high=max(last, ask), low=min(last, bid), close=close)

    def _advance(self, instrument: Instrument) -> Quote:
        previous = self.quote(instrument)
        mid = self._mids[instrument] * math.exp(self._rng.gauss(0.0, self._volatility))
        self._mids[instrument] = mid
        bid, ask = self._spread_around(mid, instrument)
        traded = self._rng.random() < 0.7
        last = self._rng.choice((bid, ask)) if traded else previous.last
        last_size = self._trade_size(instrument) if traded else previous.last_size
        updated = Quote(bid, ask, last, self._book_size(instrument), self._book_size(instrument), last_size,
                        previous.volume + (last_size if traded else 0), previous.open,
                        max(previous.high, last), min(previous.low, last), previous.close)
        self._quotes[instrument] = updated
        return updated

    def _spread_around(self, mid: float, instrument: Instrument) -> tuple[float, float]:
        spread_ticks = self._rng.randint(1, MAX_SPREAD_TICKS)
        bid = round_to_tick(mid - spread_ticks * instrument.min_tick / 2, instrument)
        ask = round(bid + spread_ticks * instrument.min_tick, instrument.price_decimals)
        return bid, ask

    def _book_size(self, instrument: Instrument) -> int:
        return self._rng.randint(1, 20) * instrument.lot_size

    def _trade_size(self, instrument: Instrument) -> int:
        return self._rng.randint(1, 5) * instrument.lot_size

    def history(self, instrument: Instrument, end: datetime, bar_seconds: int, count: int) -> list[Bar]:
        """``count`` bars of ``bar_seconds`` each, ending at ``end`` and at the current price.

        The walk is generated backwards from the current quote with a child
        generator, so a history request does not shift the live tick stream.
        """
        rng = random.Random(self._rng.random())
        count = max(1, min(count, MAX_BARS))
        close = self.quote(instrument).last
        scale = self._volatility * math.sqrt(max(1.0, bar_seconds / 0.25))
        bars: list[Bar] = []
        start = end - timedelta(seconds=bar_seconds * count)
        for index in reversed(range(count)):
            open_ = round_to_tick(close * math.exp(rng.gauss(0.0, scale)), instrument)
            high = round_to_tick(max(open_, close) * (1 + abs(rng.gauss(0.0, scale / 2))), instrument)
            low = round_to_tick(min(open_, close) * (1 - abs(rng.gauss(0.0, scale / 2))), instrument)
            trades = rng.randint(1, 200)
            volume = trades * rng.randint(1, 3) * instrument.lot_size
            average = round((open_ + high + low + close) / 4, instrument.price_decimals + 2)
            bars.append(Bar(start + timedelta(seconds=bar_seconds * index), open_, high, low, close,
                            volume, average, trades))
            close = open_
        bars.reverse()
        return bars


# --- the text formats of reqHistoricalData ----------------------------------------------

_DURATION_UNITS = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 30 * 86_400, "Y": 365 * 86_400}
_BAR_UNITS = {"sec": 1, "secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600,
              "day": 86_400, "days": 86_400, "week": 7 * 86_400, "weeks": 7 * 86_400,
              "month": 30 * 86_400, "months": 30 * 86_400}
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_BAR_SIZE = re.compile(r"^\s*(\d+)\s+([a-z]+)\s*$")


def parse_duration(text: str) -> int | None:
    """``"30 S"`` -> 30, ``"2 D"`` -> 172800; ``None`` for anything else."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) <= 0:
        return None
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_bar_size(text: str) -> int | None:
    """``"5 secs"`` -> 5, ``"1 hour"`` -> 3600; ``None`` for anything else."""
    match = _BAR_SIZE.match(text)
    if not match or match.group(2) not in _BAR_UNITS or int(match.group(1)) <= 0:
        return None
    return int(match.group(1)) * _BAR_UNITS[match.group(2)]


def format_bar_time(moment: datetime, bar_seconds: int, format_date: int) -> str:
    """A bar's date the way TWS writes it: epoch seconds (formatDate 2), a day, or a zoned time."""
    if format_date == 2:
        return str(int(moment.timestamp()))
    if bar_seconds >= 86_400:
        return f"{moment:%Y%m%d}"
    return f"{moment:%Y%m%d %H:%M:%S} UTC"

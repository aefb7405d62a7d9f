"""The live market: each instrument's quote, trades and the day's statistics, stepped in time.

Pure: the caller passes "now" (epoch seconds) and the seeded generator; the mid price comes from
the shared :class:`~.prices.PricePath`, so the stream agrees with historical bars. What moves
and what does not is modelled on IB's feed: the book's prices move only when the mid crosses a
tick, sizes change on their own, and LAST, LAST_SIZE and VOLUME change only when a trade prints.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Iterable

from services.gateway_sim.calendar import session_bounds
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.prices import PricePath

MAX_SPREAD_TICKS = 3
TRADES_PER_SECOND = 1.5


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
    last_time: int = 0  # epoch seconds of the last trade
    trades: int = 0  # trades printed today
    turnover: float = 0.0  # price x size summed today (for VWAP)

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def vwap(self) -> float:
        return self.turnover / self.volume if self.volume else self.last


@dataclass(frozen=True)
class Trade:
    """One print on the tape."""

    price: float
    size: int
    time: float


def round_to_tick(price: float, instrument: Instrument) -> float:
    """Snap a price to the instrument's minimum tick, keeping it positive."""
    ticks = max(1, round(price / instrument.min_tick))
    return round(ticks * instrument.min_tick, instrument.price_decimals)


class MarketModel:
    """Every instrument's current quote; ``step`` advances the ones asked for to ``now``."""

    def __init__(self, path: PricePath, rng: random.Random):
        self.path = path
        self._rng = rng
        self._quotes: dict[Instrument, Quote] = {}
        self._times: dict[Instrument, float] = {}

    def mid(self, instrument: Instrument, t: float) -> float:
        return self.path.mid(instrument.con_id, instrument.start_price, t)

    def quote(self, instrument: Instrument, now: float) -> Quote:
        """The instrument's current quote (the opening picture if it never stepped)."""
        quote = self._quotes.get(instrument)
        if quote is None:
            quote = self._quotes[instrument] = self._opening_quote(instrument, now)
            self._times[instrument] = now
        return quote

    def known(self, instrument: Instrument) -> Quote | None:
        """The last quote without creating one."""
        return self._quotes.get(instrument)

    def step(self, instruments: Iterable[Instrument], now: float) -> dict[Instrument, tuple[Quote, list[Trade]]]:
        """Move each instrument to ``now``; return its new quote and the trades printed since."""
        return {instrument: self._advance(instrument, now) for instrument in instruments}

    def print_trade(self, instrument: Instrument, price: float, size: int, now: float) -> Quote:
        """A fill of ours prints on the tape too: LAST, size and volume follow it."""
        quote = self.quote(instrument, now)
        if instrument.is_forex:
            return quote
        updated = self._with_trade(quote, Trade(price, size, now))
        self._quotes[instrument] = updated
        return updated

    def take_liquidity(self, instrument: Instrument, buying: bool, size: int) -> None:
        """Shrink the displayed size a fill consumed (the rest of a large order waits for new size)."""
        quote = self._quotes.get(instrument)
        if quote is None:
            return
        if buying:
            self._quotes[instrument] = replace(quote, ask_size=max(0, quote.ask_size - size))
        else:
            self._quotes[instrument] = replace(quote, bid_size=max(0, quote.bid_size - size))

    # --- internals ---------------------------------------------------------------------

    def _opening_quote(self, instrument: Instrument, now: float) -> Quote:
        bid, ask = self._book(self.mid(instrument, now), instrument)
        opened, previous_close = session_bounds(now)
        open_price = round_to_tick(self.mid(instrument, opened), instrument)
        close = round_to_tick(self.mid(instrument, previous_close), instrument)
        samples = [self.mid(instrument, opened + (now - opened) * k / 24) for k in range(25)] if now > opened \
            else [self.mid(instrument, now)]
        high = round_to_tick(max(samples), instrument)
        low = round_to_tick(min(samples), instrument)
        last = round_to_tick(samples[-1], instrument)
        if instrument.is_forex:
            return Quote(bid, ask, 0.0, self._book_size(instrument), self._book_size(instrument), 0, 0,
                         open_price, max(high, ask), min(low, bid), close)
        elapsed = max(0.0, min(1.0, (now - opened) / 23_400))
        volume = int(instrument.daily_volume * elapsed * self.path.volume_factor(instrument.con_id, now))
        volume -= volume % instrument.lot_size
        trades = volume // (3 * instrument.lot_size)
        return Quote(bid, ask, last, self._book_size(instrument), self._book_size(instrument),
                     instrument.lot_size, volume, open_price, max(high, last), min(low, last), close,
                     last_time=int(now), trades=trades, turnover=volume * (open_price + last) / 2)

    def _advance(self, instrument: Instrument, now: float) -> tuple[Quote, list[Trade]]:
        previous = self.quote(instrument, now)
        elapsed = max(0.0, now - self._times.get(instrument, now))
        self._times[instrument] = now
        bid, ask = self._book(self.mid(instrument, now), instrument, previous)
        rng = self._rng
        bid_size = previous.bid_size if rng.random() < 0.6 and bid == previous.bid and previous.bid_size \
            else self._book_size(instrument)
        ask_size = previous.ask_size if rng.random() < 0.6 and ask == previous.ask and previous.ask_size \
            else self._book_size(instrument)
        quote = replace(previous, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size)
        trades: list[Trade] = []
        if not instrument.is_forex:
            rate = TRADES_PER_SECOND * self.path.volume_factor(instrument.con_id, now)
            if rng.random() < 1.0 - math.exp(-rate * elapsed):
                trade = Trade(rng.choice((bid, ask)), rng.randint(1, 5) * instrument.lot_size, now)
                trades.append(trade)
                quote = self._with_trade(quote, trade)
        self._quotes[instrument] = quote
        return quote, trades

    @staticmethod
    def _with_trade(quote: Quote, trade: Trade) -> Quote:
        return replace(quote, last=trade.price, last_size=trade.size, volume=quote.volume + trade.size,
                       high=max(quote.high, trade.price), low=min(quote.low, trade.price),
                       last_time=int(trade.time), trades=quote.trades + 1,
                       turnover=quote.turnover + trade.price * trade.size)

    def _book(self, mid: float, instrument: Instrument, previous: Quote | None = None) -> tuple[float, float]:
        """Bid and ask around ``mid``; the spread is kept while the mid stays inside it."""
        tick = instrument.min_tick
        if previous is not None and previous.bid < mid < previous.ask:
            return previous.bid, previous.ask
        spread_ticks = self._rng.randint(1, MAX_SPREAD_TICKS)
        bid = round_to_tick(mid - spread_ticks * tick / 2, instrument)
        ask = round(bid + spread_ticks * tick, instrument.price_decimals)
        return bid, ask

    def _book_size(self, instrument: Instrument) -> int:
        return self._rng.randint(1, 20) * instrument.display_lot

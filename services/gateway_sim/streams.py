"""What each kind of subscription sends as the market moves: only what changed, as IB does.

A :class:`MarketDataLine` (reqMktData) remembers the last value it sent for every tick type and
sends a tick only when that value changes: a size-only change is a tickSize, a new price is a
tickPrice with its size; LAST, LAST_SIZE, VOLUME and the last timestamp move only on trades,
HIGH and LOW only when the tape makes them. Delayed data (types 3 and 4) uses the delayed ids.
Forex has no LAST and no volume, and its sizes are in units of the base currency.

The other streams (tick-by-tick, depth, 5-second bars) are small classes of the same shape:
``opening`` frames when subscribed, ``update`` frames per market step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ibproto.ticks import SIZE_OF, Tick, for_data_type
from services.gateway_sim import messages
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.market import Quote, Trade

# Generic ticks the simulator serves (reqMktData's genericTickList), by the tick they add.
GENERIC_TICKS = {"100", "101", "104", "106", "165", "221", "225", "233", "236", "256", "258", "293", "294", "295",
                 "318", "375", "411", "456", "588", "595", "619"}
EXCHANGE = "Q"  # NASDAQ's letter, what BID_EXCH/ASK_EXCH/LAST_EXCH carry for the listed stocks


@dataclass
class MarketDataLine:
    request_id: int
    instrument: Instrument
    data_type: int = 1
    generic: frozenset[str] = frozenset()
    sent: dict[int, object] = field(default_factory=dict)

    def _id(self, tick: Tick) -> int:
        return for_data_type(tick, self.data_type)

    def _size(self, size: float) -> str:
        return messages.size_text(size)

    def opening(self, quote: Quote, now: float) -> list[bytes]:
        """The full picture a new subscription starts with, then the extra and generic ticks."""
        frames = self.update(quote, [], now, opening=True)
        rid, price = self.request_id, messages.price_text
        for tick, value in ((Tick.HIGH, quote.high), (Tick.LOW, quote.low), (Tick.CLOSE, quote.close),
                            (Tick.OPEN, quote.open)):
            if value:
                frames.append(messages.tick_price(rid, self._id(tick), price(value, self.instrument), 0))
                self.sent[tick] = value
        if not self.instrument.is_forex:
            frames += [messages.tick_string(rid, Tick.BID_EXCH, EXCHANGE), messages.tick_string(rid, Tick.ASK_EXCH, EXCHANGE),
                       messages.tick_string(rid, Tick.LAST_EXCH, EXCHANGE),
                       messages.tick_string(rid, self._id(Tick.LAST_TIMESTAMP), str(quote.last_time))]
        frames.append(messages.tick_generic(rid, Tick.HALTED, 0))
        frames += self._generic(quote)
        return frames

    def _generic(self, quote: Quote) -> list[bytes]:
        rid, price, instrument = self.request_id, messages.price_text, self.instrument
        frames: list[bytes] = []
        if "165" in self.generic:
            for tick, factor in ((Tick.LOW_13_WEEK, 0.9), (Tick.HIGH_13_WEEK, 1.1), (Tick.LOW_26_WEEK, 0.85),
                                 (Tick.HIGH_26_WEEK, 1.15), (Tick.LOW_52_WEEK, 0.75), (Tick.HIGH_52_WEEK, 1.25)):
                frames.append(messages.tick_price(rid, tick, price(quote.close * factor, instrument), 0))
            frames.append(messages.tick_size(rid, Tick.AVG_VOLUME, instrument.daily_volume))
        if "104" in self.generic:
            frames.append(messages.tick_generic(rid, Tick.OPTION_HISTORICAL_VOL, 0.27))
        if "106" in self.generic:
            frames.append(messages.tick_generic(rid, Tick.OPTION_IMPLIED_VOL, 0.3))
        if "236" in self.generic:
            frames.append(messages.tick_generic(rid, Tick.SHORTABLE, 3.0))
            frames.append(messages.tick_size(rid, Tick.SHORTABLE_SHARES, 10_000_000))
        if "411" in self.generic:
            frames.append(messages.tick_generic(rid, Tick.RT_HISTORICAL_VOL, 0.25))
        if "456" in self.generic:
            frames.append(messages.tick_string(rid, Tick.IB_DIVIDENDS, "0.96,1.04,20260212,0.26"))
        return frames

    def update(self, quote: Quote, trades: list[Trade], now: float, opening: bool = False) -> list[bytes]:
        """Ticks for what changed since the last frames sent."""
        frames: list[bytes] = []
        rid, instrument, sent = self.request_id, self.instrument, self.sent
        sides = [(Tick.BID, quote.bid, quote.bid_size), (Tick.ASK, quote.ask, quote.ask_size)]
        if not instrument.is_forex and (trades or opening) and quote.last:
            sides.append((Tick.LAST, quote.last, quote.last_size))
        for tick, price, size in sides:
            size_tick = SIZE_OF[tick]
            if price != sent.get(tick) or tick is Tick.LAST:
                frames.append(messages.tick_price(rid, self._id(tick), messages.price_text(price, instrument),
                                                  self._size(size)))
                sent[tick], sent[size_tick] = price, size
            elif size != sent.get(size_tick):
                frames.append(messages.tick_size(rid, self._id(size_tick), self._size(size)))
                sent[size_tick] = size
        if instrument.is_forex:
            return frames
        if trades or opening:
            if quote.volume != sent.get(Tick.VOLUME):
                frames.append(messages.tick_size(rid, self._id(Tick.VOLUME), quote.volume))
                sent[Tick.VOLUME] = quote.volume
            if not opening:
                frames.append(messages.tick_string(rid, self._id(Tick.LAST_TIMESTAMP), str(quote.last_time)))
            if "233" in self.generic and trades:
                last = trades[-1]
                frames.append(messages.tick_string(rid, Tick.RT_VOLUME, f"{messages.price_text(last.price, instrument)};"
                                                   f"{last.size};{int(last.time * 1000)};{quote.volume};"
                                                   f"{quote.vwap:.4f};false"))
        for tick, value in ((Tick.HIGH, quote.high), (Tick.LOW, quote.low)):
            if not opening and value != sent.get(tick):
                frames.append(messages.tick_price(rid, self._id(tick), messages.price_text(value, instrument), 0))
                sent[tick] = value
        return frames


@dataclass
class TickByTickLine:
    request_id: int
    instrument: Instrument
    kind: str  # Last, AllLast, BidAsk, MidPoint
    last: tuple = ()

    def update(self, quote: Quote, trades: list[Trade], now: float) -> list[bytes]:
        price, rid, instrument = messages.price_text, self.request_id, self.instrument
        if self.kind in ("Last", "AllLast"):
            return [messages.tick_by_tick_last(rid, 1 if self.kind == "Last" else 2, int(t.time),
                                               price(t.price, instrument), messages.size_text(t.size), "NASDAQ")
                    for t in trades]
        if self.kind == "BidAsk":
            state = (quote.bid, quote.ask, quote.bid_size, quote.ask_size)
            if state == self.last:
                return []
            self.last = state
            return [messages.tick_by_tick_bid_ask(rid, int(now), price(quote.bid, instrument),
                                                  price(quote.ask, instrument), messages.size_text(quote.bid_size),
                                                  messages.size_text(quote.ask_size))]
        mid = round(quote.mid, instrument.price_decimals + 1)
        if (mid,) == self.last:
            return []
        self.last = (mid,)
        return [messages.tick_by_tick_mid(rid, int(now), f"{mid}")]


@dataclass
class DepthLine:
    """A five-level book around the touch; each step updates every level (operation 1)."""

    request_id: int
    instrument: Instrument
    rows: int
    smart: bool
    opened: bool = False

    def update(self, quote: Quote, trades: list[Trade], now: float) -> list[bytes]:
        frames = []
        operation = 1 if self.opened else 0
        self.opened = True
        tick = self.instrument.min_tick
        for level in range(self.rows):
            for side, base, size, direction in ((1, quote.bid, quote.bid_size, -1), (0, quote.ask, quote.ask_size, 1)):
                price = messages.price_text(base + direction * level * tick, self.instrument)
                frames.append(messages.depth_update(self.request_id, level, operation, side, price,
                                                    messages.size_text(size * (level + 1)),
                                                    "NSDQ" if self.smart else "", self.smart))
        return frames


@dataclass
class RealTimeBars:
    """5-second bars, sent when a bar's interval is over."""

    request_id: int
    instrument: Instrument
    what: str
    start: float = 0.0
    prices: list[float] = field(default_factory=list)
    volume: int = 0

    def update(self, quote: Quote, trades: list[Trade], now: float) -> list[bytes]:
        frames: list[bytes] = []
        bucket = now - now % 5
        if self.start and bucket > self.start and self.prices:
            p = self.prices
            text = messages.price_text
            prices = (text(p[0], self.instrument), text(max(p), self.instrument), text(min(p), self.instrument),
                      text(p[-1], self.instrument))
            wap = f"{sum(p) / len(p):.{self.instrument.price_decimals + 2}f}"
            count = len(trades) if self.what == "TRADES" else -1
            volume = str(self.volume) if self.what == "TRADES" else "-1"
            frames.append(messages.real_time_bar(self.request_id, int(self.start), prices, volume, wap, count))
            self.prices = []
            self.volume = 0
        if not self.start or bucket > self.start:
            self.start = bucket
        value = {"BID": quote.bid, "ASK": quote.ask}.get(self.what, quote.mid if self.what == "MIDPOINT" or not quote.last
                                                          else quote.last)
        self.prices.append(value)
        self.volume += sum(t.size for t in trades)
        return frames

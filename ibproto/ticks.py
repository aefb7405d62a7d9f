"""Tick type ids of reqMktData, and their delayed counterparts (market data types 3 and 4)."""

from __future__ import annotations

import enum


class Tick(enum.IntEnum):
    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    HIGH = 6
    LOW = 7
    VOLUME = 8
    CLOSE = 9
    OPEN = 14
    LOW_13_WEEK = 15
    HIGH_13_WEEK = 16
    LOW_26_WEEK = 17
    HIGH_26_WEEK = 18
    LOW_52_WEEK = 19
    HIGH_52_WEEK = 20
    AVG_VOLUME = 21
    OPTION_HISTORICAL_VOL = 23
    OPTION_IMPLIED_VOL = 24
    BID_EXCH = 32
    ASK_EXCH = 33
    SHORTABLE = 46
    RT_VOLUME = 48
    HALTED = 49
    LAST_TIMESTAMP = 45
    TRADE_COUNT = 54
    TRADE_RATE = 55
    VOLUME_RATE = 56
    RT_HISTORICAL_VOL = 58
    IB_DIVIDENDS = 59
    DELAYED_BID = 66
    DELAYED_ASK = 67
    DELAYED_LAST = 68
    DELAYED_BID_SIZE = 69
    DELAYED_ASK_SIZE = 70
    DELAYED_LAST_SIZE = 71
    DELAYED_HIGH = 72
    DELAYED_LOW = 73
    DELAYED_VOLUME = 74
    DELAYED_CLOSE = 75
    DELAYED_OPEN = 76
    DELAYED_LAST_TIMESTAMP = 88
    LAST_EXCH = 84
    SHORTABLE_SHARES = 89


_DELAYED = {
    Tick.BID: Tick.DELAYED_BID, Tick.ASK: Tick.DELAYED_ASK, Tick.LAST: Tick.DELAYED_LAST,
    Tick.BID_SIZE: Tick.DELAYED_BID_SIZE, Tick.ASK_SIZE: Tick.DELAYED_ASK_SIZE,
    Tick.LAST_SIZE: Tick.DELAYED_LAST_SIZE, Tick.HIGH: Tick.DELAYED_HIGH, Tick.LOW: Tick.DELAYED_LOW,
    Tick.VOLUME: Tick.DELAYED_VOLUME, Tick.CLOSE: Tick.DELAYED_CLOSE, Tick.OPEN: Tick.DELAYED_OPEN,
    Tick.LAST_TIMESTAMP: Tick.DELAYED_LAST_TIMESTAMP,
}

# The size tick that goes with each price tick in a tickPrice message.
SIZE_OF = {Tick.BID: Tick.BID_SIZE, Tick.ASK: Tick.ASK_SIZE, Tick.LAST: Tick.LAST_SIZE}

# Market data types (reqMarketDataType): live, frozen, delayed, delayed-frozen.
REALTIME, FROZEN, DELAYED, DELAYED_FROZEN = 1, 2, 3, 4


def for_data_type(tick: Tick, data_type: int) -> int:
    """The id a tick is sent under: its delayed twin for types 3 and 4, itself otherwise."""
    if data_type in (DELAYED, DELAYED_FROZEN):
        return int(_DELAYED.get(tick, tick))
    return int(tick)

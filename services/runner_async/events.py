"""The events the trader publishes, built from plain values (tested without ib_async or sockets).

Every event is a JSON object with a ``type``:

* ``tick``:     ``{"type": "tick", "symbol", "bid", "ask", "last", "time"}``; a price IB
                has not sent (NaN, or IB's -1 marker) is ``null``; ``time`` is ISO 8601 UTC,
                the moment the trader received the update.
* ``status``:   ``{"type": "status", "state", "time", ...details}``; states: ``connecting``,
                ``connected``, ``subscribed``, ``reconnecting``, ``gateway_notice``, ``stopping``.
* ``position``: ``{"type": "position", "account", "symbol", "position", "avg_cost", "time"}``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from stackkit.symbols import validate_symbols  # the same rule as stack.yaml and `robostack up`

# IB sends -1 for "no price" (e.g. no bid outside market hours).
_IB_NO_PRICE = -1.0


def clean_price(value: float | None) -> float | None:
    """A price as JSON can carry it: NaN, None and IB's -1 marker become None."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number == _IB_NO_PRICE:
        return None
    return number


def iso_time(moment: datetime | None) -> str:
    """ISO 8601 in UTC with microseconds; a naive datetime is taken as UTC."""
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def tick_event(symbol: str, bid: float | None, ask: float | None, last: float | None,
               moment: datetime | None) -> dict[str, Any] | None:
    """A tick, or None when IB has sent no price at all yet (nothing worth publishing)."""
    prices = [clean_price(bid), clean_price(ask), clean_price(last)]
    if all(price is None for price in prices):
        return None
    return {"type": "tick", "symbol": symbol, "bid": prices[0], "ask": prices[1], "last": prices[2],
            "time": iso_time(moment)}


def status_event(state: str, moment: datetime | None = None, **details: Any) -> dict[str, Any]:
    """A state change of the trader, with whatever details explain it."""
    return {"type": "status", "state": state, "time": iso_time(moment), **details}


def position_event(account: str, symbol: str, position: float, avg_cost: float,
                   moment: datetime | None = None) -> dict[str, Any]:
    """One position of the account, as IB reports it."""
    return {"type": "position", "account": account, "symbol": symbol, "position": float(position),
            "avg_cost": clean_price(avg_cost), "time": iso_time(moment)}


def encode(event: dict[str, Any]) -> str:
    """Compact JSON; NaN is never emitted (it is not JSON)."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def parse_symbols(text: str) -> list[str]:
    """``AAPL,nvda, TSLA`` -> ``["AAPL", "NVDA", "TSLA"]``; empties, bad characters and duplicates refused.

    Raises ValueError naming the offending symbol.
    """
    return validate_symbols(text.split(","))

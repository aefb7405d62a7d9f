"""The events the trader publishes, built from plain values (tested without ib_async or sockets).

Every event is a JSON object with a ``type``:

* ``tick``:     ``{"type": "tick", "symbol", "bid", "ask", "last", "time"}``; a price IB
                has not sent (NaN, or IB's -1 marker) is ``null``; ``time`` is ISO 8601 UTC,
                the moment the trader received the update.
* ``status``:   ``{"type": "status", "state", "time", ...details}``; states: ``connecting``,
                ``connected``, ``subscribed``, ``reconnecting``, ``gateway_notice``, ``resubscribed``
                (after a 1101), ``data_stalled`` / ``data_flowing`` (with ``--data-timeout``),
                ``stopping``. ``gateway_notice``, ``data_stalled`` and ``data_flowing`` carry the
                Gateway's state as the notices tell it: ``farms_broken`` (names), ``connectivity``
                (``ok``/``lost``), ``competing_session`` and ``read_only`` (booleans).
* ``position``: ``{"type": "position", "account", "symbol", "position", "avg_cost", "time"}``.

With ``--strategy`` (paper accounts only), the trading events:

* ``order``:    ``{"type": "order", "symbol", "order_id", "action", "quantity", "order_type", "status",
                "filled", "remaining", "avg_fill_price", "reason", "time"}``; ``status`` is IB's
                (PendingSubmit, PreSubmitted, Submitted, Filled, Cancelled, Inactive) or ``Refused``
                when a risk limit stopped the order before it was sent (``reason`` says which).
* ``fill``:     ``{"type": "fill", "symbol", "order_id", "exec_id", "side", "shares", "price",
                "commission", "realized_pnl", "time"}``; ``side`` is BOT or SLD.
* ``pnl``:      ``{"type": "pnl", "account", "daily", "unrealized", "realized", "time"}``.
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


def order_event(symbol: str, order_id: int, action: str, quantity: float, order_type: str, status: str,
                filled: float, remaining: float, avg_fill_price: float, reason: str = "",
                moment: datetime | None = None) -> dict[str, Any]:
    """An order of the strategy changed state (Submitted, Filled, Cancelled, or refused by risk)."""
    return {"type": "order", "symbol": symbol, "order_id": order_id, "action": action, "quantity": float(quantity),
            "order_type": order_type, "status": status, "filled": float(filled), "remaining": float(remaining),
            "avg_fill_price": clean_price(avg_fill_price) if filled else None, "reason": reason,
            "time": iso_time(moment)}


def fill_event(symbol: str, order_id: int, exec_id: str, side: str, shares: float, price: float,
               commission: float | None, realized_pnl: float | None, moment: datetime | None = None) -> dict[str, Any]:
    """One execution; ``commission`` and ``realized_pnl`` are null until IB's commission report arrives."""
    return {"type": "fill", "symbol": symbol, "order_id": order_id, "exec_id": exec_id, "side": side,
            "shares": float(shares), "price": clean_price(price), "commission": clean_amount(commission),
            "realized_pnl": clean_amount(realized_pnl), "time": iso_time(moment)}


def pnl_event(account: str, daily: float | None, unrealized: float | None, realized: float | None,
              moment: datetime | None = None) -> dict[str, Any]:
    """The account's profit and loss, as reqPnL reports it (about once a second)."""
    return {"type": "pnl", "account": account, "daily": clean_amount(daily), "unrealized": clean_amount(unrealized),
            "realized": clean_amount(realized), "time": iso_time(moment)}


def clean_amount(value: float | None) -> float | None:
    """Money as JSON carries it: NaN, infinities and IB's unset marker (1.79e308) become None."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number) or abs(number) >= 1e300:
        return None
    return round(number, 6)

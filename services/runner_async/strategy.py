"""The example strategy and its hard risk limits, as plain values (tested without a Gateway).

``momentum`` (``--strategy momentum``), deliberately simple so its orders are easy to follow:

* per symbol, keep the last ``window`` mid prices (one per tick event);
* once the window is full, compare the newest mid with the window's average: more than
  ``threshold`` (a fraction, 0.0002 = 2 basis points) above it means "trend up, hold
  ``size`` shares", more than ``threshold`` below means "trend down, hold nothing"; in between,
  keep what is held;
* the difference between that target and the current position (plus orders still working) is
  sent as one market order.

Every order first passes :class:`RiskGate`: the position after the order must stay within
``max_position`` shares per symbol, and at most ``max_orders_per_minute`` orders may be sent in
any 60 seconds, across all symbols. A refused order is not sent, and the reason is reported.
The trader also refuses to trade an account that is not a paper account (``DU...``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

STRATEGIES = ("none", "momentum")
PAPER_PREFIX = "DU"


def paper_account_problem(accounts: list[str]) -> str | None:
    """``None`` when every account is a paper account; else why the strategy must not trade."""
    if not accounts:
        return "the Gateway reported no account"
    live = [account for account in accounts if not account.startswith(PAPER_PREFIX)]
    if live:
        return (f"account {live[0]} is not a paper account (paper accounts start with {PAPER_PREFIX!r}); "
                f"the example strategy trades on paper only")
    return None


@dataclass(frozen=True)
class RiskLimits:
    max_position: int = 200
    max_orders_per_minute: int = 6


@dataclass
class RiskGate:
    """Refuses any order that would break a hard limit; remembers when orders were sent."""

    limits: RiskLimits
    sent: deque[float] = field(default_factory=deque)

    def check(self, position: float, quantity: float, now: float) -> str | None:
        """``None`` if an order of signed ``quantity`` may go out now, else the reason it may not."""
        while self.sent and now - self.sent[0] >= 60.0:
            self.sent.popleft()
        if abs(position + quantity) > self.limits.max_position:
            return (f"position limit: {position:+g} {quantity:+g} would exceed {self.limits.max_position} "
                    f"shares")
        if len(self.sent) >= self.limits.max_orders_per_minute:
            return f"order rate limit: {self.limits.max_orders_per_minute} orders in the last minute"
        return None

    def record(self, now: float) -> None:
        self.sent.append(now)


@dataclass(frozen=True)
class Decision:
    symbol: str
    quantity: float  # signed: positive buys
    reason: str


@dataclass
class Momentum:
    """The ``momentum`` strategy's state; ``on_price`` returns an order to send, or ``None``."""

    size: int = 100
    window: int = 20
    threshold: float = 0.0002
    mids: dict[str, deque[float]] = field(default_factory=dict)

    def on_price(self, symbol: str, mid: float, position: float, working: float) -> Decision | None:
        history = self.mids.setdefault(symbol, deque(maxlen=self.window))
        history.append(mid)
        if len(history) < self.window:
            return None
        average = sum(history) / len(history)
        signal = (mid - average) / average
        if signal > self.threshold:
            target, why = self.size, f"mid {mid:.2f} is {signal * 1e4:.1f} bp above its {self.window}-tick average"
        elif signal < -self.threshold:
            target, why = 0, f"mid {mid:.2f} is {-signal * 1e4:.1f} bp below its {self.window}-tick average"
        else:
            return None
        quantity = target - position - working
        if quantity == 0:
            return None
        return Decision(symbol, quantity, why)

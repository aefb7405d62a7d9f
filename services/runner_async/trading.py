"""Paper trading inside the trader: the example strategy, its risk gate, and the events it publishes.

Attached to the trader's ``ib_async`` session when ``--strategy`` is not ``none``. It never
trades an account that is not a paper account (it says why, once per session, in a status
event and the log). Orders are market orders sized by the strategy and checked by the risk gate;
``order``, ``fill``, ``position`` and ``pnl`` events go to the WebSocket server.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

from ib_async import IB, MarketOrder, Ticker, Trade
from ib_async.objects import CommissionReport, Fill, PnL

from services.runner_async.events import fill_event, order_event, pnl_event, status_event
from services.runner_async.strategy import Decision, Momentum, RiskGate, RiskLimits, paper_account_problem

log = logging.getLogger("runner_async.trading")

Publish = Callable[[dict[str, Any]], None]


class PaperTrading:
    """One strategy's orders on one Gateway session at a time."""

    def __init__(self, ib: IB, publish: Publish, limits: RiskLimits, strategy: Momentum | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.ib = ib
        self.publish = publish
        self.gate = RiskGate(limits)
        self.strategy = strategy or Momentum(size=min(100, limits.max_position))
        self.clock = clock
        self.account = ""
        self.enabled = False
        self.refusal: str | None = None
        self._pnl: PnL | None = None
        self._pnl_sent = 0.0
        ib.orderStatusEvent += self._on_order_status
        ib.execDetailsEvent += self._on_fill
        ib.commissionReportEvent += self._on_commission
        ib.pnlEvent += self._on_pnl

    def start(self, accounts: list[str]) -> None:
        """A session began: trade only if every account is a paper account."""
        self.refusal = paper_account_problem(accounts)
        if self.refusal is not None:
            self.enabled = False
            log.error("not trading: %s", self.refusal)
            self.publish(status_event("trading_refused", reason=self.refusal, accounts=accounts))
            return
        self.account = accounts[0]
        self.enabled = True
        self._pnl = self.ib.reqPnL(self.account)
        log.info("paper trading on %s with the momentum strategy (max position %d, max %d orders a minute)",
                 self.account, self.gate.limits.max_position, self.gate.limits.max_orders_per_minute)
        self.publish(status_event("trading", account=self.account, strategy="momentum",
                                  max_position=self.gate.limits.max_position,
                                  max_orders_per_minute=self.gate.limits.max_orders_per_minute))

    def stop(self) -> None:
        if self.enabled and self._pnl is not None and self.ib.isConnected():
            self.ib.cancelPnL(self.account)
        self.enabled = False
        self._pnl = None

    def on_ticker(self, ticker: Ticker) -> None:
        if not self.enabled:
            return
        bid, ask = ticker.bid, ticker.ask
        if not (bid and ask) or any(math.isnan(x) or x <= 0 for x in (bid, ask)):
            return
        symbol = ticker.contract.symbol
        decision = self.strategy.on_price(symbol, (bid + ask) / 2, self._position(symbol), self._working(symbol))
        if decision is not None:
            self._send(ticker, decision)

    # --- internals ------------------------------------------------------------------------

    def _position(self, symbol: str) -> float:
        return sum(p.position for p in self.ib.positions(self.account) if p.contract.symbol == symbol)

    def _working(self, symbol: str) -> float:
        total = 0.0
        for trade in self.ib.openTrades():
            if trade.contract.symbol == symbol:
                remaining = trade.order.totalQuantity - trade.orderStatus.filled
                total += remaining if trade.order.action == "BUY" else -remaining
        return total

    def _send(self, ticker: Ticker, decision: Decision) -> None:
        now = self.clock()
        symbol, quantity = decision.symbol, decision.quantity
        action = "BUY" if quantity > 0 else "SELL"
        refusal = self.gate.check(self._position(symbol) + self._working(symbol), quantity, now)
        if refusal is not None:
            log.info("%s %g %s not sent: %s", action, abs(quantity), symbol, refusal)
            self.publish(order_event(symbol, 0, action, abs(quantity), "MKT", "Refused", 0, abs(quantity), 0.0,
                                     reason=refusal))
            return
        self.gate.record(now)
        order = MarketOrder(action, abs(quantity), account=self.account, orderRef="robostack-momentum")
        trade = self.ib.placeOrder(ticker.contract, order)
        log.info("%s %g %s (order %d): %s", action, abs(quantity), symbol, trade.order.orderId, decision.reason)
        self._on_order_status(trade, reason=decision.reason)

    def _mine(self, trade: Trade) -> bool:
        return trade.order.orderRef == "robostack-momentum"

    def _on_order_status(self, trade: Trade, reason: str = "") -> None:
        if not self._mine(trade):
            return
        status = trade.orderStatus
        self.publish(order_event(trade.contract.symbol, trade.order.orderId, trade.order.action,
                                 trade.order.totalQuantity, trade.order.orderType, status.status, status.filled,
                                 status.remaining, status.avgFillPrice, reason=reason))

    def _on_fill(self, trade: Trade, fill: Fill) -> None:
        if self._mine(trade):
            execution = fill.execution
            self.publish(fill_event(trade.contract.symbol, execution.orderId, execution.execId, execution.side,
                                    execution.shares, execution.price, None, None, fill.time))

    def _on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        if self._mine(trade):
            execution = fill.execution
            self.publish(fill_event(trade.contract.symbol, execution.orderId, execution.execId, execution.side,
                                    execution.shares, execution.price, report.commission, report.realizedPNL,
                                    fill.time))

    def _on_pnl(self, pnl: PnL) -> None:
        now = self.clock()
        if now - self._pnl_sent < 1.0:
            return
        self._pnl_sent = now
        self.publish(pnl_event(pnl.account, pnl.dailyPnL, pnl.unrealizedPnL, pnl.realizedPnL))

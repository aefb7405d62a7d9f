"""The paper account every client sees: positions, cash and everything derived from them.

Pure: fills come in (from the execution engine), prices come in (from the market), and account
values, portfolio lines and PnL come out, so positions, portfolio, account summary and PnL
always agree. Daily PnL is measured against the account's value when the day's first valuation
was made (a Gateway resets it at its daily restart). The state round-trips through plain data
(:meth:`PaperAccount.to_state`) so the simulator can keep it across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from services.gateway_sim.catalog import Instrument, instrument_by_symbol

DEFAULT_ACCOUNT = "DU1234567"
STARTING_CASH = 1_000_000.00
MARGIN_RATE = 0.25

PriceOf = Callable[[Instrument], float]


@dataclass
class Holding:
    """A position in the account; ``average_cost`` includes commissions, as IB reports it."""

    instrument: Instrument
    quantity: float
    average_cost: float
    realized_pnl: float = 0.0  # realized on this instrument since the simulator started


@dataclass(frozen=True)
class PortfolioLine:
    """One updatePortfolio record: a holding valued at the market price."""

    instrument: Instrument
    quantity: float
    market_price: float
    market_value: float
    average_cost: float
    unrealized_pnl: float
    realized_pnl: float


@dataclass(frozen=True)
class Pnl:
    daily: float
    unrealized: float
    realized: float


def default_holdings() -> list[Holding]:
    """The small portfolio the simulated paper account starts with."""
    return [Holding(instrument_by_symbol("AAPL"), 100, 250.00), Holding(instrument_by_symbol("NVDA"), 50, 170.00)]


def commission_for(instrument: Instrument, quantity: float, price: float) -> float:
    """IBKR Pro fixed pricing: stocks $0.005 a share (min $1, max 1% of value); forex 0.2 bp (min $2)."""
    value = abs(quantity) * price
    if instrument.is_forex:
        return round(max(2.0, value * 0.00002), 2)
    return round(min(max(1.0, 0.005 * abs(quantity)), 0.01 * value), 2)


class PaperAccount:
    """A paper account (``DU...``): holdings, cash, and realized PnL that move with fills."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT, holdings: list[Holding] | None = None,
                 cash: float = STARTING_CASH):
        self.account_id = account_id
        self._holdings: dict[Instrument, Holding] = {h.instrument: h for h in
                                                     (default_holdings() if holdings is None else holdings)}
        self.cash = cash
        self.realized_today = 0.0
        self.commissions = 0.0
        self._baseline: dict[Instrument, float] = {}  # market value of each holding at the day's start
        self._baseline_cash: float | None = None

    @property
    def holdings(self) -> list[Holding]:
        return [h for h in self._holdings.values() if h.quantity != 0]

    def holding(self, instrument: Instrument) -> Holding | None:
        return self._holdings.get(instrument)

    def position_of(self, instrument: Instrument) -> float:
        holding = self._holdings.get(instrument)
        return holding.quantity if holding else 0.0

    # --- fills ------------------------------------------------------------------------

    def apply_fill(self, instrument: Instrument, quantity: float, price: float, commission: float) -> float:
        """Book a fill (``quantity`` > 0 buys); return the PnL it realized (net of commission)."""
        holding = self._holdings.get(instrument)
        if holding is None:
            holding = self._holdings[instrument] = Holding(instrument, 0.0, 0.0)
        self.cash -= quantity * price + commission
        self.commissions += commission
        realized = -commission
        old = holding.quantity
        if old == 0 or (old > 0) == (quantity > 0):
            total = old + quantity
            holding.average_cost = (old * holding.average_cost + quantity * price + commission) / total
            holding.quantity = total
            realized = 0.0  # commission goes into the cost of an opening trade
        else:
            closing = min(abs(quantity), abs(old)) * (1 if quantity > 0 else -1)
            realized += -closing * (price - holding.average_cost)
            holding.quantity = old + quantity
            if holding.quantity == 0:
                holding.average_cost = 0.0
            elif (holding.quantity > 0) != (old > 0):  # flipped: the rest opens at this price
                holding.average_cost = price
        holding.realized_pnl += realized
        self.realized_today += realized
        return round(realized, 2)

    # --- valuation --------------------------------------------------------------------

    def portfolio(self, price_of: PriceOf) -> list[PortfolioLine]:
        """Every holding valued at ``price_of(instrument)``."""
        lines = []
        for holding in self.holdings:
            price = price_of(holding.instrument)
            value = round(holding.quantity * price, 2)
            cost = holding.quantity * holding.average_cost
            lines.append(PortfolioLine(holding.instrument, holding.quantity, price, value,
                                       round(holding.average_cost, 6), round(value - cost, 2),
                                       round(holding.realized_pnl, 2)))
        return lines

    def _mark_baseline(self, price_of: PriceOf) -> None:
        if self._baseline_cash is None:
            self._baseline_cash = self.cash
            self._baseline = {h.instrument: h.quantity * price_of(h.instrument) for h in self.holdings}

    def pnl(self, price_of: PriceOf) -> Pnl:
        """reqPnL's numbers: daily (change of net liquidation today), unrealized, realized."""
        self._mark_baseline(price_of)
        lines = self.portfolio(price_of)
        value = sum(line.market_value for line in lines) + self.cash
        start = sum(self._baseline.values()) + (self._baseline_cash or 0.0)
        return Pnl(round(value - start, 2), round(sum(line.unrealized_pnl for line in lines), 2),
                   round(self.realized_today, 2))

    def pnl_single(self, instrument: Instrument, price_of: PriceOf) -> tuple[float, Pnl, float]:
        """reqPnLSingle's numbers: position, its PnL and its market value."""
        self._mark_baseline(price_of)
        holding = self._holdings.get(instrument)
        if holding is None or holding.quantity == 0:
            realized = holding.realized_pnl if holding else 0.0
            return 0.0, Pnl(round(realized, 2), 0.0, round(realized, 2)), 0.0
        price = price_of(instrument)
        value = holding.quantity * price
        unrealized = value - holding.quantity * holding.average_cost
        daily = value - self._baseline.get(instrument, holding.quantity * holding.average_cost) + holding.realized_pnl
        return holding.quantity, Pnl(round(daily, 2), round(unrealized, 2), round(holding.realized_pnl, 2)), round(value, 2)

    def values(self, price_of: PriceOf) -> list[tuple[str, str, str]]:
        """``(key, value, currency)`` triples, as updateAccountValue and accountSummary report them."""
        gross = sum(abs(line.market_value) for line in self.portfolio(price_of))
        stock_value = sum(line.market_value for line in self.portfolio(price_of))
        net_liquidation = self.cash + stock_value
        margin = MARGIN_RATE * gross
        pnl = self.pnl(price_of)
        money = {
            "NetLiquidation": net_liquidation, "TotalCashValue": self.cash, "SettledCash": self.cash,
            "GrossPositionValue": gross, "EquityWithLoanValue": net_liquidation,
            "AvailableFunds": net_liquidation - margin, "ExcessLiquidity": net_liquidation - margin,
            "BuyingPower": 4 * (net_liquidation - margin), "MaintMarginReq": margin, "InitMarginReq": margin,
            "FullInitMarginReq": margin, "FullMaintMarginReq": margin,
            "RealizedPnL": pnl.realized, "UnrealizedPnL": pnl.unrealized,
        }
        values = [("AccountCode", self.account_id, ""), ("AccountType", "INDIVIDUAL", ""),
                  ("AccountReady", "true", ""), ("Currency", "USD", "USD")]
        values += [(key, f"{amount:.2f}", "USD") for key, amount in money.items()]
        values.append(("CashBalance", f"{self.cash:.2f}", "BASE"))
        return values

    def margin_impact(self, instrument: Instrument, quantity: float, price: float,
                      price_of: PriceOf) -> dict[str, float]:
        """whatIf: margin before, change and after, and equity with loan, for a hypothetical fill."""
        before = MARGIN_RATE * sum(abs(line.market_value) for line in self.portfolio(price_of))
        held = self.position_of(instrument)
        change = MARGIN_RATE * (abs(held + quantity) - abs(held)) * price
        equity = self.cash + sum(line.market_value for line in self.portfolio(price_of))
        return {"before": before, "change": change, "after": before + change, "equity": equity}

    # --- persistence ------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {"account": self.account_id, "cash": round(self.cash, 6),
                "positions": [{"symbol": h.instrument.display_symbol, "quantity": h.quantity,
                               "average_cost": h.average_cost, "realized": h.realized_pnl}
                              for h in self._holdings.values() if h.quantity or h.realized_pnl]}

    @classmethod
    def from_state(cls, account_id: str, state: dict[str, Any]) -> "PaperAccount":
        """Rebuild from :meth:`to_state`'s output; unknown symbols are dropped, bad numbers refused."""
        holdings = []
        for item in state.get("positions", []):
            try:
                holdings.append(Holding(instrument_by_symbol(str(item["symbol"])), float(item["quantity"]),
                                        float(item["average_cost"]), float(item.get("realized", 0.0))))
            except (KeyError, TypeError, ValueError):
                continue
        return cls(account_id, holdings, float(state.get("cash", STARTING_CASH)))

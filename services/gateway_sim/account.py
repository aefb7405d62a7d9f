"""The paper account every client sees: a few holdings, cash and the values derived from them.

Pure: prices come in (from the market model), account values and portfolio
lines come out, so the numbers stay consistent between positions,
portfolio and account summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from services.gateway_sim.catalog import Instrument, instrument_by_symbol

DEFAULT_ACCOUNT = "DU1234567"
STARTING_CASH = 1_000_000.00


@dataclass(frozen=True)
class Holding:
    """A position in the account."""

    instrument: Instrument
    quantity: float
    average_cost: float


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


def default_holdings() -> tuple[Holding, ...]:
    """The small portfolio the simulated paper account starts with."""
    return (
        Holding(instrument_by_symbol("AAPL"), 100, 250.00),
        Holding(instrument_by_symbol("NVDA"), 50, 170.00),
    )


class PaperAccount:
    """A paper account (``DU...``) with fixed holdings and cash."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT, holdings: tuple[Holding, ...] | None = None,
                 cash: float = STARTING_CASH):
        self.account_id = account_id
        self.holdings = default_holdings() if holdings is None else holdings
        self.cash = cash

    def portfolio(self, price_of: Callable[[Instrument], float]) -> list[PortfolioLine]:
        """Every holding valued at ``price_of(instrument)``."""
        lines = []
        for holding in self.holdings:
            price = price_of(holding.instrument)
            value = round(holding.quantity * price, 2)
            cost = holding.quantity * holding.average_cost
            lines.append(PortfolioLine(holding.instrument, holding.quantity, price, value,
                                       holding.average_cost, round(value - cost, 2), 0.0))
        return lines

    def values(self, price_of: Callable[[Instrument], float]) -> list[tuple[str, str, str]]:
        """``(key, value, currency)`` triples, as updateAccountValue and accountSummary report them."""
        stock_value = sum(line.market_value for line in self.portfolio(price_of))
        net_liquidation = self.cash + stock_value
        money = {
            "NetLiquidation": net_liquidation,
            "TotalCashValue": self.cash,
            "GrossPositionValue": stock_value,
            "AvailableFunds": net_liquidation - 0.25 * stock_value,
            "ExcessLiquidity": net_liquidation - 0.25 * stock_value,
            "BuyingPower": 4 * (net_liquidation - 0.25 * stock_value),
            "MaintMarginReq": 0.25 * stock_value,
            "InitMarginReq": 0.25 * stock_value,
        }
        values = [("AccountCode", self.account_id, ""), ("AccountType", "INDIVIDUAL", ""),
                  ("Currency", "USD", "USD")]
        values += [(key, f"{amount:.2f}", "USD") for key, amount in money.items()]
        values.append(("CashBalance", f"{self.cash:.2f}", "BASE"))
        return values

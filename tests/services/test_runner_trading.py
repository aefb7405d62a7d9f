"""The trader's paper trading: the example strategy and its risk limits on values, then end to end with
real processes (simulator -> trader --strategy momentum -> WebSocket server -> a real subscriber)."""

from __future__ import annotations

from services.runner_async.events import fill_event, order_event, pnl_event
from services.runner_async.strategy import Momentum, RiskGate, RiskLimits, paper_account_problem
from tests.helpers import read_line_matching
from tests.services.test_runner_async import FAST_TICKS, collect, has_status, start_trader, subscribed_subscriber


def test_only_paper_accounts_may_trade():
    assert paper_account_problem(["DU1234567"]) is None
    assert "U7654321 is not a paper account" in paper_account_problem(["DU1", "U7654321"])
    assert paper_account_problem([]) == "the Gateway reported no account"


def test_risk_gate_holds_the_position_and_the_order_rate():
    gate = RiskGate(RiskLimits(max_position=200, max_orders_per_minute=2))
    assert gate.check(position=150, quantity=100, now=0.0).startswith("position limit")
    assert gate.check(position=-150, quantity=-100, now=0.0).startswith("position limit")
    assert gate.check(position=100, quantity=100, now=0.0) is None
    gate.record(0.0)
    gate.record(1.0)
    assert gate.check(0, 100, now=30.0).startswith("order rate limit: 2 orders")
    assert gate.check(0, 100, now=60.5) is None  # the first order left the 60-second window


def test_momentum_buys_into_a_rise_and_sells_out_on_a_fall():
    strategy = Momentum(size=100, window=5, threshold=0.001)
    decisions = [strategy.on_price("AAPL", price, 0, 0) for price in (100, 100, 100, 100, 100)]
    assert decisions == [None] * 5  # a flat market says nothing
    buy = strategy.on_price("AAPL", 101, position=0, working=0)
    assert buy.quantity == 100 and "above" in buy.reason
    assert strategy.on_price("AAPL", 102, position=0, working=100) is None  # the buy is still working
    sell = strategy.on_price("AAPL", 90, position=100, working=0)
    assert sell.quantity == -100 and "below" in sell.reason


def test_trading_events_carry_json_safe_values():
    assert order_event("AAPL", 7, "BUY", 100, "MKT", "Filled", 100, 0, 271.5)["avg_fill_price"] == 271.5
    assert order_event("AAPL", 0, "BUY", 100, "MKT", "Refused", 0, 100, 0.0, reason="x")["avg_fill_price"] is None
    fill = fill_event("AAPL", 7, "e1", "BOT", 100, 271.5, 1.0, 1.7976931348623157e308)
    assert fill["realized_pnl"] is None and fill["commission"] == 1.0
    assert pnl_event("DU1", float("nan"), 3.0, 0.0)["daily"] is None


async def test_the_strategy_trades_on_paper_and_publishes_orders_fills_positions_and_pnl(
        gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    server = websocket_server()
    subscriber = await subscribed_subscriber(server)
    try:
        start_trader(processes, sim, server, "--strategy", "momentum", "--max-position", "100",
                     "--max-orders-per-minute", "30", symbols="AAPL,NVDA,TSLA")

        def moved_position(seen: list[dict]) -> bool:
            """A position event for a symbol after that symbol's first fill."""
            first_fill: dict[str, int] = {}
            for index, event in enumerate(seen):
                if event["type"] == "fill":
                    first_fill.setdefault(event["symbol"], index)
                elif event["type"] == "position" and event["symbol"] in first_fill:
                    return True
            return False

        def complete(seen: list[dict]) -> bool:
            kinds = {event["type"] for event in seen}
            filled = any(e["type"] == "order" and e["status"] == "Filled" for e in seen)
            priced = any(e["type"] == "fill" and e["commission"] is not None for e in seen)
            return {"order", "fill", "pnl"} <= kinds and filled and priced and moved_position(seen)

        events = await collect(subscriber, complete, timeout=90)
        assert has_status("trading", account="DU1234567", strategy="momentum")(events)
        orders = [e for e in events if e["type"] == "order" and e["status"] != "Refused"]
        assert all(e["quantity"] <= 100 and e["order_type"] == "MKT" for e in orders)
        fills = [e for e in events if e["type"] == "fill"]
        assert all(e["side"] in ("BOT", "SLD") and e["price"] > 0 for e in fills)
        assert all(e["account"] == "DU1234567" for e in events if e["type"] == "pnl")
    finally:
        await subscriber.close()


async def test_a_live_account_is_refused_and_says_why(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS, "--account", "U7654321")
    server = websocket_server()
    subscriber = await subscribed_subscriber(server)
    try:
        trader = start_trader(processes, sim, server, "--strategy", "momentum", symbols="AAPL")
        events = await collect(subscriber, has_status("trading_refused"))
        [refusal] = [e for e in events if e.get("state") == "trading_refused"]
        assert "U7654321 is not a paper account" in refusal["reason"]
        later = await collect(subscriber, lambda seen: sum(e["type"] == "tick" for e in seen) >= 40)
        assert not any(e["type"] in ("order", "fill") for e in later)  # it streams, it never trades
        read_line_matching(trader, r"not trading: account U7654321 is not a paper account")
    finally:
        await subscriber.close()

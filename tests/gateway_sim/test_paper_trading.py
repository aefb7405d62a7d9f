"""Paper trading with the real ib_async client: brackets, cancels, positions and PnL that move, order ids
that are never reused, and every request a trading program makes answered (none hangs)."""

from __future__ import annotations

import asyncio
import signal

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Option, Order, ScannerSubscription, Stock, StopOrder

from tests.gateway_sim.support import log_line
from tests.gateway_sim.test_ib_async import collect_errors, connected_ib, until

FAST = ("--tick-interval", "0.02")


async def aapl(ib: IB):
    [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    ticker = ib.reqMktData(contract)
    await until(lambda: ticker.bid > 0 and ticker.ask > 0, "AAPL quotes")
    return contract, ticker


async def test_a_bracket_fills_the_parent_then_one_child_and_cancels_the_other(gateway_sim):
    sim = gateway_sim(*FAST)
    ib = await connected_ib(sim.port, 31)
    try:
        contract, ticker = await aapl(ib)
        start = {p.contract.symbol: p.position for p in ib.positions()}["AAPL"]
        # Take profit at a price the market already pays: it fills as soon as the parent has.
        parent, take_profit, stop_loss = ib.bracketOrder("BUY", 100, ticker.ask + 1, ticker.bid - 1, ticker.bid - 20)
        trades = [ib.placeOrder(contract, order) for order in (parent, take_profit, stop_loss)]
        await until(lambda: all(t.isDone() for t in trades), "the bracket to finish")
        assert [t.orderStatus.status for t in trades] == ["Filled", "Filled", "Cancelled"]
        assert trades[0].fills and trades[1].fills and not trades[2].fills
        assert trades[0].fills[0].commissionReport.commission >= 1.0
        await until(lambda: {p.contract.symbol: p.position for p in ib.positions()}["AAPL"] == start,
                    "the position back where it was")
        realized = trades[1].fills[-1].commissionReport.realizedPNL
        assert realized == pytest.approx(realized)  # a number, not the unset marker
        completed = await ib.reqCompletedOrdersAsync(apiOnly=False)
        assert {t.order.permId for t in completed} >= {t.order.permId for t in trades}
    finally:
        ib.disconnect()


async def test_positions_portfolio_and_pnl_move_with_a_fill(gateway_sim):
    sim = gateway_sim(*FAST)
    ib = await connected_ib(sim.port, 32)
    try:
        contract, _ = await aapl(ib)
        account = ib.managedAccounts()[0]
        pnl = ib.reqPnL(account)
        single = ib.reqPnLSingle(account, "", contract.conId)
        await until(lambda: pnl.unrealizedPnL == pnl.unrealizedPnL and single.position == 100, "first PnL")
        cash = float({v.tag: v.value for v in ib.accountValues()}["TotalCashValue"])
        trade = ib.placeOrder(contract, MarketOrder("BUY", 50))
        await until(trade.isDone, "the market order to fill")
        await until(lambda: {p.contract.symbol: p.position for p in ib.positions()}["AAPL"] == 150, "position 150")
        await until(lambda: {i.contract.symbol: i.position for i in ib.portfolio()}["AAPL"] == 150, "portfolio 150")
        await until(lambda: float({v.tag: v.value for v in ib.accountValues()}["TotalCashValue"]) < cash,
                    "cash spent")
        await until(lambda: single.position == 150, "PnL single to show the new position")
        assert trade.orderStatus.avgFillPrice > 0
    finally:
        ib.disconnect()


async def test_a_resting_limit_order_is_cancelled_with_202_and_an_unknown_id_gets_10147(gateway_sim):
    sim = gateway_sim(*FAST)
    ib = await connected_ib(sim.port, 33)
    errors = collect_errors(ib)
    try:
        contract, ticker = await aapl(ib)
        resting = ib.placeOrder(contract, LimitOrder("BUY", 10, round(ticker.bid * 0.5, 2)))
        await until(lambda: resting.orderStatus.status == "Submitted", "the limit order working")
        assert [t.order.orderId for t in await ib.reqAllOpenOrdersAsync()] == [resting.order.orderId]
        ib.cancelOrder(resting.order)
        await until(lambda: resting.orderStatus.status == "Cancelled", "Cancelled")
        await until(lambda: any(code == 202 for _, code, _ in errors), "error 202")
        ghost = Order(orderId=987_654, action="BUY", totalQuantity=1, orderType="MKT")
        ib.client.cancelOrder(ghost.orderId)
        await until(lambda: (987_654, 10147) in {(rid, code) for rid, code, _ in errors}, "error 10147")
        stop = ib.placeOrder(contract, StopOrder("SELL", 10, round(ticker.bid * 0.5, 2)))
        await until(lambda: stop.orderStatus.status == "Submitted", "the stop working")
        ib.reqGlobalCancel()
        await until(lambda: stop.orderStatus.status == "Cancelled", "global cancel")
    finally:
        ib.disconnect()


async def test_an_old_order_id_after_reconnecting_is_error_103(gateway_sim):
    sim = gateway_sim(*FAST)
    ib = await connected_ib(sim.port, 34)
    contract, _ = await aapl(ib)
    first = ib.placeOrder(contract, MarketOrder("BUY", 1))
    await until(first.isDone, "the first order")
    used = first.order.orderId
    ib.disconnect()
    log_line(sim.proc, r"disconnected: closed by client \(client id 34\)")
    again = await connected_ib(sim.port, 34)
    errors = collect_errors(again)
    try:
        assert again.client.getReqId() > used  # nextValidId continued past the used id
        stale = Order(orderId=used, action="BUY", totalQuantity=1, orderType="MKT")
        again.client.placeOrder(used, contract, stale)
        await until(lambda: (used, 103) in {(rid, code) for rid, code, _ in errors}, "error 103")
    finally:
        again.disconnect()


async def test_order_ids_continue_across_a_simulator_restart(gateway_sim, tmp_path, port):
    state = tmp_path / "sim-state.json"
    sim = gateway_sim(*FAST, "--state-file", str(state), port=port)
    ib = await connected_ib(sim.port, 35)
    contract, _ = await aapl(ib)
    trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
    await until(trade.isDone, "the order")
    ib.disconnect()
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=30) == 0
    again = gateway_sim(*FAST, "--state-file", str(state), port=port)
    log_line(again.proc, r"state file .*: order ids continue \(1 client id\(s\)\), account restored")
    ib2 = await connected_ib(again.port, 35)
    try:
        assert ib2.client.getReqId() > trade.order.orderId
        assert {p.contract.symbol: p.position for p in ib2.positions()}["AAPL"] == 101  # the account was kept
    finally:
        ib2.disconnect()


@pytest.mark.parametrize("flags, code, words", [
    (("--read-only",), 321, "The API interface is currently in Read-Only mode."),
    (("--orders", "reject"), 201, "Order rejected - reason:the simulator rejects every order"),
])
async def test_read_only_and_reject_modes(gateway_sim, flags, code, words):
    sim = gateway_sim(*FAST, *flags)
    ib = await connected_ib(sim.port, 36)
    errors = collect_errors(ib)
    try:
        contract, _ = await aapl(ib)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
        await until(lambda: any(c == code for _, c, _ in errors), f"error {code}")
        assert any(c == code and words in text for _, c, text in errors)
        assert not trade.fills
    finally:
        ib.disconnect()


async def test_none_of_the_calls_a_trading_program_makes_hangs(gateway_sim):
    sim = gateway_sim(*FAST)
    ib = await connected_ib(sim.port, 37)
    errors = collect_errors(ib)
    try:
        contract, ticker = await aapl(ib)
        account = ib.managedAccounts()[0]
        expiry = (await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", contract.conId))[0].expirations[0]
        option = Option("AAPL", expiry, 270, "C", "SMART")
        calls = {
            "reqSecDefOptParams": ib.reqSecDefOptParamsAsync("AAPL", "", "STK", contract.conId),
            "reqHeadTimeStamp": ib.reqHeadTimeStampAsync(contract, "TRADES", True, 1),
            "reqMatchingSymbols": ib.reqMatchingSymbolsAsync("AAP"),
            "reqMarketRule": ib.reqMarketRuleAsync(26),
            "reqHistoricalTicks": ib.reqHistoricalTicksAsync(contract, "", "", 10, "TRADES", True),
            "reqHistogramData": ib.reqHistogramDataAsync(contract, True, "1 week"),
            "reqUserInfo": ib.reqUserInfoAsync(),
            "reqNewsProviders": ib.reqNewsProvidersAsync(),
            "reqScannerParameters": ib.reqScannerParametersAsync(),
            "reqScannerData": ib.reqScannerDataAsync(ScannerSubscription(instrument="STK", locationCode="STK.US.MAJOR",
                                                                         scanCode="TOP_PERC_GAIN")),
            "calculateImpliedVolatility": ib.calculateImpliedVolatilityAsync(option, 12.0, ticker.marketPrice()),
            "calculateOptionPrice": ib.calculateOptionPriceAsync(option, 0.3, ticker.marketPrice()),
            "reqMktDepthExchanges": ib.reqMktDepthExchangesAsync(),
            "reqSmartComponents": ib.reqSmartComponentsAsync("9c0001"),
            "reqFundamentalData": ib.reqFundamentalDataAsync(contract, "ReportsFinSummary"),
            "reqHistoricalSchedule": ib.reqHistoricalScheduleAsync(contract, 5),
            "whatIfOrder": ib.whatIfOrderAsync(contract, MarketOrder("BUY", 100)),
            "reqExecutions": ib.reqExecutionsAsync(),
            "reqCompletedOrders": ib.reqCompletedOrdersAsync(False),
            "reqAllOpenOrders": ib.reqAllOpenOrdersAsync(),
            "reqAccountSummary": ib.reqAccountSummaryAsync(),
            "reqPositions": ib.reqPositionsAsync(),
            "reqCurrentTime": ib.reqCurrentTimeAsync(),
            "reqHistoricalNews": ib.reqHistoricalNewsAsync(contract.conId, "BRFG", "", "", 10),
            "reqContractDetails": ib.reqContractDetailsAsync(contract),
            "reqHistoricalData 1 Y of days": ib.reqHistoricalDataAsync(contract, "", "1 Y", "1 day", "TRADES", True),
        }
        results = {}
        for name, call in calls.items():
            try:
                results[name] = await asyncio.wait_for(call, 10)
            except asyncio.TimeoutError:
                raise AssertionError(f"{name} hung") from None
            except Exception as problem:  # an error answer ends the request: that is an answer too
                results[name] = problem
        assert results["reqHeadTimeStamp"].year == 1980
        assert results["reqMarketRule"][0].increment == 0.01
        assert len(results["reqHistoricalTicks"]) == 10
        assert results["whatIfOrder"].initMarginChange not in ("", None)
        assert 245 <= len(results["reqHistoricalData 1 Y of days"]) <= 256  # trading days only
        assert results["calculateOptionPrice"].optPrice > 0
        assert any(code == 430 for _, code, _ in errors)  # fundamentals: IB's "not available"
        streams = {
            "tick-by-tick": ib.reqTickByTickData(contract, "BidAsk"),
            "depth": ib.reqMktDepth(contract, 5),
            "real-time bars": ib.reqRealTimeBars(contract, 5, "MIDPOINT", False),
            "PnL": ib.reqPnL(account),
        }
        # ib_async drops updates to an empty bar list, and 1800 S ending at night or on a weekend has no
        # bars (the market is closed): five days always reach back into a session, holidays included.
        bars = await ib.reqHistoricalDataAsync(contract, "", "5 D", "5 mins", "MIDPOINT", False,
                                               keepUpToDate=True)
        updates = []
        bars.updateEvent += lambda bar_list, has_new_bar: updates.append(has_new_bar)
        await until(lambda: len(streams["tick-by-tick"].tickByTicks) > 0, "tick-by-tick")
        await until(lambda: len(streams["depth"].domBids) == 5, "depth rows")
        await until(lambda: len(streams["real-time bars"]) > 0, "a 5-second bar", timeout=30)
        await until(lambda: streams["PnL"].dailyPnL == streams["PnL"].dailyPnL, "PnL")
        await until(lambda: len(updates) >= 2, "keepUpToDate bar updates")
    finally:
        ib.disconnect()

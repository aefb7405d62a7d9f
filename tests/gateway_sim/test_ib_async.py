"""The real ib_async client against the simulator: what a trader's code actually does."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from ib_async import IB, Forex, Stock

from tests.gateway_sim.support import FAST_TICKS, log_line
from tests.helpers import DEFAULT_DEADLINE, socket_states

SYMBOLS = {"AAPL": 265598, "NVDA": 4815747, "TSLA": 76792991}


async def until(condition, what: str, timeout: float = DEFAULT_DEADLINE, poll: float = 0.02) -> None:
    """Let ib_async run until ``condition()`` holds; fail naming ``what`` at the deadline.

    Like tests.helpers.wait_until, but yielding to the event loop between checks so
    the clients under test keep processing what the simulator sends.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(poll)


async def connected_ib(port: int, client_id: int) -> IB:
    ib = IB()
    # ib_async's default startup timeout: every startup request must be answered within it.
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, raiseSyncErrors=True)
    return ib


def count_updates(tickers) -> dict:
    """How many update batches each ticker has had (ib_async clears ``ticker.ticks`` per batch)."""
    counts = {id(t): 0 for t in tickers}
    for ticker in tickers:
        ticker.updateEvent += lambda t: counts.__setitem__(id(t), counts[id(t)] + 1)
    return counts


def collect_errors(ib: IB) -> list[tuple[int, int, str]]:
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code, text))
    return errors


async def test_connect_qualify_stream_and_disconnect(gateway_sim):
    sim = gateway_sim(*FAST_TICKS, "--seed", "11")
    ib = await connected_ib(sim.port, 1)
    try:
        assert ib.isConnected()
        assert ib.managedAccounts() == ["DU1234567"]
        positions = {p.contract.symbol: p.position for p in ib.positions()}
        portfolio = {item.contract.symbol: item.position for item in ib.portfolio()}
        assert positions and positions == portfolio
        values = {v.tag: v.value for v in ib.accountValues()}
        assert float(values["NetLiquidation"]) > 0

        contracts = [Stock(symbol, "SMART", "USD") for symbol in SYMBOLS]
        qualified = await ib.qualifyContractsAsync(*contracts)
        assert {c.symbol: c.conId for c in qualified} == SYMBOLS
        assert all(c.primaryExchange == "NASDAQ" and c.exchange == "SMART" for c in qualified)

        tickers = [ib.reqMktData(contract) for contract in qualified]
        updates = count_updates(tickers)
        await until(lambda: all(n >= 5 for n in updates.values()), "five tick batches for AAPL, NVDA and TSLA")
        for ticker in tickers:
            assert ticker.bid < ticker.ask
            assert ticker.bidSize > 0 and ticker.askSize > 0 and ticker.volume > 0
            assert ticker.close > 0
    finally:
        ib.disconnect()
    log_line(sim.proc, r"conn 1 disconnected: closed by client \(client id 1\)")
    assert "CLOSE_WAIT" not in socket_states(sim.port, pid=sim.pid)


async def test_unknown_symbol_gets_error_200(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    ib = await connected_ib(sim.port, 2)
    errors = collect_errors(ib)
    try:
        assert await ib.qualifyContractsAsync(Stock("ZZZZ", "SMART", "USD")) == [None]
        # ib_async only subscribes contracts with a conId; this one names no listed instrument.
        ticker = ib.reqMktData(Stock("QQQQQ", "SMART", "USD", conId=999_999_999))
        await until(lambda: sum(code == 200 for _, code, _ in errors) >= 2, "two error 200 records")
        codes_and_texts = {(code, text) for _, code, text in errors}
        assert codes_and_texts == {(200, "No security definition has been found for the request")}
        assert ticker.bid != ticker.bid or ticker.bid <= 0  # never priced
    finally:
        ib.disconnect()
    log_line(sim.proc, r"reqContractDetails \d+ for unknown contract ZZZZ STK USD: error 200")
    log_line(sim.proc, r"reqMktData \d+ for unknown contract QQQQQ STK USD conId 999999999: error 200")


async def test_duplicate_client_id_gets_326_and_first_client_keeps_streaming(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    first = await connected_ib(sim.port, 7)
    second = IB()
    errors = collect_errors(second)
    attempt = asyncio.create_task(second.connectAsync("127.0.0.1", sim.port, clientId=7, raiseSyncErrors=True))
    try:
        # Off the event loop: ib_async must keep running while the test waits for the log.
        await asyncio.to_thread(log_line, sim.proc, r"conn 2 client id 7 refused: already in use by conn 1")
        await until(lambda: any(code == 326 for _, code, _ in errors) and not second.client.isConnected(),
                    "error 326 and the duplicate's connection closed")
        assert (-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id.") \
            in errors
        [aapl] = await first.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        updates = count_updates([first.reqMktData(aapl)])
        await until(lambda: min(updates.values()) >= 5, "the first client's ticks")
    finally:
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        second.disconnect()
        first.disconnect()


async def test_client_id_is_free_again_after_disconnect(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    ib = await connected_ib(sim.port, 3)
    ib.disconnect()
    log_line(sim.proc, r"conn 1 disconnected: closed by client \(client id 3\)")
    again = await connected_ib(sim.port, 3)
    assert again.isConnected()
    again.disconnect()


async def test_current_time_and_historical_bars(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    ib = await connected_ib(sim.port, 4)
    try:
        server_time = await ib.reqCurrentTimeAsync()
        assert abs(server_time.timestamp() - time.time()) < 3600
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        # A fixed moment inside NYSE's extended hours: "now" has no TRADES bars outside them (nights, weekends).
        end = datetime(2025, 11, 24, 20, 0, 2, tzinfo=timezone.utc)  # Monday 15:00:02 New York
        bars = await ib.reqHistoricalDataAsync(aapl, end, "60 S", "5 secs", "TRADES", False)
        # Bars are aligned to 5-second boundaries, so 60 s ending mid-bar spans 12 or 13 of them.
        assert len(bars) in (12, 13)
        assert all(b.date.second % 5 == 0 for b in bars)
        assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
        assert [b.date for b in bars] == sorted(b.date for b in bars)
        # What ib_async's Watchdog sends to check the API is alive, at the same fixed moment: forex has no
        # bars "now" from Friday evening to Sunday evening in New York.
        probe = await ib.reqHistoricalDataAsync(Forex("EURUSD"), end, "30 S", "5 secs", "MIDPOINT", False)
        assert probe and 0.5 < probe[-1].close < 2.0
    finally:
        ib.disconnect()


async def test_several_clients_stream_at_once(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    clients = [await connected_ib(sim.port, client_id) for client_id in (21, 22, 23)]
    try:
        tickers = []
        for ib, symbol in zip(clients, SYMBOLS):
            [contract] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
            tickers.append(ib.reqMktData(contract))
        updates = count_updates(tickers)
        for ticker in tickers:
            await until(lambda t=ticker: updates[id(t)] >= 5, f"ticks for {ticker.contract.symbol}")
    finally:
        for ib in clients:
            ib.disconnect()

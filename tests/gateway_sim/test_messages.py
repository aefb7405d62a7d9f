"""Field layouts, checked against the reference client itself, on bytes and values only.

Outgoing: every message the simulator encodes is fed to ib_async's own
Decoder at the negotiated version; a wrong field count or order shows up as a
missing or wrong wrapper call. Incoming: requests are produced by ib_async's
own Client encoder and decoded by ours.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from ib_async import Contract, ExecutionFilter, Stock
from ib_async.client import Client
from ib_async.decoder import Decoder

from ibproto.wire import FrameDecoder, split_fields
from ibproto.messages import ClientMessage as C
from ibproto.ticks import Tick
from services.gateway_sim import messages, order_messages
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.catalog import ContractQuery, instrument_by_symbol
from services.gateway_sim.history import Bar
from services.gateway_sim.requests import AccountRequest, Cancel, ContractRequest, ExecutionsRequest, Simple, StartApi
from services.gateway_sim.requests import decode_request

AAPL = instrument_by_symbol("AAPL")
EURUSD = instrument_by_symbol("EUR.USD")


class Recorder:
    """A wrapper that records every call the Decoder makes."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, args))


def decoded(version: int, *frames: bytes) -> list[tuple[str, tuple]]:
    recorder = Recorder()
    decoder = Decoder(recorder, version)
    frame_decoder = FrameDecoder()
    for payload in frame_decoder.feed(b"".join(frames)):
        decoder.interpret(split_fields(payload))
    return recorder.calls


@pytest.mark.parametrize("version", [157, 163, 164, 165, 166, 176, 178])
def test_error_records_match_the_version(version):
    [(name, args)] = decoded(version, messages.error(version, 12, 200, "No security definition"))
    assert name == "error"
    assert args == (12, 200, "No security definition", "")


@pytest.mark.parametrize("version", [157, 162, 163, 164, 176, 178])
@pytest.mark.parametrize("instrument, exchange", [(AAPL, "SMART"), (EURUSD, "IDEALPRO")])
def test_contract_details_match_the_version(version, instrument, exchange):
    calls = decoded(version, messages.contract_details(version, 3, instrument, exchange, "", ""),
                    messages.contract_details_end(3))
    assert [name for name, _ in calls] == ["contractDetails", "contractDetailsEnd"]
    request_id, details = calls[0][1]
    contract = details.contract
    assert request_id == 3
    assert (contract.conId, contract.symbol, contract.secType, contract.exchange, contract.currency) == \
        (instrument.con_id, instrument.symbol, instrument.sec_type, exchange, instrument.currency)
    assert contract.primaryExchange == instrument.primary_exchange
    assert details.longName == instrument.long_name
    assert details.minTick == instrument.min_tick
    assert details.timeZoneId == "US/Eastern"
    if version >= 164 and instrument is AAPL:
        assert details.suggestedSizeIncrement == 100


def test_ticks_decode_to_prices_and_sizes():
    calls = decoded(178, messages.tick_price(5, Tick.BID, "271.50", 300),
                    messages.tick_size(5, Tick.VOLUME, 12345),
                    messages.market_data_type(5, 1), messages.tick_request_parameters(5, AAPL),
                    messages.tick_snapshot_end(5))
    assert calls == [("priceSizeTick", (5, 1, 271.5, 300.0)), ("tickSize", (5, 8, 12345.0)),
                     ("marketDataType", (5, 1)), ("tickReqParams", (5, 0.01, "9c0001", 3)),
                     ("tickSnapshotEnd", (5,))]


def test_account_messages_decode():
    account = PaperAccount("DU7654321")
    price = {"AAPL": 280.0, "NVDA": 190.0}
    lines = account.portfolio(lambda instrument: price[instrument.symbol])
    holding = account.holdings[0]
    calls = decoded(
        178,
        messages.position(account.account_id, holding.instrument, holding.quantity, holding.average_cost),
        messages.position_end(),
        messages.account_value("NetLiquidation", "1000.00", "USD", account.account_id),
        messages.portfolio_value(lines[0], account.account_id),
        messages.account_time(datetime(2025, 1, 2, 9, 30)),
        messages.account_download_end(account.account_id),
        messages.account_update_multi(8, account.account_id, "", "NetLiquidation", "1000.00", "USD"),
        messages.account_update_multi_end(8),
        messages.account_summary(9, account.account_id, "TotalCashValue", "5.00", "USD"),
        messages.account_summary_end(9),
        order_messages.open_order_end(), order_messages.completed_orders_end(),
        order_messages.execution_details_end(10),
        messages.next_valid_id(1), messages.managed_accounts(["DU7654321"]), messages.current_time(1700000000),
    )
    names = [name for name, _ in calls]
    assert names == ["position", "positionEnd", "updateAccountValue", "updatePortfolio", "updateAccountTime",
                     "accountDownloadEnd", "accountUpdateMulti", "accountUpdateMultiEnd", "accountSummary",
                     "accountSummaryEnd", "openOrderEnd", "completedOrdersEnd", "execDetailsEnd", "nextValidId",
                     "managedAccounts", "currentTime"]
    account_name, contract, quantity, cost = calls[0][1]
    assert (account_name, contract.conId, quantity, cost) == ("DU7654321", 265598, 100.0, 250.0)
    contract, quantity, market_price, market_value, average_cost, unrealized, realized, name = calls[3][1]
    assert (contract.symbol, quantity, market_price, market_value, unrealized, name) == \
        ("AAPL", 100.0, 280.0, 28000.0, 3000.0, "DU7654321")
    assert calls[4][1] == ("09:30",)
    assert calls[6][1] == (8, "DU7654321", "", "NetLiquidation", "1000.00", "USD")


def test_historical_bars_decode():
    from services.gateway_sim.calendar import login_zone

    start = datetime(2025, 3, 4, 14, 30, tzinfo=timezone.utc)
    bars = [Bar(start.timestamp(), 10.0, 11.0, 9.5, 10.5, 1200, 10.25, 7)]
    calls = decoded(178, messages.historical_data(4, AAPL, bars, "a", "b", 5, 1))
    assert [name for name, _ in calls] == ["historicalData", "historicalDataEnd"]
    request_id, bar = calls[0][1]
    name, zone = login_zone()
    assert (request_id, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.barCount) == \
        (4, f"{start.astimezone(zone):%Y%m%d %H:%M:%S} {name}", 10.0, 11.0, 9.5, 10.5, 1200.0, 7)
    epoch = decoded(178, messages.historical_data(4, AAPL, bars, "a", "b", 5, 2))[0][1][1]
    assert epoch.date == str(int(start.timestamp()))
    daily = decoded(178, messages.historical_data(4, AAPL, bars, "a", "b", 86_400, 2))[0][1][1]
    assert daily.date == "20250304"  # daily bars are dates, whatever formatDate says


# --- incoming: encoded by ib_async's own Client ---------------------------------------------

class CapturingConnection:
    def __init__(self):
        self.sent = b""

    def sendMsg(self, data: bytes) -> None:
        self.sent += data


def sent_by_ib_async(call, version: int = 178) -> list[str]:
    """The fields of the one message ib_async's Client sends for ``call(client)``."""
    client = Client(Recorder())
    client.conn = CapturingConnection()
    client.connState = Client.CONNECTED
    client._serverVersion = version
    client.clientId = 42
    call(client)
    [payload] = FrameDecoder().feed(client.conn.sent)
    return split_fields(payload)


def test_decodes_ib_async_start_api():
    assert decode_request(sent_by_ib_async(lambda c: c.startApi()), 178) == StartApi(42, "")


@pytest.mark.parametrize("version", [157, 176, 178])
def test_decodes_ib_async_contract_details(version):
    fields = sent_by_ib_async(lambda c: c.reqContractDetails(7, Stock("AAPL", "SMART", "USD")), version)
    assert decode_request(fields, version) == ContractRequest(
        C.REQ_CONTRACT_DATA, 7, ContractQuery(0, "AAPL", "STK", "USD", "SMART", ""))


def test_decodes_ib_async_market_data_and_cancel():
    contract = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")
    fields = sent_by_ib_async(lambda c: c.reqMktData(9, contract, "233", True, False, []))
    assert decode_request(fields, 178) == ContractRequest(
        C.REQ_MKT_DATA, 9, ContractQuery(265598, "AAPL", "STK", "USD", "SMART", ""), generic_ticks="233",
        snapshot=True)
    assert decode_request(sent_by_ib_async(lambda c: c.cancelMktData(9)), 178) == Cancel(C.CANCEL_MKT_DATA, 9)


def test_decodes_ib_async_historical_data():
    fields = sent_by_ib_async(lambda c: c.reqHistoricalData(
        11, Stock("TSLA", "SMART", "USD"), "", "30 S", "5 secs", "MIDPOINT", False, 1, False, []))
    request = decode_request(fields, 178)
    assert request.message is C.REQ_HISTORICAL_DATA
    assert (request.request_id, request.contract.symbol, request.duration, request.bar_size,
            request.what_to_show, request.format_date, request.keep_up_to_date) == \
        (11, "TSLA", "30 S", "5 secs", "MIDPOINT", 1, False)


def test_decodes_ib_async_startup_requests():
    expected = {
        "reqPositions": Simple(C.REQ_POSITIONS),
        "reqOpenOrders": Simple(C.REQ_OPEN_ORDERS),
        "reqCompletedOrders": Simple(C.REQ_COMPLETED_ORDERS),
        "reqCurrentTime": Simple(C.REQ_CURRENT_TIME),
    }
    for name, value in expected.items():
        arguments = (False,) if name == "reqCompletedOrders" else ()
        fields = sent_by_ib_async(lambda c: getattr(c, name)(*arguments))
        assert decode_request(fields, 178) == value
    assert decode_request(sent_by_ib_async(lambda c: c.reqAccountUpdates(True, "DU1")), 178) == \
        AccountRequest(C.REQ_ACCT_DATA, subscribe=True, account="DU1")
    executions = decode_request(sent_by_ib_async(lambda c: c.reqExecutions(13, ExecutionFilter())), 178)
    assert isinstance(executions, ExecutionsRequest) and executions.request_id == 13

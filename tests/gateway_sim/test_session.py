"""The pure layers: session state machine, market model, catalog and account, on bytes and values."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from ibproto.wire import FrameDecoder, build_handshake, encode_message, split_fields
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.catalog import INSTRUMENTS, ContractQuery, find_instrument, instrument_by_symbol
from services.gateway_sim.gateway import Gateway, Policy
from services.gateway_sim.market import MarketModel, round_to_tick
from services.gateway_sim.prices import PricePath
from services.gateway_sim.session import Phase, Session

AAPL = instrument_by_symbol("AAPL")
MOMENT = datetime(2025, 11, 24, 15, 39, 19, tzinfo=timezone(timedelta(hours=-5), "EST"))
SUBSCRIBE_AAPL = (0, "AAPL", "STK", "", 0.0, "", "", "SMART", "", "USD", "", "", 0, "", 0, 0, "")


class FixedClock:
    """A clock that stands still unless a test moves it: output must not depend on the real time."""

    def __init__(self) -> None:
        self.moment = MOMENT

    def monotonic(self) -> float:
        return 1000.0 + (self.moment - MOMENT).total_seconds()

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - sessions never sleep
        raise AssertionError("sessions must not sleep")


def make_market(seed: int = 1) -> MarketModel:
    return MarketModel(PricePath(seed, MOMENT.timestamp()), random.Random(seed))


def make_gateway(**options) -> Gateway:
    return Gateway(make_market(), PaperAccount(), FixedClock(), **options)


def messages_in(payload: bytes) -> list[list[str]]:
    return [split_fields(p) for p in FrameDecoder().feed(payload)]


def started(gateway: Gateway, number: int, client_id: int) -> Session:
    session = Session(number, gateway)
    session.receive(build_handshake())
    session.receive(encode_message(71, 2, client_id, ""))
    assert session.phase is Phase.ACTIVE
    return session


def test_handshake_fed_one_byte_at_a_time():
    session = Session(1, make_gateway())
    data = build_handshake(157, 176)
    for byte in data[:-1]:
        assert session.receive(bytes([byte])).replies == []
    reaction = session.receive(data[-1:])
    [[version, connection_time]] = messages_in(reaction.payload)
    assert version == "176" and connection_time[:8] in ("20251124", "20251125")  # in the login's timezone
    assert connection_time[9:17].count(":") == 2
    assert reaction.log == ["handshake v157..176 -> server version 176"]
    assert session.phase is Phase.STARTING


def test_start_api_sends_id_accounts_and_farm_notices_in_order():
    session = Session(1, make_gateway())
    session.receive(build_handshake())
    reaction = session.receive(encode_message(71, 2, 999, ""))
    assert messages_in(reaction.payload) == [
        ["9", "1", "1"], ["15", "1", "DU1234567"],
        ["4", "2", "-1", "2104", "Market data farm connection is OK:usfarm", ""],
        ["4", "2", "-1", "2106", "HMDS data farm connection is OK:ushmds", ""],
        ["4", "2", "-1", "2158", "Sec-def data farm connection is OK:secdefnj", ""],
    ]
    assert reaction.log == ["client id 999 started the API (server version 178)"]


def test_handshake_and_start_api_in_one_chunk():
    session = Session(1, make_gateway())
    reaction = session.receive(build_handshake() + encode_message(71, 2, 5, ""))
    assert [m[0] for m in messages_in(reaction.payload)] == ["178", "9", "15", "4", "4", "4"]


def test_error_layout_follows_the_negotiated_version():
    session = Session(1, make_gateway())
    session.receive(build_handshake(100, 165))
    notices = messages_in(session.receive(encode_message(71, 2, 5, "")).payload)[2:]
    assert notices[0] == ["4", "2", "-1", "2104", "Market data farm connection is OK:usfarm"]


def test_duplicate_client_id_gets_326_and_is_closed_until_released():
    gateway = make_gateway()
    first = started(gateway, 1, 7)
    second = Session(2, gateway)
    second.receive(build_handshake())
    reaction = second.receive(encode_message(71, 2, 7, ""))
    assert messages_in(reaction.payload) == [["4", "2", "-1", "326", "Unable to connect as the client id is "
                                              "already in use. Retry with a unique client id.", ""]]
    assert reaction.close and second.phase is Phase.CLOSED
    assert gateway.client_ids == {7: 1}  # the refused connection did not take it over
    first.release()
    assert started(gateway, 3, 7).client_id == 7


def test_max_clients_refuses_without_an_answer():
    gateway = make_gateway(max_clients=1)
    started(gateway, 1, 1)
    extra = Session(2, gateway)
    extra.receive(build_handshake())
    reaction = extra.receive(encode_message(71, 2, 2, ""))
    assert reaction.close and reaction.replies == []
    assert "maximum of 1 clients" in reaction.log[0]



def test_a_newer_client_hears_our_version_an_older_one_is_closed():
    session = Session(1, make_gateway())
    [[version, _]] = messages_in(session.receive(build_handshake(179, 200)).payload)
    assert version == "178" and session.phase is Phase.STARTING
    old = Session(2, make_gateway())
    reaction = old.receive(build_handshake(100, 150))
    assert reaction.replies == [] and reaction.close


def test_market_data_subscription_streams_only_changes_until_cancelled():
    gateway = make_gateway()
    session = started(gateway, 1, 1)
    opening = messages_in(session.receive(encode_message(1, 11, 4, *SUBSCRIBE_AAPL)).payload)
    assert [m[0] for m in opening[:2]] == ["58", "81"]
    assert {(m[0], m[3]) for m in opening[2:]} >= {("1", "1"), ("1", "2"), ("1", "4"), ("2", "8"), ("1", "9"),
                                                  ("46", "45"), ("45", "49")}
    seen = 0
    for _ in range(40):
        gateway.clock.advance(0.25)
        before = gateway.market.known(AAPL)
        gateway.step()
        after = gateway.market.known(AAPL)
        streamed = messages_in(session.take_output()[0])
        kinds = {(m[0], m[3]) for m in streamed}
        if after.last_time == before.last_time and after.volume == before.volume:
            assert ("1", "4") not in kinds and ("2", "8") not in kinds  # no LAST or VOLUME without a trade
        if after.bid == before.bid and after.bid_size == before.bid_size:
            assert ("1", "1") not in kinds and ("2", "0") not in kinds  # nothing re-sent that did not change
        seen += len(streamed)
    assert seen > 0
    session.receive(encode_message(2, 2, 4))
    gateway.clock.advance(0.25)
    gateway.step()
    assert session.take_output()[0] == b""
    again = messages_in(session.receive(encode_message(2, 2, 4)).payload)
    assert again[0][3] == "300"


def test_drop_market_data_and_notify_are_the_public_interface():
    gateway = make_gateway()
    session = started(gateway, 1, 1)
    session.receive(encode_message(1, 11, 4, *SUBSCRIBE_AAPL))
    assert session.drop_market_data() == 1
    session.notify(1101, "Connectivity between IB and Trader Workstation has been restored - data lost.")
    [notice] = messages_in(session.take_output()[0])
    assert notice[:4] == ["4", "2", "-1", "1101"]
    for _ in range(8):
        gateway.clock.advance(0.25)
        gateway.step()
        assert session.take_output()[0] == b""  # no ticks until the client subscribes again


def test_101_past_the_market_data_line_limit():
    session = started(make_gateway(policy=Policy(market_data_lines=2)), 1, 1)
    for request_id in (1, 2, 3):
        reply = messages_in(session.receive(encode_message(1, 11, request_id, *SUBSCRIBE_AAPL)).payload)
    assert reply == [["4", "2", "3", "101", "Max number of tickers has been reached", ""]]


def test_end_of_stream_reports_a_truncated_frame():
    session = started(make_gateway(), 1, 1)
    session.receive(b"\x00\x00\x00\x20" + b"49\x00")
    assert session.end_of_stream() == ["bad input: truncated frame, 7 bytes of an incomplete message at disconnect"]


def test_same_seed_same_prices_different_seed_different_prices():
    def walk(seed: int) -> list[tuple[float, float, float]]:
        model = make_market(seed)
        t = MOMENT.timestamp()
        return [(q.bid, q.ask, q.last) for k in range(50) for q, _ in model.step([AAPL], t + k).values()]

    assert walk(3) == walk(3)
    assert walk(3) != walk(4)


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.display_symbol)
def test_quotes_are_realistic(instrument):
    model = make_market(9)
    t = MOMENT.timestamp()
    for k in range(200):
        quote, trades = model.step([instrument], t + k * 0.25)[instrument]
        assert 0 < quote.bid < quote.ask
        assert quote.ask - quote.bid <= 3 * instrument.min_tick + 1e-9
        assert round_to_tick(quote.bid, instrument) == quote.bid
        if instrument.is_forex:
            assert quote.last == 0 and quote.volume == 0 and not trades
        else:
            assert quote.low <= quote.last <= quote.high
            assert all(trade.price in (quote.bid, quote.ask) for trade in trades)
    assert abs(quote.mid / instrument.start_price - 1) < 0.2


def test_prices_stay_plausible_over_years():
    path = PricePath(7, MOMENT.timestamp())
    prices = [path.mid(AAPL.con_id, AAPL.start_price, MOMENT.timestamp() - k * 7 * 86_400) for k in range(5 * 52)]
    assert 0.3 * AAPL.start_price < min(prices) and max(prices) < 3 * AAPL.start_price


def test_catalog_lookup():
    assert find_instrument(ContractQuery(symbol="aapl", sec_type="STK", currency="USD")) is AAPL
    assert find_instrument(ContractQuery(con_id=265598)) is AAPL
    assert find_instrument(ContractQuery(con_id=265598, symbol="TSLA")) is None
    assert find_instrument(ContractQuery(symbol="AAPL", currency="EUR")) is None
    assert find_instrument(ContractQuery(symbol="EUR", sec_type="CASH", currency="USD")).con_id == 12087792
    assert find_instrument(ContractQuery(symbol="ZZZZ")) is None
    assert len({i.con_id for i in INSTRUMENTS}) == len(INSTRUMENTS)


def test_portfolio_matches_positions_and_values_add_up():
    account = PaperAccount()
    lines = account.portfolio(lambda instrument: 100.0)
    assert [(line.instrument, line.quantity) for line in lines] == \
        [(h.instrument, h.quantity) for h in account.holdings]
    values = {key: float(value) for key, value, currency in account.values(lambda instrument: 100.0)
              if currency == "USD" and key != "Currency"}
    assert values["NetLiquidation"] == pytest.approx(values["TotalCashValue"] + sum(l.market_value for l in lines))


def test_delayed_market_data_sends_delayed_tick_ids_and_forex_has_no_last():
    session = started(make_gateway(), 1, 1)
    session.receive(encode_message(59, 1, 3))
    opening = messages_in(session.receive(encode_message(1, 11, 4, *SUBSCRIBE_AAPL)).payload)
    tick_ids = {m[3] for m in opening if m[0] in ("1", "2")}
    assert {"66", "67"} <= tick_ids and not {"1", "2"} & tick_ids
    session.receive(encode_message(59, 1, 1))
    forex = (0, "EUR", "CASH", "", 0.0, "", "", "IDEALPRO", "", "USD", "", "", 0, "", 0, 0, "")
    ticks = messages_in(session.receive(encode_message(1, 11, 5, *forex)).payload)
    kinds = {m[3] for m in ticks if m[0] in ("1", "2")}
    assert {"1", "2"} <= kinds and "4" not in kinds and "8" not in kinds  # no LAST, no volume
    sizes = [int(m[5]) for m in ticks if m[0] == "1" and m[3] in ("1", "2")]
    assert all(size % 1_000_000 == 0 for size in sizes)  # sizes in units of the base currency


def test_no_next_valid_id_fault_sends_accounts_but_never_an_order_id():
    session = Session(1, make_gateway(policy=Policy(no_next_valid_id=True)))
    session.receive(build_handshake())
    answer = messages_in(session.receive(encode_message(71, 2, 3, "")).payload)
    assert [m[0] for m in answer] == ["15", "4", "4", "4"]

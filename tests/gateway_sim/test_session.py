"""The pure layers: session state machine, market model, catalog and account, on bytes and values."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from ibproto.wire import FrameDecoder, build_handshake, encode_message, split_fields
from services.gateway_sim import messages
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.catalog import INSTRUMENTS, ContractQuery, find_instrument, instrument_by_symbol
from services.gateway_sim.messages import TickStep
from services.gateway_sim.market import MarketModel, parse_bar_size, parse_duration, round_to_tick
from services.gateway_sim.session import Gateway, Phase, Session

AAPL = instrument_by_symbol("AAPL")
MOMENT = datetime(2025, 11, 24, 15, 39, 19, tzinfo=timezone(timedelta(hours=-5), "EST"))


class FixedClock:
    """A clock that stands still: session output must not depend on the real time."""

    def monotonic(self) -> float:
        return 1000.0

    def now(self) -> datetime:
        return MOMENT

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - sessions never sleep
        raise AssertionError("sessions must not sleep")


def make_gateway(**options) -> Gateway:
    return Gateway(MarketModel(random.Random(1)), PaperAccount(), FixedClock(), **options)


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
    assert messages_in(reaction.payload) == [["176", "20251124 15:39:19 EST"]]
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


def test_unsupported_versions_get_error_503_and_close():
    session = Session(1, make_gateway())
    reaction = session.receive(build_handshake(179, 200))
    [message] = messages_in(reaction.payload)
    assert message[:4] == ["4", "2", "-1", "503"] and reaction.close


def test_market_data_subscription_streams_until_cancelled():
    gateway = make_gateway()
    session = started(gateway, 1, 1)
    subscribe = encode_message(1, 11, 4, 0, "AAPL", "STK", "", 0.0, "", "", "SMART", "", "USD", "", "", 0, "", 0,
                               0, "")
    opening = messages_in(session.receive(subscribe).payload)
    assert [m[0] for m in opening[:2]] == ["58", "81"]
    assert {(m[0], m[3]) for m in opening[2:]} >= {("1", "1"), ("1", "2"), ("1", "4"), ("2", "8"), ("1", "9")}
    quotes = gateway.market.step([AAPL])
    streamed = messages_in(session.stream(TickStep(quotes)))
    assert [(m[0], m[2], m[3]) for m in streamed] == [("1", "4", "1"), ("1", "4", "2"), ("1", "4", "4"),
                                                       ("2", "4", "8")]
    assert float(streamed[0][4]) == quotes[AAPL].bid
    session.receive(encode_message(2, 2, 4))
    assert session.stream(TickStep(gateway.market.step([AAPL]))) == b""
    again = messages_in(session.receive(encode_message(2, 2, 4)).payload)
    assert again[0][3] == "300"


def test_tick_step_bytes_equal_the_plain_encoders():
    quote = MarketModel(random.Random(2)).step([AAPL])[AAPL]
    expected = b"".join((
        messages.tick_price(17, messages.BID, messages.price_text(quote.bid, AAPL), quote.bid_size),
        messages.tick_price(17, messages.ASK, messages.price_text(quote.ask, AAPL), quote.ask_size),
        messages.tick_price(17, messages.LAST, messages.price_text(quote.last, AAPL), quote.last_size),
        messages.tick_size(17, messages.VOLUME, quote.volume),
    ))
    step = TickStep({AAPL: quote})
    assert step.for_subscription(17, AAPL) == expected
    assert step.for_subscription(17, instrument_by_symbol("TSLA")) == b""


def test_end_of_stream_reports_a_truncated_frame():
    session = started(make_gateway(), 1, 1)
    session.receive(b"\x00\x00\x00\x20" + b"49\x00")
    assert session.end_of_stream() == ["bad input: truncated frame, 7 bytes of an incomplete message at disconnect"]


def test_same_seed_same_prices_different_seed_different_prices():
    def walk(seed: int) -> list[tuple[float, float, float]]:
        model = MarketModel(random.Random(seed))
        return [(q.bid, q.ask, q.last) for _ in range(50) for q in model.step([AAPL]).values()]

    assert walk(3) == walk(3)
    assert walk(3) != walk(4)


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.display_symbol)
def test_quotes_are_realistic(instrument):
    model = MarketModel(random.Random(9))
    for _ in range(200):
        quote = model.step([instrument])[instrument]
        assert 0 < quote.bid < quote.ask
        assert quote.ask - quote.bid <= 3 * instrument.min_tick + 1e-9
        assert round_to_tick(quote.bid, instrument) == quote.bid
        assert quote.low <= quote.last <= quote.high
    assert abs(quote.last / instrument.start_price - 1) < 0.2


def test_history_ends_at_the_current_price_without_shifting_the_stream():
    model, twin = MarketModel(random.Random(5)), MarketModel(random.Random(5))
    bars = model.history(AAPL, MOMENT, 60, 30)
    twin.history(AAPL, MOMENT, 3600, 2)
    assert len(bars) == 30 and bars[-1].close == model.quote(AAPL).last
    assert [b.time for b in bars] == sorted(b.time for b in bars)
    assert model.step([AAPL]) == twin.step([AAPL])


def test_duration_and_bar_size_texts():
    assert parse_duration("30 S") == 30 and parse_duration("2 D") == 172_800 and parse_duration("1 Y") > 0
    assert parse_bar_size("5 secs") == 5 and parse_bar_size("1 hour") == 3600 and parse_bar_size("1 day") == 86_400
    assert parse_duration("30") is None and parse_bar_size("1 fortnight") is None and parse_bar_size("0 secs") is None


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

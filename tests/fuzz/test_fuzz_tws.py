"""Fuzzing the TWS codec and the simulator's session with hypothesis: whatever arrives, the codec
raises only its own ProtocolError and the session answers (or closes) without an exception.
Sized to run in a few seconds in CI."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibproto.errors import ProtocolError
from ibproto.fields import BadField, parse_float, parse_int
from ibproto.messages import ClientMessage
from ibproto.wire import FrameDecoder, HandshakeDecoder, build_handshake, encode_message, parse_version_range
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.gateway import Gateway
from services.gateway_sim.market import MarketModel
from services.gateway_sim.prices import PricePath
from services.gateway_sim.session import Phase, Session
from tests.gateway_sim.test_session import MOMENT, FixedClock

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["", "0", "-1", "1e308", "nan", "inf", "²", "9" * 5000, "1 D", "30000 M", "5 secs", "AAPL", "STK", "SMART",
     "USD", "BUY", "MKT", "LMT", "1.5", "\u0661\u0665"])


@FUZZ
@given(st.binary(max_size=300), st.integers(1, 50))
def test_frame_decoder_raises_only_protocol_errors(data, cut):
    decoder = FrameDecoder(4096)
    try:
        for start in range(0, len(data), cut):
            decoder.feed(data[start:start + cut])
    except ProtocolError:
        pass


@FUZZ
@given(TEXT)
def test_numbers_and_version_ranges_parse_or_refuse_cleanly(text):
    for parse in (parse_int, parse_float):
        try:
            value = parse(text)
        except BadField:
            continue
        assert value == value  # never NaN
    try:
        offer = parse_version_range(text)
    except ProtocolError:
        return
    assert 0 <= offer.low <= offer.high < 10**9


@FUZZ
@given(st.binary(max_size=200))
def test_handshake_decoder_raises_only_protocol_errors(data):
    try:
        HandshakeDecoder(4096).feed(b"API\0" + data)
    except ProtocolError:
        pass


def started_session() -> tuple[Gateway, Session]:
    gateway = Gateway(MarketModel(PricePath(3, MOMENT.timestamp()), random.Random(3)), PaperAccount(), FixedClock())
    session = Session(1, gateway)
    session.receive(build_handshake() + encode_message(71, 2, 1, ""))
    return gateway, session


@FUZZ
@given(st.sampled_from(sorted(ClientMessage)), st.lists(TEXT, max_size=40))
def test_any_request_with_any_fields_gets_an_answer_never_an_exception(message, fields):
    gateway, session = started_session()
    reaction = session.receive(encode_message(int(message), *fields))
    gateway.clock.advance(1)
    gateway.step()
    session.take_output()
    assert reaction.close is False or session.phase is Phase.CLOSED


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_after_start_never_raise(data):
    gateway, session = started_session()
    session.receive(data)
    while session.receive(b"").more:
        pass

"""The shared protocol tables and strict field reading: message ids, codes with the Gateway's wording,
tick ids, and numbers that refuse what Python's int() and isdigit() would let through."""

from __future__ import annotations

import pytest

from ibproto import versions
from ibproto.codes import CODES, code, say
from ibproto.fields import UNSET_DOUBLE, BadField, BadRequest, FieldReader, parse_float, parse_int
from ibproto.messages import ClientMessage, ServerMessage, client_message
from ibproto.ticks import DELAYED, REALTIME, Tick, for_data_type
from ibproto.wire import parse_handshake_reply, parse_version_range
from ibproto.errors import ProtocolError


@pytest.mark.parametrize("text", ["²", "9" * 4300, "١٥٧", " 1", "1.0", "", "+-1", "0x10"])
def test_integers_are_ascii_digits_of_sane_length(text):
    with pytest.raises(BadField):
        parse_int(text)


def test_numbers():
    assert parse_int("-42") == -42 and parse_int("9" * 18) == 10**18 - 1
    assert parse_float("271.5") == 271.5 and parse_float(".5") == 0.5 and parse_float("1e3") == 1000
    assert parse_float("1.7976931348623157E308") == UNSET_DOUBLE and parse_float("Infinite") == UNSET_DOUBLE
    for bad in ("nan", "inf", "1e999", "1" * 41, "12abc"):
        with pytest.raises(BadField):
            parse_float(bad)


@pytest.mark.parametrize("bad", ["v²", "v" + "9" * 4300, "v157..", "v178..157", "x157..178"])
def test_version_ranges_and_replies_refuse_odd_digits(bad):
    with pytest.raises(ProtocolError):
        parse_version_range(bad)
    with pytest.raises(ProtocolError):
        parse_handshake_reply([bad[1:], "t"])


def test_field_reader_names_the_request_the_field_and_the_request_id():
    reader = FieldReader("reqMktData", ["1", "11", "7", "x"])
    reader.skip("version")
    assert reader.request_id_field() == 7
    with pytest.raises(BadRequest) as problem:
        reader.integer("contract.conId")
    assert problem.value.request_id == 7 and "reqMktData: field 'contract.conId'" in str(problem.value)
    with pytest.raises(BadRequest, match="message ends before field 'symbol'"):
        reader.text("symbol")
    with pytest.raises(BadRequest, match="must be 0..1000"):
        FieldReader("placeOrder", ["3", "5000"]).count("comboLegsCount")


def test_message_tables_name_both_directions():
    assert ClientMessage.REQ_MKT_DATA.label == "reqMktData" and ClientMessage.REQ_PNL_SINGLE.label == "reqPnLSingle"
    assert ClientMessage.REQ_ACCT_DATA.label == "reqAccountUpdates"
    assert ServerMessage.ORDER_STATUS.label == "orderStatus" and ServerMessage.ERR_MSG == 4
    assert client_message(999) is None and client_message(71) is ClientMessage.START_API
    assert len({m.value for m in ClientMessage}) == len(ClientMessage)


def test_codes_carry_the_gateways_wording_and_a_meaning():
    assert say(202, "") == (202, "Order Canceled - reason:")
    assert say(10147, 12) == (10147, "OrderId 12 that needs to be cancelled is not found.")
    assert code(326).severity == "fatal" and code(2104).severity == "info"
    assert code(2199).meaning == "Gateway notice" and code(9999).severity == "warning"
    assert all(entry.code == number and entry.meaning for number, entry in CODES.items())


def test_delayed_data_uses_the_delayed_tick_ids():
    assert for_data_type(Tick.BID, REALTIME) == 1 and for_data_type(Tick.BID, DELAYED) == 66
    assert for_data_type(Tick.LAST_TIMESTAMP, DELAYED) == 88 and for_data_type(Tick.HALTED, DELAYED) == 49


def test_the_implemented_range_stops_before_protobuf():
    assert versions.IMPLEMENTED_MIN == 157 and versions.IMPLEMENTED_MAX == 178 < versions.PROTOBUF

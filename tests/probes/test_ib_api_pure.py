"""The ib_api probe's pure parts, on bytes and values: startApi, error records, transcripts, verdicts."""

from __future__ import annotations

from launcher.probes.ib_api import (API_SILENT, CLIENT_ID_IN_USE, NOT_LISTENING, OK, PROTOCOL_ERROR, SESSION_FAILED,
                                    VERSION_MISMATCH, IbApiDiagnosis, describe_success, judge)
from launcher.probes.ib_messages import SessionTranscript, encode_start_api, meaning_of, parse_error_record
from ibproto.wire import FrameDecoder, encode_message, split_fields


def _fields(message: bytes) -> list[str]:
    (payload,) = FrameDecoder().feed(message)
    return split_fields(payload)


def test_start_api_is_what_ib_async_sends():
    assert encode_start_api(999) == b"\x00\x00\x00\x0a71\x002\x00999\x00\x00"
    assert _fields(encode_start_api(7, "+PACEAPI")) == ["71", "2", "7", "+PACEAPI"]


def test_error_record_layout_by_server_version():
    old = parse_error_record(_fields(encode_message(4, 2, -1, 2104, "Market data farm connection is OK:usfarm")), 157)
    assert (old.request_id, old.code, old.severity) == (-1, 2104, "info")
    assert old.advanced_order_reject == ""
    new = parse_error_record(_fields(encode_message(4, 2, 12, 201, "Order rejected", '{"reason":"x"}')), 178)
    assert (new.code, new.advanced_order_reject) == (201, '{"reason":"x"}')


def test_code_meanings():
    assert meaning_of(326).severity == "fatal" and "client id" in meaning_of(326).meaning
    assert {meaning_of(c).severity for c in (2104, 2106, 2158)} == {"info"}
    assert {meaning_of(c).severity for c in (2103, 2105, 2157, 321)} == {"warning"}
    assert meaning_of(2199).severity == "info" and meaning_of(9999).severity == "warning"


def test_transcript_collects_a_session_and_survives_garbage():
    transcript = SessionTranscript(178)
    for message in (encode_message(9, 1, 17), encode_message(15, 1, "DU111,DU222,"),
                    encode_message(4, 2, -1, 2104, "ok", ""), encode_message(4, 2, "x", "y")):
        transcript.absorb(_fields(message))
    assert transcript.complete and transcript.next_valid_id == 17 and transcript.accounts == ["DU111", "DU222"]
    assert [e.code for e in transcript.errors] == [2104]
    assert transcript.malformed == ["4,2,x,y"]
    assert not transcript.fatal_errors()


def test_connectivity_loss_is_fatal_until_restored():
    transcript = SessionTranscript(178)
    transcript.absorb(_fields(encode_message(4, 2, -1, 1100, "Connectivity between IB and TWS has been lost.", "")))
    assert [e.code for e in transcript.fatal_errors()] == [1100]
    transcript.absorb(_fields(encode_message(4, 2, -1, 1102, "Connectivity restored - data maintained.", "")))
    assert transcript.fatal_errors() == []


def _answered(**changes) -> IbApiDiagnosis:
    diagnosis = IbApiDiagnosis("127.0.0.1", 4002, session=False, client_id=999, tcp_connected=True,
                               handshake_sent=True, bytes_received=30, server_version=178,
                               connection_time="20251023 18:05:00 PST", handshake_seconds=0.0031)
    for name, value in changes.items():
        setattr(diagnosis, name, value)
    return diagnosis


def test_verdicts_before_a_session():
    refused = _answered(tcp_connected=False, connect_error="connection refused on 127.0.0.1:4002 (nothing listening)")
    assert judge(refused, None, 2.0) == (NOT_LISTENING, "connection refused on 127.0.0.1:4002 (nothing listening)")
    silent = _answered(server_version=None, bytes_received=0)
    assert judge(silent, None, 2.0) == (API_SILENT, "TCP accepted, no handshake answer within 2s (0 bytes received)")
    closed = _answered(server_version=None, bytes_received=0, closed_by_peer=True)
    assert judge(closed, None, 2.0)[0] == VERSION_MISMATCH
    newer = _answered(server_version=190)
    assert judge(newer, None, 2.0) == (VERSION_MISMATCH, "server answered version 190, outside the v157..178 we offered")
    garbage = _answered(server_version=None, protocol_error="length prefix 1213486160 exceeds 16777216 bytes")
    assert judge(garbage, None, 2.0)[0] == PROTOCOL_ERROR
    assert judge(_answered(), None, 2.0) == (OK, None)
    assert describe_success(_answered()) == "server version 178 in 3.1ms"


def test_verdicts_of_a_session():
    def session_with(*messages: bytes) -> SessionTranscript:
        transcript = SessionTranscript(178)
        for message in messages:
            transcript.absorb(_fields(message))
        return transcript

    diagnosis = _answered(session=True, start_api_sent=True)
    in_use = session_with(encode_message(4, 2, -1, 326, "Unable to connect as the client id is already in use.", ""))
    assert judge(diagnosis, in_use, 2.0) == (
        CLIENT_ID_IN_USE, "client id 999 is already in use (error 326); the probe needs its own id")
    not_connected = session_with(encode_message(4, 2, -1, 502, "Couldn't connect to TWS.", ""))
    verdict, failure = judge(diagnosis, not_connected, 2.0)
    assert verdict == SESSION_FAILED and failure.startswith("error 502: couldn't connect to TWS/Gateway")
    waiting = session_with(encode_message(9, 1, 1))
    assert judge(diagnosis, waiting, 2.0) == (
        SESSION_FAILED, "server version 178 answered, but no managedAccounts within 2s of startApi (client id 999)")
    ready = session_with(encode_message(9, 1, 1), encode_message(15, 1, "DU1"),
                         encode_message(4, 2, -1, 2103, "Market data farm connection is broken:usfarm", ""))
    assert judge(diagnosis, ready, 2.0) == (OK, None)
    diagnosis.next_valid_id, diagnosis.accounts = 1, ["DU1"]
    diagnosis.errors = [(e.code, e.message, e.meaning) for e in ready.errors]
    assert describe_success(diagnosis) == ("server version 178 in 3.1ms, nextValidId 1, accounts DU1 "
                                           "(warning: 2103 a market data farm connection is broken)")

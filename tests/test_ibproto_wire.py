"""The pure TWS wire codec, on bytes: framing, partial frames, the handshake and negotiation."""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from ibproto.errors import BadHandshake, FrameTooLarge, ProtocolError
from ibproto.wire import (
    API_PREFIX,
    MAX_FRAME_SIZE,
    FrameDecoder,
    HandshakeDecoder,
    HandshakeReply,
    VersionRange,
    build_handshake,
    encode_field,
    encode_handshake_reply,
    encode_message,
    format_connection_time,
    frame,
    negotiate,
    parse_handshake_reply,
    parse_version_range,
    split_fields,
)


def test_fields_and_framing():
    assert [encode_field(v) for v in (None, True, False, 7, 1.5, "x")] == ["", "1", "0", "7", "1.5", "x"]
    assert encode_message(9, 1, 42) == b"\x00\x00\x00\x079\x001\x0042\x00"
    assert frame(b"") == b"\x00\x00\x00\x00"
    assert split_fields(b"9\x001\x0042\x00") == ["9", "1", "42"]
    assert split_fields(b"a\x00\x00b\x00") == ["a", "", "b"]
    assert split_fields(b"") == []
    assert split_fields(b"\xff\x00") == ["\ufffd"]  # bad UTF-8 is replaced, never raised


def test_frame_refuses_an_oversized_payload():
    with pytest.raises(FrameTooLarge):
        frame(b"x" * (MAX_FRAME_SIZE + 1))


def test_frame_decoder_reassembles_a_frame_split_anywhere():
    data = encode_message(1, 2, 3) + encode_message("hello", "world")
    for cut in range(len(data) + 1):
        decoder = FrameDecoder()
        payloads = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert [split_fields(p) for p in payloads] == [["1", "2", "3"], ["hello", "world"]]
        assert decoder.pending == 0


def test_frame_decoder_one_byte_at_a_time_keeps_the_partial_frame_pending():
    decoder = FrameDecoder()
    data = encode_message(49, 1)
    for index, byte in enumerate(data[:-1], start=1):
        assert decoder.feed(bytes([byte])) == []
        assert decoder.pending == index
    assert decoder.feed(data[-1:]) == [b"49\x001\x00"]
    assert decoder.take_pending() == b""


def test_frame_decoder_take_pending_hands_over_an_incomplete_frame():
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00\x00\x05ab")
    assert decoder.take_pending() == b"\x00\x00\x00\x05ab"
    assert decoder.pending == 0


def test_oversized_length_prefix_raises_before_the_body_arrives():
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLarge, match="16777217"):
        decoder.feed(struct.pack(">I", MAX_FRAME_SIZE + 1))
    small = FrameDecoder(max_frame_size=8)
    assert small.feed(frame(b"12345678")) == [b"12345678"]
    with pytest.raises(FrameTooLarge):
        small.feed(frame(b"123456789"))


def test_build_handshake_bytes():
    assert build_handshake() == API_PREFIX + b"\x00\x00\x00\x09v157..178"
    assert build_handshake(100, 176, "+PACEAPI") == API_PREFIX + b"\x00\x00\x00\x12v100..176 +PACEAPI"


@pytest.mark.parametrize("text, expected", [
    ("v100..176", VersionRange(100, 176)),
    ("v176", VersionRange(176, 176)),
    ("v100..176 +PACEAPI", VersionRange(100, 176, "+PACEAPI")),
])
def test_parse_version_range(text, expected):
    assert parse_version_range(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "v", "v1..", "100..176", "v176..100", "vx..y"])
def test_parse_version_range_refuses(text):
    with pytest.raises(BadHandshake):
        parse_version_range(text)


@pytest.mark.parametrize("low, high, expected", [
    (100, 157, 157),  # examples from the issue
    (157, 176, 176),
    (157, 178, 178),
    (100, 200, 178),  # a newer client gets our highest
    (178, 178, 178),
    (179, 190, None),  # entirely above what the server speaks
    (10, 99, None),  # entirely below
])
def test_negotiate_picks_the_highest_common_version(low, high, expected):
    assert negotiate(VersionRange(low, high), 100, 178) == expected


def test_handshake_decoder_byte_by_byte_keeps_what_follows():
    after = encode_message(71, 2, 1, "") + b"\x00\x00"
    data = build_handshake(157, 178) + after
    decoder = HandshakeDecoder()
    results = [decoder.feed(data[i:i + 1]) for i in range(len(build_handshake(157, 178)))]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == VersionRange(157, 178)
    all_at_once = HandshakeDecoder()
    assert all_at_once.feed(data) == VersionRange(157, 178)
    assert all_at_once.rest == after


@pytest.mark.parametrize("data", [b"API=9.72\0", b"GET / HTTP/1.1\r\n", b"\x16\x03\x01", b"APX\0"])
def test_handshake_decoder_refuses_a_wrong_prefix_as_soon_as_it_differs(data):
    decoder = HandshakeDecoder()
    with pytest.raises(BadHandshake, match="did not start with"):
        for index in range(len(data)):
            decoder.feed(data[index:index + 1])
    assert index == next(i for i in range(len(data)) if data[i] != API_PREFIX[i])


def test_handshake_decoder_refuses_an_oversized_or_malformed_frame():
    with pytest.raises(FrameTooLarge):
        HandshakeDecoder().feed(API_PREFIX + struct.pack(">I", MAX_FRAME_SIZE + 1))
    with pytest.raises(BadHandshake):
        HandshakeDecoder().feed(API_PREFIX + frame(b"hello"))
    # A truncated version frame is simply incomplete.
    assert HandshakeDecoder().feed(API_PREFIX + b"\x00\x00\x00\x09v157") is None


def test_handshake_reply_round_trip():
    moment = datetime(2025, 10, 5, 15, 39, 19)
    assert format_connection_time(moment, "EST") == "20251005 15:39:19 EST"
    [payload] = FrameDecoder().feed(encode_handshake_reply(176, "20251005 15:39:19 EST"))
    assert parse_handshake_reply(split_fields(payload)) == HandshakeReply(176, "20251005 15:39:19 EST")


@pytest.mark.parametrize("fields", [[], ["176"], ["abc", "time"], ["4", "2", "-1", "503", "too new", ""],
                                    ["²", "time"], ["١٧٦", "time"], ["9" * 4300, "time"], ["+176", "time"]])
def test_parse_handshake_reply_refuses_anything_else(fields):
    with pytest.raises(ProtocolError):
        parse_handshake_reply(fields)

"""The WebSocket server's wire rules on values: events, subscriptions, tokens."""

from __future__ import annotations

import json

import pytest

from services.websocket_server.messages import (
    DEFAULT_EVENT_TYPES,
    BadMessage,
    bearer_token,
    error_message,
    parse_event,
    parse_event_types,
    parse_subscription,
    subscribed_message,
    token_accepted,
)

KNOWN = DEFAULT_EVENT_TYPES


def test_a_valid_event_is_relayed_byte_for_byte():
    text = '{"type": "tick",  "symbol": "AAPL", "bid": 1.5}'
    event = parse_event(text, KNOWN)
    assert event.type == "tick"
    assert event.payload == text.encode()


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"symbol": "AAPL"}', '"type" field'),
        ('{"type": 7}', '"type" field'),
        ('{"type": ""}', '"type" field'),
        ('{"type": "launch_missiles"}', 'unknown event type "launch_missiles"'),
        ('{"type": "error"}', 'unknown event type "error"'),
        (b'{"type": "tick"}', "binary frames are not accepted"),
    ],
)
def test_bad_events_are_refused_with_a_one_line_reason(frame, fragment):
    with pytest.raises(BadMessage) as caught:
        parse_event(frame, KNOWN)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_echoed_unknown_type_is_clipped():
    with pytest.raises(BadMessage) as caught:
        parse_event(json.dumps({"type": "x" * 500}), KNOWN)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"subscribe": ["tick"]}', frozenset({"tick"})),
        ('{"subscribe": ["tick", "status"]}', frozenset({"tick", "status"})),
        ('{"subscribe": "*"}', None),
        ('{"subscribe": ["*"]}', None),
        ('{"subscribe": null}', None),
    ],
)
def test_subscriptions(frame, expected):
    assert parse_subscription(frame, KNOWN) == expected


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ('{"subscribe": []}', "is empty"),
        ('{"subscribe": ["quotes"]}', 'unknown event type "quotes"'),
        ('{"subscribe": "tick"}', "must be a list"),
        ('{"subscribe": ["tick"], "also": 1}', 'unexpected field "also"'),
        ('{"type": "tick", "symbol": "AAPL"}', "subscribers cannot publish"),
        ("{}", 'missing field "subscribe"'),
        ("{{", "invalid JSON"),
        (b"\x00", "binary frames"),
    ],
)
def test_bad_subscriptions_are_refused(frame, fragment):
    with pytest.raises(BadMessage) as caught:
        parse_subscription(frame, KNOWN)
    assert fragment in str(caught.value)


def test_server_messages_are_json_with_a_type():
    assert json.loads(error_message("bad")) == {"type": "error", "error": "bad"}
    assert json.loads(subscribed_message(frozenset({"tick", "status"}))) == {"type": "subscribed", "types": ["status", "tick"]}
    assert json.loads(subscribed_message(None)) == {"type": "subscribed", "types": "*"}


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer s3cret", "s3cret"), ("bearer  s3cret ", "s3cret"), ("Basic abc", None), ("Bearer", None), (None, None), ("", None)],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_token_check():
    assert token_accepted(None, None)  # no token configured: publishing is open
    assert token_accepted("s3cret", "s3cret")
    assert not token_accepted("s3cret", None)
    assert not token_accepted("s3cret", "s3cre")
    assert not token_accepted("s3cret", "s3cret2")


def test_event_types_option():
    assert parse_event_types("tick, status") == frozenset({"tick", "status"})
    with pytest.raises(BadMessage, match="reserved"):
        parse_event_types("tick,error")
    with pytest.raises(BadMessage, match="empty name"):
        parse_event_types("tick,,status")

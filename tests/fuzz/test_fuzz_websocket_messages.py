"""The WebSocket server's message rules on arbitrary frames: an Event / a filter, or BadMessage; nothing else.

What is accepted must be relayable as is: strict JSON (no NaN or Infinity, no lone
surrogates, bounded nesting), so every subscriber can parse it.
"""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from services.websocket_server.messages import (
    DEFAULT_EVENT_TYPES,
    BadMessage,
    origin_allowed,
    parse_event,
    parse_subscription,
)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
frames = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=100),
    json_values.map(lambda value: json.dumps(value)),
    st.fixed_dictionaries({"type": st.sampled_from(sorted(DEFAULT_EVENT_TYPES) + ["error", ""])},
                          optional={"price": st.floats(), "symbol": st.text(max_size=8), "nested": json_values})
    .map(json.dumps),
    st.integers(min_value=1, max_value=5000).map(lambda depth: '{"type": "tick", "a": ' + "[" * depth + "]" * depth + "}"),
)


def strictly_parsable(payload: bytes) -> None:
    def refuse(name: str) -> None:
        raise AssertionError(f"relayed a non-JSON constant {name}")

    document = json.loads(payload.decode("utf-8"), parse_constant=refuse)
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate can be encoded


@given(frame=frames)
def test_publisher_frames(frame):
    try:
        event = parse_event(frame, DEFAULT_EVENT_TYPES)
    except BadMessage as error:
        assert str(error) and "\n" not in str(error)
        return
    assert event.type in DEFAULT_EVENT_TYPES
    strictly_parsable(event.payload)


@given(frame=frames)
def test_subscriber_frames(frame):
    try:
        chosen = parse_subscription(frame, DEFAULT_EVENT_TYPES)
    except BadMessage as error:
        assert str(error)
        return
    assert chosen is None or chosen <= DEFAULT_EVENT_TYPES


@given(origin=st.one_of(st.none(), st.text(max_size=60)), allowed=st.lists(st.text(max_size=20), max_size=3))
def test_origin_rule_never_fails(origin, allowed):
    assert origin_allowed(origin, allowed) in (True, False)

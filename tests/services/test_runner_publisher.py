"""The trader's WebSocket publisher: its bounded outbox on values, then against a real server."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from services.runner_async.backoff import Backoff
from services.runner_async.publisher import EventPublisher
from tests.helpers import read_line_matching
from tests.services.conftest import eventually

QUICK_RETRIES = Backoff(initial=0.05, maximum=0.2)


async def test_the_outbox_keeps_the_newest_events_and_counts_the_dropped():
    publisher = EventPublisher("ws://127.0.0.1:9/publish", outbox_limit=3)
    for number in range(5):
        publisher.publish({"type": "tick", "n": number})
    assert [json.loads(text)["n"] for text in publisher.outbox] == [2, 3, 4]
    assert publisher.dropped == 2


async def test_events_queued_before_connecting_are_sent_in_order_then_closed_cleanly(websocket_server):
    server = websocket_server()
    async with connect(server.url) as subscriber:
        await eventually(lambda: _subscribers(server), what="the subscriber on /healthz")
        publisher = EventPublisher(server.publish_url, backoff=QUICK_RETRIES)
        for number in range(3):
            publisher.publish({"type": "status", "state": "test", "n": number})
        publisher.start()
        received = [json.loads(await asyncio.wait_for(subscriber.recv(), 30)) for _ in range(3)]
        assert [event["n"] for event in received] == [0, 1, 2]
        await publisher.close()
        assert publisher.sent == 3 and not publisher.outbox
    read_line_matching(server.proc, r"publisher #1 disconnected \(code 1000\)")


async def test_a_refused_token_is_reported_with_the_servers_reason_and_retried(websocket_server):
    server = websocket_server(env={"ROBOSTACK_WS_TOKEN": "right"})
    changes: list[tuple[str, str]] = []
    publisher = EventPublisher(server.publish_url, token="wrong", backoff=QUICK_RETRIES,
                               on_state=lambda state, detail: changes.append((state, detail)))
    publisher.start()
    try:
        async def refused_twice() -> bool:
            return sum("HTTP 403 wrong publisher token" in detail for _, detail in changes) >= 2
        await eventually(refused_twice, what="two refusals reported")
        assert all(state == "reconnecting" for state, _ in changes)
        assert not publisher.connected.is_set()
    finally:
        await publisher.close()


async def _subscribers(server) -> bool:
    return (await server.health_async())["subscribers"] == 1

"""The WebSocket server as a real process, driven by real `websockets` clients over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import PYTHON, REPO, free_port, read_line_matching, wait_for_port_free
from tests.services.conftest import eventually


async def recv_json(connection, timeout: float = 30.0) -> dict:
    return json.loads(await asyncio.wait_for(connection.recv(), timeout))


async def subscribers_connected(server, count: int) -> None:
    await eventually(lambda: _has(server, "subscribers", count), what=f"{count} subscribers on /healthz")


async def _has(server, key: str, value: int) -> bool:
    return (await server.health_async())[key] == value


async def test_healthz_answers_plain_http_with_counters(websocket_server):
    server = websocket_server()
    body = await server.health_async()
    assert body["status"] == "ok"
    assert body["uptime_s"] >= 0
    for key in ("subscribers", "publishers", "events_relayed", "events_dropped", "events_rejected", "subscribers_evicted"):
        assert body[key] == 0, key


async def test_every_subscriber_receives_every_event_and_filters_apply(websocket_server):
    server = websocket_server()
    async with connect(server.url) as first, connect(server.url) as second, connect(server.url) as statuses:
        await statuses.send(json.dumps({"subscribe": ["status"]}))
        assert await recv_json(statuses) == {"type": "subscribed", "types": ["status"]}
        await subscribers_connected(server, 3)
        sent = []
        async with connect(server.publish_url) as publisher:
            for number in range(30):
                event = {"type": "status" if number % 10 == 0 else "tick", "symbol": "AAPL", "n": number}
                sent.append(event)
                await publisher.send(json.dumps(event))
            for receiver in (first, second):
                assert [await recv_json(receiver) for _ in sent] == sent
            assert [await recv_json(statuses) for _ in range(3)] == [e for e in sent if e["type"] == "status"]
            health = await server.health_async()
            assert health["publishers"] == 1
            assert health["events_relayed"] == 30
            assert health["events_dropped"] == 0


async def test_publishing_needs_the_token_when_one_is_set(websocket_server):
    server = websocket_server(env={"ROBOSTACK_WS_TOKEN": "s3cret"})
    with pytest.raises(InvalidStatus) as missing:
        async with connect(server.publish_url):
            pass
    assert missing.value.response.status_code == 401
    assert b"Authorization: Bearer" in missing.value.response.body
    with pytest.raises(InvalidStatus) as wrong:
        async with connect(server.publish_url, additional_headers={"Authorization": "Bearer guess"}):
            pass
    assert wrong.value.response.status_code == 403
    async with connect(server.url) as subscriber:  # subscribers need no token
        await subscribers_connected(server, 1)
        async with connect(server.publish_url, additional_headers={"Authorization": "Bearer s3cret"}) as publisher:
            await publisher.send(json.dumps({"type": "tick", "symbol": "NVDA"}))
            assert await recv_json(subscriber) == {"type": "tick", "symbol": "NVDA"}
    health = await server.health_async()
    assert health["events_rejected"] == 2
    assert health["events_relayed"] == 1


async def test_a_subscriber_cannot_publish(websocket_server):
    server = websocket_server()
    async with connect(server.url) as sneaky, connect(server.url) as victim:
        await subscribers_connected(server, 2)
        await sneaky.send(json.dumps({"type": "tick", "symbol": "FAKE"}))
        reply = await recv_json(sneaky)
        assert reply["type"] == "error"
        assert "subscribers cannot publish" in reply["error"]
        async with connect(server.publish_url) as publisher:
            await publisher.send(json.dumps({"type": "tick", "symbol": "REAL"}))
            assert await recv_json(victim) == {"type": "tick", "symbol": "REAL"}  # the fake one never arrived


async def test_bad_input_gets_an_error_and_everyone_else_keeps_being_served(websocket_server):
    server = websocket_server("--max-message-bytes", "4096")
    async with connect(server.url) as subscriber, connect(server.publish_url) as clumsy, \
            connect(server.publish_url) as careful:
        await subscribers_connected(server, 1)
        bad_frames = ["{not json", "[1,2,3]", json.dumps({"symbol": "AAPL"}), json.dumps({"type": "weather"}),
                      b"\x01\x02binary"]
        for frame in bad_frames:
            await clumsy.send(frame)
            reply = await recv_json(clumsy)
            assert reply["type"] == "error" and reply["error"], frame
        await clumsy.send(json.dumps({"type": "tick", "n": 1}))  # still connected, still heard
        assert await recv_json(subscriber) == {"type": "tick", "n": 1}

        await clumsy.send(json.dumps({"type": "tick", "padding": "x" * 10_000}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(clumsy.recv(), 30)
        assert clumsy.close_code == 1009  # message too big, with the library's reason

        await careful.send(json.dumps({"type": "status", "state": "ok"}))
        assert await recv_json(subscriber) == {"type": "status", "state": "ok"}
        health = await server.health_async()
        assert health["events_rejected"] == len(bad_frames)
        assert health["events_relayed"] == 2
        assert health["publishers"] == 1


async def test_unknown_paths_are_404(websocket_server):
    server = websocket_server()
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://127.0.0.1:{server.port}/elsewhere"):
            pass
    assert caught.value.response.status_code == 404


def stuck_socket(port: int) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer, so a client that stops reading stalls fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


async def test_a_stuck_subscriber_loses_old_events_never_delays_others_and_is_disconnected(websocket_server):
    server = websocket_server("--queue-size", "20", "--stuck-timeout", "1")
    padding = "x" * 16_000  # big events fill the socket buffers in a few hundred messages
    async with connect(server.url, sock=stuck_socket(server.port), max_queue=1) as stuck, \
            connect(server.url) as healthy, connect(server.publish_url) as publisher:
        await subscribers_connected(server, 2)
        number = 0

        async def publish_in_step() -> dict:
            # One event at a time, each awaited at the healthy subscriber: it must never lag
            # behind, however long the stuck one has stopped reading.
            nonlocal number
            for _ in range(20):
                number += 1
                await publisher.send(json.dumps({"type": "tick", "n": number, "padding": padding}))
                received = await recv_json(healthy)
                assert received["n"] == number
            return await server.health_async()

        health = await eventually(lambda: _evicted(publish_in_step), timeout=90, what="the stuck subscriber's eviction")
        assert health["events_dropped"] > 0
        assert health["subscribers"] == 1
        read_line_matching(server.proc, r"subscriber #1 too slow: no progress for 1s")

        with pytest.raises(ConnectionClosed):  # the stuck client, reading at last, finds its connection ended
            while True:
                await asyncio.wait_for(stuck.recv(), 30)
        if stuck.protocol.close_rcvd is not None:  # the close frame got through before the close timeout
            assert stuck.protocol.close_rcvd.code == 1008
            assert "too slow" in stuck.protocol.close_rcvd.reason
        await publisher.send(json.dumps({"type": "tick", "n": "after"}))
        assert (await recv_json(healthy))["n"] == "after"


async def _evicted(publish_in_step) -> dict | None:
    health = await publish_in_step()
    return health if health["subscribers_evicted"] == 1 else None


async def test_sigterm_closes_every_client_with_a_close_frame_and_exits_zero(websocket_server):
    server = websocket_server()
    async with connect(server.url) as subscriber, connect(server.publish_url) as publisher:
        await subscribers_connected(server, 1)
        server.proc.send_signal(signal.SIGTERM)
        for client in (subscriber, publisher):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(client.recv(), 30)
            assert client.protocol.close_rcvd is not None and client.protocol.close_rcvd.code == 1001
            assert client.protocol.close_rcvd.reason == "server shutting down"
    assert await asyncio.to_thread(server.proc.wait, 30) == 0
    wait_for_port_free(server.port)


def test_bad_options_and_a_busy_port_give_one_line_errors():
    bad = subprocess.run([PYTHON, "-m", "services.websocket_server", "--queue-size", "0"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "--queue-size" in bad.stderr and "Traceback" not in bad.stderr

    reserved = subprocess.run([PYTHON, "-m", "services.websocket_server", "--event-types", "tick,error"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert reserved.returncode == 2
    assert reserved.stderr.strip() == 'error: --event-types: "error" is reserved for messages the server sends'

    with socket.socket() as holder:
        port = free_port()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        busy = subprocess.run([PYTHON, "-m", "services.websocket_server", "--port", str(port)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr

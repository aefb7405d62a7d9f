"""websocket probe against a real `websockets` server, and against things that are not one."""

from __future__ import annotations

from http import HTTPStatus

from websockets.asyncio.server import serve

from launcher.probes.registry import PROBES
from launcher.stack.model import WebSocketCheck
from tests.helpers import free_port


async def _echo(connection) -> None:
    async for message in connection:
        await connection.send(message)


async def test_websocket_healthy_against_a_real_server(context):
    closes = []

    async def handler(connection) -> None:
        await _echo(connection)
        closes.append(connection.close_code)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        result = await PROBES["websocket"](WebSocketCheck(url=f"ws://127.0.0.1:{port}/"), 2.0, context)
        assert result.ok, result.detail
        assert result.detail.startswith(f"WebSocket opened to ws://127.0.0.1:{port}/ in ")
    # The probe closed with a proper close frame (1000), not by dropping the TCP connection.
    assert closes == [1000]


async def test_websocket_rejected_upgrade_reports_the_status(context):
    def refuse(connection, request):
        return connection.respond(HTTPStatus.FORBIDDEN, "not for probes\n")

    async with serve(_echo, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        result = await PROBES["websocket"](WebSocketCheck(url=f"ws://127.0.0.1:{port}/"), 2.0, context)
    assert not result.ok
    assert result.detail == f"HTTP 403 from ws://127.0.0.1:{port}/ instead of a WebSocket upgrade (101)"


async def test_websocket_against_a_plain_http_server(http_server, context):
    url = http_server.replace("http://", "ws://") + "/health"
    result = await PROBES["websocket"](WebSocketCheck(url=url), 2.0, context)
    assert not result.ok
    # The stdlib server answers HTTP/1.0, which no WebSocket server would.
    assert result.detail.startswith(f"WebSocket handshake with {url} failed: ")
    assert "HTTP/1.0" in result.detail


async def test_websocket_refused_on_a_closed_port(context):
    port = free_port()
    result = await PROBES["websocket"](WebSocketCheck(url=f"ws://127.0.0.1:{port}/"), 2.0, context)
    assert not result.ok
    assert result.detail == f"connection refused on 127.0.0.1:{port} (nothing listening)"


async def test_websocket_silent_listener_times_out(mute_listener, context):
    result = await PROBES["websocket"](WebSocketCheck(url=f"ws://127.0.0.1:{mute_listener}/"), 0.3, context)
    assert not result.ok
    assert result.detail == f"no WebSocket handshake answer from ws://127.0.0.1:{mute_listener}/ within 300ms"


async def test_websocket_refuses_non_loopback(context):
    result = await PROBES["websocket"](WebSocketCheck.model_construct(url="wss://stream.example.com/"), 2.0, context)
    assert not result.ok and "only loopback hosts" in result.detail

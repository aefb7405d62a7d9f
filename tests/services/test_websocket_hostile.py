"""The WebSocket server against hostile browsers, publishers and HTTP clients (issue 11), as a real process.

Before: any web page could subscribe (no Origin check); NaN, Infinity and lone
surrogates were relayed; a 60 KB nested JSON closed the connection with 1011; a
pipelined GET /healthz got no answer; `--port 70000` was a traceback and
`--stuck-timeout nan` disabled eviction.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.websocket_server.messages import BadMessage, DEFAULT_EVENT_TYPES, origin_allowed, parse_event
from tests.helpers import PYTHON, REPO
from tests.services.test_websocket_server import recv_json, subscribers_connected


# -- origins ---------------------------------------------------------------------------------

@pytest.mark.parametrize("origin, allowed, expected", [
    (None, (), True), ("http://127.0.0.1:8080", (), True), ("https://localhost", (), True),
    ("http://[::1]:3000", (), True), ("http://127.9.9.9", (), True),
    ("https://evil.example", (), False), ("null", (), False), ("http://localhost.evil.example", (), False),
    ("file://", (), False), ("http://10.0.0.5", (), False), ("ws://127.0.0.1", (), False),
    ("https://dash.example", ("https://dash.example",), True), ("https://other.example", ("*",), True),
])
def test_origin_rule(origin, allowed, expected):
    assert origin_allowed(origin, allowed) is expected


async def test_a_web_page_from_elsewhere_cannot_subscribe_or_publish(websocket_server):
    server = websocket_server()
    for url in (server.url, server.publish_url):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, origin="https://evil.example", open_timeout=10)
        assert refused.value.response.status_code == 403
    async with connect(server.url, origin="http://localhost:5173"), connect(server.url):
        await subscribers_connected(server, 2)  # a local page and a non-browser client are welcome
    assert (await server.health_async())["events_rejected"] == 2


async def test_allow_origin_widens_the_rule(websocket_server):
    server = websocket_server("--allow-origin", "https://dash.example")
    async with connect(server.url, origin="https://dash.example"):
        await subscribers_connected(server, 1)
    with pytest.raises(InvalidStatus):
        await connect(server.url, origin="https://evil.example", open_timeout=10)


# -- strict JSON -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('{"type": "tick", "price": NaN}', "NaN is not a JSON number"),
    ('{"type": "tick", "price": Infinity}', "Infinity is not a JSON number"),
    ('{"type": "tick", "price": -Infinity}', "-Infinity is not a JSON number"),
    ('{"type": "tick", "symbol": "\\ud800"}', "lone surrogate"),
    ('{"type": "tick", "\\udfff": 1}', "lone surrogate"),
    ('{"type": "tick", "a": ' + "[" * 30000 + "]" * 30000 + "}", "nested deeper than 32 levels"),
    ("[" * 60000, "nested deeper than 32 levels"),
])
def test_strict_json_on_values(text, words):
    with pytest.raises(BadMessage, match=words):
        parse_event(text, DEFAULT_EVENT_TYPES)


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"type": "tick", "note": "[" * 100 + "{" * 100})
    assert parse_event(text, DEFAULT_EVENT_TYPES).payload == text.encode()


async def test_non_json_numbers_surrogates_and_deep_nesting_are_refused_and_never_relayed(websocket_server):
    server = websocket_server("--max-message-bytes", str(256 * 1024))
    bad = ['{"type": "tick", "price": NaN}', '{"type": "tick", "symbol": "\\ud800"}',
           '{"type": "tick", "a": ' + "[" * 30000 + "]" * 30000 + "}"]
    good = {"type": "tick", "symbol": "AAPL", "price": 1.5}
    async with connect(server.url) as subscriber, connect(server.publish_url, max_size=None) as publisher:
        await subscribers_connected(server, 1)
        for text in bad:
            await publisher.send(text)
            reply = await recv_json(publisher)
            assert reply["type"] == "error", reply
        await publisher.send(json.dumps(good))  # the connection survived every bad frame
        assert await recv_json(subscriber) == good
    assert (await server.health_async())["events_rejected"] == 3


# -- HTTP ------------------------------------------------------------------------------------

def raw_http(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_pipelined_healthz_is_answered_once_with_connection_close(websocket_server):
    server = websocket_server()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw_http(server.port, request * 2)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    assert json.loads(body)["status"] == "ok"


@pytest.mark.parametrize("request_bytes, status", [
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
    (b"garbage\r\n\r\n", b"400"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"400"),  # TLS spoken to a plain port: no line end needed
    (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
])
def test_other_http_requests_get_a_proper_refusal(websocket_server, request_bytes, status):
    server = websocket_server()
    answer = raw_http(server.port, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]


# -- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--port", "70000"], "port 70000 is out of range (0-65535)"),
    (["--port", "http"], "expected a port number"),
    (["--stuck-timeout", "nan"], "must be a finite number above zero, got nan"),
    (["--stuck-timeout", "inf"], "must be a finite number above zero, got inf"),
    (["--queue-size", "0"], "must be from 1 to"),
    (["--max-message-bytes", "99999999999"], "must be from 1 to"),
])
def test_bad_command_line_values_are_one_line_errors(args, words):
    result = subprocess.run([PYTHON, "-m", "services.websocket_server", *args], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert words in result.stderr

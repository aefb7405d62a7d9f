"""tcp and http probes against real listening sockets and a real HTTP server."""

from __future__ import annotations

import socket

from launcher.probes.http import build_request, parse_status_line
from launcher.stack.urls import is_loopback_host, parse_probe_url as check_url
from launcher.probes.registry import PROBES
from launcher.stack.model import HttpCheck, TcpCheck
from tests.helpers import free_port


async def test_tcp_healthy_on_a_listening_socket(context):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        result = await PROBES["tcp"](TcpCheck(port=port), 2.0, context)
    assert result.ok, result.detail
    assert result.kind == "tcp"
    assert f"127.0.0.1:{port}" in result.detail
    assert result.facts["connect_latency"] >= 0


async def test_tcp_refused_on_a_closed_port(context):
    port = free_port()
    result = await PROBES["tcp"](TcpCheck(port=port), 2.0, context)
    assert not result.ok
    assert result.detail == f"connection refused on 127.0.0.1:{port} (nothing listening)"


async def test_http_expected_status_is_healthy(http_server, context):
    result = await PROBES["http"](HttpCheck(url=f"{http_server}/health"), 2.0, context)
    assert result.ok, result.detail
    assert result.detail.startswith(f"HTTP 200 from {http_server}/health in ")
    assert result.facts["status"] == 200


async def test_http_other_status_is_unhealthy_and_shows_the_body(http_server, context):
    result = await PROBES["http"](HttpCheck(url=f"{http_server}/down"), 2.0, context)
    assert not result.ok
    assert result.detail == f"HTTP 503 from {http_server}/down (expected 200): API not ready: still logging in"


async def test_http_a_declared_status_other_than_200(http_server, context):
    result = await PROBES["http"](HttpCheck(url=f"{http_server}/missing", status=404), 2.0, context)
    assert result.ok, result.detail


async def test_http_redirect_is_reported_not_followed(http_server, context):
    result = await PROBES["http"](HttpCheck(url=f"{http_server}/moved"), 2.0, context)
    assert not result.ok
    assert result.facts["status"] == 302


async def test_http_refused_on_a_closed_port(context):
    port = free_port()
    result = await PROBES["http"](HttpCheck(url=f"http://127.0.0.1:{port}/health"), 2.0, context)
    assert not result.ok
    assert result.detail == f"connection refused on 127.0.0.1:{port} (nothing listening)"


async def test_http_server_that_never_answers_times_out(mute_listener, context):
    result = await PROBES["http"](HttpCheck(url=f"http://127.0.0.1:{mute_listener}/"), 0.3, context)
    assert not result.ok
    assert result.detail == f"no HTTP answer from http://127.0.0.1:{mute_listener}/ within 300ms"


async def test_http_refuses_non_loopback_and_other_schemes(context):
    # The stack file refuses these at load; the probe refuses them again for direct callers.
    result = await PROBES["http"](HttpCheck.model_construct(url="http://example.com/", status=200), 2.0, context)
    assert not result.ok and "only loopback hosts" in result.detail
    result = await PROBES["http"](HttpCheck.model_construct(url="ftp://127.0.0.1/", status=200), 2.0, context)
    assert not result.ok and "unsupported URL scheme" in result.detail


def test_http_pure_parts():
    assert is_loopback_host("127.0.0.5") and is_loopback_host("::1") and is_loopback_host("LOCALHOST")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("gateway.example")
    parts = check_url("http://127.0.0.1:8080/health?deep=1", ("http",))
    assert build_request(parts).startswith(b"GET /health?deep=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert "invalid URL" in check_url("http://127.0.0.1:99999/", ("http",))
    assert parse_status_line(b"HTTP/1.0 204 No Content\r\n") == 204
    try:
        parse_status_line(b"SSH-2.0-OpenSSH\r\n")
    except ValueError as err:
        assert "not an HTTP status line" in str(err)
    else:
        raise AssertionError("a non-HTTP line parsed")

"""The HTTP API in-process: the real server and the state-directory view, real HTTP clients.

The test process plays the supervisor (its pid in run.json, the real stack lock, the real
event log), so every answer comes from the same files a running stack writes.
"""

from __future__ import annotations

import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from launcher.commands.status import StatusView, status_json
from launcher.state.interpret import effective_state
from launcher.state.store import read_run_state
from tests.helpers import wait_until
from tests.web.client import SseClient, get, raw, status_of
from tests.web.conftest import SECRET

ENDPOINTS = ["/", "/healthz", "/readyz", "/api/status", "/api/events", "/api/graph", "/api/logs/gateway", "/metrics",
             "/static/dashboard.js", "/static/dashboard.css"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_answers_get_and_head_alike(api, played, path):
    played.write_log("gateway", "hello\n")
    server = api()
    full = get(server.port, path)
    head = get(server.port, path, method="HEAD")
    assert full.status == 200, full.text
    assert head.status == 200 and head.body == b""
    assert full.headers["content-length"] == str(len(full.body)) and head.headers["content-length"].isdigit()
    if path.startswith("/static/") or path in ("/healthz", "/readyz", "/api/graph"):
        assert head.headers["content-length"] == full.headers["content-length"]
    assert head.headers["content-type"] == full.headers["content-type"]
    assert full.headers["cache-control"] == "no-store" and full.headers["x-content-type-options"] == "nosniff"


def test_the_icon_browsers_ask_for_is_no_content(api):
    reply = get(api().port, "/favicon.ico")
    assert reply.status == 204 and reply.body == b""


def test_status_is_what_status_json_prints(api, played):
    server = api()
    expected = status_json(StatusView(effective_state(read_run_state(played.paths), True), True, True))
    served = get(server.port, "/api/status").json()
    for document in (expected, served):
        for service in document["services"]:
            service.pop("uptime")
    assert served == expected


def test_readyz_flips_with_a_service_and_names_the_reason(api, played):
    server = api()
    assert get(server.port, "/readyz").json() == {"ready": True, "reasons": []}
    played.set("trader", "restarting", reason="exited with code 3")
    reply = get(server.port, "/readyz")
    assert reply.status == 503
    assert reply.json()["reasons"] == ["trader: restarting (exited with code 3)"]
    played.set("trader", "healthy", reason=None)
    assert get(server.port, "/readyz").status == 200


def test_healthz_says_when_the_supervisor_is_gone(api, played):
    server = api()
    assert get(server.port, "/healthz").json() == {"status": "ok"}
    played.lock.release()
    reply = get(server.port, "/healthz")
    assert reply.status == 503 and reply.json()["status"] == "down"
    assert get(server.port, "/readyz").json()["reasons"][0] == "the stack's supervisor is not running"


def test_a_stack_that_never_ran_gets_503_with_the_reason(api, played):
    played.paths.run_state.unlink()
    server = api()
    reply = get(server.port, "/api/status")
    assert reply.status == 503 and "has not run here" in reply.json()["error"]
    assert get(server.port, "/readyz").status == 503
    assert get(server.port, "/").status == 200  # the page still loads and says so


def test_events_page_by_cursor(api, played):
    for number in range(5):
        played.emit("gateway", "healthy", f"probe {number}", n=number)
    server = api()
    last_two = get(server.port, "/api/events?limit=2").json()
    assert [e["n"] for e in last_two["events"]] == [3, 4] and last_two["more"] is False
    first = get(server.port, "/api/events?since=0&limit=3").json()
    assert [e["n"] for e in first["events"]] == [0, 1, 2] and first["more"] is True
    rest = get(server.port, f"/api/events?since={first['next']}").json()
    assert [e["n"] for e in rest["events"]] == [3, 4]
    assert set(first["events"][0]) >= {"time", "service", "event", "reason"}


@pytest.mark.parametrize("path", ["/api/events?limit=0", "/api/events?limit=1001", "/api/events?since=-1",
                                  "/api/events?since=abc", "/api/events?limt=5", "/api/logs/gateway?lines=0",
                                  "/api/logs/gateway?lines=x", "/api/status?verbose=1", "/metrics?x="])
def test_bad_parameters_get_400_naming_them(api, path):
    reply = get(api().port, path)
    assert reply.status == 400
    assert reply.text.count("\n") == 1  # one line


@pytest.mark.parametrize("path", ["/nope", "/api", "/api/logs/", "/api/logs/nobody", "/static/other.js", "/static/",
                                  "/metrics/"])
def test_unknown_paths_get_404(api, path):
    assert get(api().port, path).status == 404


def test_logs_are_tailed_and_secrets_masked(api, played):
    played.write_log("trader", "".join(f"line {n}\n" for n in range(300)))
    played.write_log("trader", f"connecting with --password {SECRET}\nTWSPASSWORD=abc123 IB_TOKEN: xyz\n")
    server = api()
    lines = get(server.port, "/api/logs/trader?lines=3").json()["lines"]
    assert lines == ["line 299", "connecting with --password ***", "TWSPASSWORD=*** IB_TOKEN: ***"]
    assert len(get(server.port, "/api/logs/trader").json()["lines"]) == 100


def test_a_tail_asked_again_shows_what_was_written_since(api, played):
    played.write_log("gateway", "first\n")
    server = api()
    assert get(server.port, "/api/logs/gateway?lines=2").json()["lines"] == ["first"]
    assert get(server.port, "/api/logs/gateway?lines=2").json()["lines"] == ["first"]  # unchanged: kept
    played.write_log("gateway", f"second --password {SECRET}\n")
    assert get(server.port, "/api/logs/gateway?lines=2").json()["lines"] == ["first", "second --password ***"]


def test_no_secret_in_any_answer(api, played):
    played.emit("trader", "starting", f"python -c pass --password {SECRET}")
    played.set("trader", "unhealthy", reason=f"login failed for password {SECRET}")
    played.write_log("trader", f"{SECRET}\n")
    server = api()
    bodies = [get(server.port, path).body for path in ENDPOINTS + ["/api/logs/trader"]]
    stream = SseClient(server.port)
    try:
        bodies.append(repr(stream.until(lambda m: m.event == "status").data).encode())
    finally:
        stream.close()
    assert not [body for body in bodies if SECRET.encode() in body]
    assert b"--password ***" in get(server.port, "/api/events").body


def test_foreign_origins_and_hosts_are_refused(api):
    server = api()
    assert get(server.port, "/api/status", headers={"Origin": "https://evil.example"}).status == 403
    assert get(server.port, "/api/status", headers={"Host": "evil.example"}).status == 403
    assert get(server.port, "/api/status", headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert get(server.port, "/api/status", headers={"Origin": "http://localhost:3000",
                                                    "Host": f"localhost:{server.port}"}).status == 200


@pytest.mark.parametrize("data, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.0\r\n\r\n", 400),
    (b"POST /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc", 405),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"p" * 20000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n", 505),
])
def test_malformed_requests_get_a_clean_4xx_and_the_connection_closes(api, data, status):
    response, closed = raw(api().port, data)
    assert status_of(response) == status
    assert closed
    assert b"Traceback" not in response


def test_a_client_that_never_finishes_its_head_gets_408(api):
    server = api(head_timeout=0.5)
    response, closed = raw(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert status_of(response) == 408 and closed


def test_a_client_closing_early_leaves_the_server_serving(api):
    server = api()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET / HT")
    assert get(server.port, "/healthz").status == 200


def test_metrics_parse_and_count_log_bytes_and_close_wait_sockets(api, played, port):
    log = played.write_log("gateway", "x" * 1234)
    rotated = log.with_name(log.stem + ".1.log")  # an earlier part of the same run, as the log writer rotates
    rotated.write_bytes(b"y" * 500)
    log.with_name(log.stem + ".status").write_text('{"state": "failing", "lost": 7}')  # the writer's record
    listener = socket.create_server(("127.0.0.1", port))  # the gateway's declared port
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    client.close()  # the server side never closes: CLOSE_WAIT, as a Gateway's zombies
    try:
        server = api()
        values = {}
        for family in text_string_to_metric_families(get(server.port, "/metrics").text):
            for sample in family.samples:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        assert values[("robostack_log_bytes", (("service", "gateway"),))] == log.stat().st_size + 500
        assert values[("robostack_log_lines_lost_total", (("service", "gateway"),))] == 7
        assert values[("robostack_close_wait_sockets", (("port", str(port)), ("service", "gateway")))] == 1
        assert values[("robostack_service_healthy", (("service", "trader"),))] == 1
        assert values[("robostack_gateway_condition", (("condition", "unknown"), ("service", "gateway")))] == 1
        assert values[("robostack_up", ())] == 1
    finally:
        accepted.close()
        listener.close()


def test_the_stream_sends_status_then_changes_and_new_events(api, played):
    server = api()
    stream = SseClient(server.port)
    try:
        first = stream.next()
        assert first.event == "status" and first.data["stack"] == "webtest"
        played.emit("gateway", "exited", "killed by SIGKILL")
        event = stream.until(lambda m: m.event == "timeline")
        assert event.data["event"] == "exited" and event.id is not None
        played.set("gateway", "restarting")
        changed = stream.until(lambda m: m.event == "status")
        assert [s["state"] for s in changed.data["services"] if s["name"] == "gateway"] == ["restarting"]
    finally:
        stream.close()
    resumed = SseClient(server.port, headers={"Last-Event-ID": "0"})
    try:
        assert resumed.until(lambda m: m.event == "timeline").data["event"] == "exited"
    finally:
        resumed.close()


def test_streams_are_limited_and_a_closed_one_frees_its_slot(api):
    server = api(max_streams=2)
    streams = [SseClient(server.port), SseClient(server.port)]
    try:
        for stream in streams:
            stream.next()
        refused = get(server.port, "/api/stream")
        assert refused.status == 503 and refused.headers["retry-after"] == "5"
        streams.pop().close()
        wait_until(lambda: server.server.streams == 1, what="the closed stream's slot to be freed")
        streams.append(SseClient(server.port))
        assert streams[-1].next().event == "status"
    finally:
        for stream in streams:
            stream.close()


def test_the_page_is_locked_down_by_its_content_security_policy(api, web_stack):
    reply = get(api().port, "/")
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    websocket_port = web_stack.services["websocket"].ports[0]
    assert f"connect-src 'self' ws://127.0.0.1:{websocket_port}" in policy
    assert f'data-feed="ws://127.0.0.1:{websocket_port}/"' in reply.text
    assert "<script>" not in reply.text and " style=" not in reply.text


def test_closing_the_server_ends_open_streams(api):
    server = api()
    stream = SseClient(server.port)
    stream.next()
    started = time.monotonic()
    server.call(server.server.close())
    with pytest.raises(AssertionError):
        stream.until(lambda m: False, timeout=10)
    assert time.monotonic() - started < 10
    stream.close()


def test_a_long_backlog_is_streamed_in_order_from_an_old_cursor(api, played):
    for number in range(450):
        played.emit("trader", "healthy", "probe", n=number)
    server = api()
    stream = SseClient(server.port, path="/api/stream?since=0")
    try:
        numbers = [stream.until(lambda m: m.event == "timeline").data["n"] for _ in range(450)]
    finally:
        stream.close()
    assert numbers == list(range(450))


def test_head_of_the_stream_is_its_head_only(api):
    response, closed = raw(api().port, b"HEAD /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"\r\n\r\n") and closed
    assert b"text/event-stream" in response


def test_connections_past_the_limit_get_503(api):
    server = api(max_connections=2)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
    try:
        wait_until(lambda: len(server.server._connections) == 2, what="two connections held open")
        response, closed = raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(response) == 503 and closed
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: get(server.port, "/healthz").status == 200, what="the server to serve again")

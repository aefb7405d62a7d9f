"""The HTTP core on bytes: what is accepted, what is refused and with which status."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from launcher.web.http11 import (MAX_HEADER_BYTES, MAX_REQUEST_LINE, HttpError, Response, head_complete,
                                 parse_request, split_target, stream_head)


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refused(data: bytes) -> HttpError:
    with pytest.raises(HttpError) as caught:
        parse_request(data)
    return caught.value


def test_a_plain_get_is_parsed_with_lower_case_headers_and_a_decoded_query():
    request = parse_request(head("GET /api/events?since=12&limit=5 HTTP/1.1", "Host: 127.0.0.1:8790",
                                 "Accept: */*"))
    assert (request.method, request.path, request.version) == ("GET", "/api/events", (1, 1))
    assert request.query == {"since": "12", "limit": "5"}
    assert request.header("HOST") == "127.0.0.1:8790"


def test_percent_encoding_in_path_and_query_is_decoded():
    request = parse_request(head("GET /api/logs/my%2Dservice?x=a%20b+c HTTP/1.1", "Host: localhost"))
    assert request.path == "/api/logs/my-service"
    assert request.query == {"x": "a b c"}


def test_http_1_0_without_host_parses_and_1_1_without_host_is_refused():
    assert parse_request(head("GET / HTTP/1.0")).version == (1, 0)
    assert refused(head("GET / HTTP/1.1")).status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("method, status", [("POST", HTTPStatus.METHOD_NOT_ALLOWED), ("DELETE", HTTPStatus.METHOD_NOT_ALLOWED),
                                            ("BREW", HTTPStatus.NOT_IMPLEMENTED)])
def test_only_get_and_head_are_allowed_and_the_answer_says_which(method, status):
    error = refused(head(f"{method} / HTTP/1.1", "Host: 127.0.0.1"))
    assert error.status == status
    assert error.headers["Allow"] == "GET, HEAD"
    assert "read-only" in error.reason


@pytest.mark.parametrize("lines", [
    ("GET / HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 5"),
    ("GET / HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"),
    ("GET / HTTP/1.1", "Host: 127.0.0.1", "Content-Length: -1"),
])
def test_request_bodies_are_refused(lines):
    assert refused(head(*lines)).status in (HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


@pytest.mark.parametrize("data", [
    b"GET /\r\n\r\n",                                        # HTTP/0.9
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",                   # two spaces
    b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTQ/1.1\r\nHost: a\r\n\r\n",
    b"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n",          # absolute form
    b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",                 # not ASCII
    b"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /a%2F..%2Fb/.. HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET //x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /?a=1&a=2 HTTP/1.1\r\nHost: a\r\n\r\n",             # repeated parameter
    b"GET /?a=<x> HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",          # repeated header
    b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: a\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
])
def test_malformed_requests_get_400(data):
    assert refused(data).status == HTTPStatus.BAD_REQUEST


def test_http_2_and_later_major_versions_get_505():
    assert refused(head("GET / HTTP/2.0", "Host: a")).status == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED


def test_head_complete_waits_for_the_blank_line_and_enforces_the_limits():
    assert head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n") is None
    assert head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nextra") == len(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(HttpError) as long_line:
        head_complete(b"GET /" + b"a" * MAX_REQUEST_LINE)
    assert long_line.value.status == HTTPStatus.REQUEST_URI_TOO_LONG
    with pytest.raises(HttpError) as big_head:
        head_complete(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * (MAX_HEADER_BYTES // 8 + 1))
    assert big_head.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_too_many_header_fields_are_refused():
    lines = ["GET / HTTP/1.1", "Host: a", *[f"X-{i}: y" for i in range(70)]]
    assert refused(head(*lines)).status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_split_target_keeps_empty_values_and_skips_empty_pairs():
    assert split_target("/x?a=&&b=2") == ("/x", {"a": "", "b": "2"})
    assert split_target("/x?") == ("/x", {})


def test_a_response_has_its_length_safety_headers_and_no_body_for_head():
    response = Response(HTTPStatus.OK, b"hello", headers={"X-Extra": "1"})
    full = response.encode()
    head_only = response.encode(head_only=True)
    assert full.startswith(b"HTTP/1.1 200 OK\r\n") and full.endswith(b"\r\n\r\nhello")
    assert b"Content-Length: 5\r\n" in head_only and head_only.endswith(b"\r\n\r\n")
    for name in (b"Cache-Control: no-store", b"X-Content-Type-Options: nosniff", b"Connection: close", b"X-Extra: 1"):
        assert name in head_only


def test_a_header_value_with_a_line_break_is_never_written():
    with pytest.raises(ValueError):
        Response(HTTPStatus.OK, headers={"X": "a\r\nSet-Cookie: b"}).encode()
    assert b"Content-Length" not in stream_head("text/event-stream")

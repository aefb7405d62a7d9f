"""Loopback names and origins (stackkit.loopback), and the API's Host/Origin guard on parsed requests."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from launcher.web.guard import check_request_source
from launcher.web.http11 import HttpError, parse_request
from stackkit.loopback import is_loopback_authority, is_loopback_host, is_loopback_origin, split_host_port


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "localhost.", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "example.com", "localhost.example.com", "127.0.0.1.nip.io",
                                  "::", "[::ffff:8.8.8.8]", "", "evil.localhost.com"])
def test_other_hosts(host):
    assert not is_loopback_host(host)


@pytest.mark.parametrize("authority, parts", [("127.0.0.1:8790", ("127.0.0.1", 8790)), ("[::1]:80", ("::1", 80)),
                                              ("localhost", ("localhost", None)), ("[::1]", ("::1", None)),
                                              ("a:0", None), ("a:99999", None), ("a:x", None), ("::1", None),
                                              ("[::1]x", None), ("a b", None), ("u@127.0.0.1", None), ("", None)])
def test_split_host_port(authority, parts):
    assert split_host_port(authority) == parts


@pytest.mark.parametrize("origin, accepted", [
    ("http://127.0.0.1:8790", True), ("http://localhost:3000", True), ("http://[::1]:1", True), ("https://localhost", True),
    ("http://127.0.0.1", True), ("null", False), ("file://", False), ("http://example.com", False),
    ("http://127.0.0.1.example.com:80", False), ("http://user@127.0.0.1", False), ("ws://127.0.0.1:1", False),
    ("http://127.0.0.1:8790/path", False), ("http://[::1", False), ("", False),
])
def test_loopback_origins(origin, accepted):
    assert is_loopback_origin(origin) is accepted


def request(*headers: str):
    return parse_request(("\r\n".join(["GET /api/status HTTP/1.1", *headers]) + "\r\n\r\n").encode())


def refusal(*headers: str) -> HTTPStatus:
    with pytest.raises(HttpError) as caught:
        check_request_source(request(*headers))
    return caught.value.status


def test_same_machine_requests_pass():
    check_request_source(request("Host: 127.0.0.1:8790"))
    check_request_source(request("Host: localhost:8790", "Origin: http://localhost:8790", "Sec-Fetch-Site: same-origin"))
    check_request_source(request("Host: [::1]:8790", "Origin: http://127.0.0.1:3000", "Sec-Fetch-Site: cross-site"))


def test_a_foreign_host_is_refused_dns_rebinding():
    assert refusal("Host: evil.example:8790") == HTTPStatus.FORBIDDEN


def test_a_foreign_origin_is_refused_even_for_reading():
    assert refusal("Host: 127.0.0.1:8790", "Origin: https://evil.example") == HTTPStatus.FORBIDDEN
    assert refusal("Host: 127.0.0.1:8790", "Origin: null") == HTTPStatus.FORBIDDEN


def test_a_cross_site_request_without_origin_is_refused():
    assert refusal("Host: 127.0.0.1:8790", "Sec-Fetch-Site: cross-site") == HTTPStatus.FORBIDDEN


def test_http_1_0_without_host_is_refused_by_the_guard():
    with pytest.raises(HttpError) as caught:
        check_request_source(parse_request(b"GET / HTTP/1.0\r\n\r\n"))
    assert caught.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("authority, accepted", [("127.0.0.1:8790", True), ("[::1]:8790", True), ("localhost", True),
                                                 ("evil.example:8790", False), ("127.0.0.1:99999", False),
                                                 ("127.0.0.1@evil.example", False)])
def test_loopback_host_headers(authority, accepted):
    assert is_loopback_authority(authority) is accepted

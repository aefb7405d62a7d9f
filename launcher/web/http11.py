"""HTTP/1.1 for a read-only server, as plain functions on bytes (no sockets here).

Only what the dashboard and monitors need: GET and HEAD, no request bodies, one
request per connection (every response says ``Connection: close``). Everything else
is refused with the status a careful server sends (400, 405, 413, 414, 431, 505).
The limits are small on purpose: nothing legitimate comes near them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

MAX_REQUEST_LINE = 4096     # bytes, without CRLF
MAX_HEADER_BYTES = 16384    # the whole head, request line included
MAX_HEADERS = 64
ALLOWED_METHODS = ("GET", "HEAD")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})

_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(rb"^[\t\x20-\x7e\x80-\xff]*$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")
_QUERY = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*$")
_VERSION = re.compile(rb"^HTTP/(\d)\.(\d)$")


class HttpError(Exception):
    """A request refused before routing; ``str(err)`` is the one-line reason sent back."""

    def __init__(self, status: HTTPStatus, reason: str, *, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True)
class Request:
    """A parsed request head. Header names are lower-case; a repeated header is refused."""

    method: str
    target: str                 # as sent, e.g. "/api/events?since=12"
    path: str                   # percent-decoded, e.g. "/api/logs/trader"
    query: dict[str, str]       # each parameter once; decoded
    version: tuple[int, int]
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def head_complete(buffer: bytes) -> int | None:
    """The length of the request head (through the blank line) once it is all in `buffer`, else None.

    Raises HttpError once the buffer is past a limit without a complete head, so a
    client can never make the server hold more than MAX_HEADER_BYTES.
    """
    end = buffer.find(b"\r\n\r\n")
    if end >= 0:
        if end + 4 > MAX_HEADER_BYTES:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head larger than {MAX_HEADER_BYTES} bytes")
        return end + 4
    first_line_end = buffer.find(b"\r\n")
    if (first_line_end < 0 and len(buffer) > MAX_REQUEST_LINE) or first_line_end > MAX_REQUEST_LINE:
        raise HttpError(HTTPStatus.REQUEST_URI_TOO_LONG, f"request line longer than {MAX_REQUEST_LINE} bytes")
    if len(buffer) >= MAX_HEADER_BYTES:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head larger than {MAX_HEADER_BYTES} bytes")
    return None


def parse_request(head: bytes) -> Request:
    """Parse a complete request head (as delimited by :func:`head_complete`)."""
    if not head.endswith(b"\r\n\r\n"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "incomplete request head")
    lines = head[:-4].split(b"\r\n")
    request_line = lines[0]
    if len(request_line) > MAX_REQUEST_LINE:
        raise HttpError(HTTPStatus.REQUEST_URI_TOO_LONG, f"request line longer than {MAX_REQUEST_LINE} bytes")
    method, target, version = _request_line(request_line)
    headers = _headers(lines[1:])
    if method not in ALLOWED_METHODS:
        status = HTTPStatus.METHOD_NOT_ALLOWED if method in KNOWN_METHODS else HTTPStatus.NOT_IMPLEMENTED
        raise HttpError(status, f"{method} is not allowed: this API is read-only (GET and HEAD only)",
                        headers={"Allow": ", ".join(ALLOWED_METHODS)})
    _no_body(headers)
    if version >= (1, 1) and "host" not in headers:
        raise HttpError(HTTPStatus.BAD_REQUEST, "HTTP/1.1 request without a Host header")
    path, query = split_target(target)
    return Request(method, target, path, query, version, headers)


def _request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line (expected: METHOD /path HTTP/1.1)")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed method in the request line")
    matched = _VERSION.match(version)
    if not matched:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed HTTP version in the request line")
    numbers = (int(matched[1]), int(matched[2]))
    if numbers[0] != 1:
        raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"HTTP/{numbers[0]}.{numbers[1]} is not supported; use HTTP/1.1")
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "the request target must be ASCII (percent-encode the rest)") from None
    return method.decode("ascii"), text, numbers


def _headers(lines: list[bytes]) -> dict[str, str]:
    if len(lines) > MAX_HEADERS:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {MAX_HEADERS} header fields")
    headers: dict[str, str] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise HttpError(HTTPStatus.BAD_REQUEST, "folded header lines are not accepted")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
        value = value.strip(b" \t")
        if not _HEADER_VALUE.match(value):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"control characters in the {name.decode()} header")
        key = name.decode("ascii").lower()
        if key in headers:
            # Two Hosts (or Origins) could mean different things to us and to a proxy: refuse.
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the {key} header is repeated")
        headers[key] = value.decode("latin-1")
    return headers


def _no_body(headers: dict[str, str]) -> None:
    if "transfer-encoding" in headers:
        raise HttpError(HTTPStatus.BAD_REQUEST, "a request body is not accepted (Transfer-Encoding)")
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
        if int(length) != 0:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a request body is not accepted: this API is read-only")


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """``/api/logs/trader?lines=50`` -> ("/api/logs/trader", {"lines": "50"}); origin-form only."""
    raw_path, question, raw_query = target.partition("?")
    if not _PATH.match(raw_path):
        raise HttpError(HTTPStatus.BAD_REQUEST, "the request target must be a path starting with /")
    path = unquote(raw_path, errors="strict")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path) or "/../" in f"{path}/" or "//" in path:
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed path")
    query: dict[str, str] = {}
    if question and raw_query:
        if not _QUERY.match(raw_query):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed query string")
        for pair in raw_query.split("&"):
            if not pair:
                continue
            name, _, value = pair.partition("=")
            name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
            if name in query:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"query parameter {name!r} given twice")
            query[name] = value
    return path, query


@dataclass(frozen=True)
class Response:
    """A complete response; `encode` adds Content-Length, Connection: close and the safety headers."""

    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, *, head_only: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status.value} {self.status.phrase}"]
        if self.status != HTTPStatus.NO_CONTENT:  # 204 carries neither a body nor its length (RFC 9110)
            lines += [f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}"]
        lines += header_lines(self.headers)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


# Sent with every response: nothing is cached, sniffed, framed or leaked through a Referer.
SAFETY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Connection": "close",
}


def header_lines(extra: dict[str, str]) -> list[str]:
    """Safety headers, overridden or extended by `extra`; values must not carry CR or LF."""
    merged = {**SAFETY_HEADERS, **extra}
    for name, value in merged.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
    return [f"{name}: {value}" for name, value in merged.items()]


def stream_head(content_type: str, extra: dict[str, str] | None = None) -> bytes:
    """The head of a response whose body is streamed until the connection closes (no Content-Length)."""
    lines = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}", *header_lines(extra or {})]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_response(error: HttpError) -> Response:
    return Response(error.status, (error.reason + "\n").encode("utf-8"), headers=dict(error.headers))

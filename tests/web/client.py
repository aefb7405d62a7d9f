"""Real HTTP clients for the tests: http.client for requests, raw sockets for malformed ones,
and a server-sent-events reader with deadlines."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def get(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
        host: str = "127.0.0.1", timeout: float = 30) -> Reply:
    """One request with http.client; Host is 127.0.0.1:port unless `headers` says otherwise."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        merged = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        for name, value in merged.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def raw(port: int, data: bytes, *, timeout: float = 30) -> tuple[bytes, bool]:
    """Send raw bytes; return everything the server sent and whether it then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@dataclass
class SseMessage:
    event: str
    data: object
    id: str | None = None


@dataclass
class SseClient:
    """Reads `GET /api/stream` message by message."""

    port: int
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/api/stream"

    def __post_init__(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.connection.request("GET", self.path, headers={"Host": f"127.0.0.1:{self.port}", **self.headers})
        self.sock = self.connection.sock  # http.client lets go of it once the response has no length
        self.response = self.connection.getresponse()

    def next(self, timeout: float = 30) -> SseMessage:
        """The next message (comments and retry lines are skipped)."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no server-sent event before the deadline")
            self.sock.settimeout(remaining)
            try:
                line = self.response.fp.readline().decode("utf-8")
            except socket.timeout:
                raise AssertionError(f"no server-sent event within {timeout}s") from None
            if line == "":
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if line == "":
                if "event" in fields:
                    return SseMessage(fields["event"], json.loads(fields["data"]), fields.get("id"))
                fields = {}
                continue
            name, _, value = line.partition(":")
            if name:
                fields[name] = value[1:] if value.startswith(" ") else value

    def until(self, condition, timeout: float = 30) -> SseMessage:
        """Skip messages until one satisfies `condition`."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.1, deadline - time.monotonic()))
            if condition(message):
                return message

    def close(self) -> None:
        self.response.close()
        self.connection.close()
        self.sock.close()

"""A raw TWS API client on plain blocking sockets, and log waits, for the simulator's tests.

The raw client exists so tests can say exactly what went over the wire
(zero bytes, an error record, an EOF), which the real ib_async client hides.
Every read has a deadline; nothing sleeps.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections import deque
from typing import Callable

from ibproto.wire import (
    FrameDecoder,
    HandshakeReply,
    build_handshake,
    encode_message,
    parse_handshake_reply,
    split_fields,
)
from tests.helpers import DEFAULT_DEADLINE, read_line_matching

FAST_TICKS = ("--tick-interval", "0.02")


class ClosedByServer(AssertionError):
    """The server closed the connection while the test expected a message."""


class WireClient:
    """One TCP connection speaking the TWS API by hand."""

    def __init__(self, port: int, *, source: str | None = None, timeout: float = DEFAULT_DEADLINE):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.local_port = self.sock.getsockname()[1]
        self.timeout = timeout
        self._frames = FrameDecoder()
        self._messages: deque[list[str]] = deque()
        self.server_version = 0

    def __enter__(self) -> "WireClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # --- sending --------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_message(self, *fields: object) -> None:
        self.send(encode_message(*fields))

    def handshake(self, low: int = 157, high: int = 178) -> HandshakeReply:
        self.send(build_handshake(low, high))
        reply = parse_handshake_reply(self.read_message())
        self.server_version = reply.server_version
        return reply

    def start_api(self, client_id: int) -> list[list[str]]:
        """startApi; return every message up to and including the last farm notice (2158)."""
        self.send_message(71, 2, client_id, "")
        seen = []
        while True:
            message = self.read_message()
            seen.append(message)
            if message[0] == "4" and message[3] == "2158":
                return seen

    def connect_api(self, client_id: int) -> None:
        self.handshake()
        self.start_api(client_id)

    def subscribe(self, request_id: int, symbol: str) -> None:
        """reqMktData for a SMART-routed US stock, fields as ib_async sends them."""
        self.send_message(1, 11, request_id, 0, symbol, "STK", "", 0.0, "", "", "SMART", "", "USD", "", "",
                          0, "", 0, 0, "")

    # --- receiving ------------------------------------------------------------------------

    def read_message(self, timeout: float | None = None) -> list[str]:
        """The next message's fields; :class:`ClosedByServer` on EOF."""
        self.sock.settimeout(timeout or self.timeout)
        while not self._messages:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise ClosedByServer("server closed the connection")
            self._messages.extend(split_fields(p) for p in self._frames.feed(data))
        return self._messages.popleft()

    def read_until(self, wanted: Callable[[list[str]], bool]) -> list[str]:
        """Skip messages (ticks, notices) until one satisfies ``wanted``."""
        while True:
            message = self.read_message()
            if wanted(message):
                return message

    def read_error(self) -> list[str]:
        """The next error record (msg 4), skipping anything else."""
        return self.read_until(lambda m: m[0] == "4")

    def bytes_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection (deadline: the timeout)."""
        self.sock.settimeout(self.timeout)
        received = bytearray()
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return bytes(received)
            if not data:
                return bytes(received)
            received += data

    def nothing_pending(self) -> bool:
        """True when no byte from the server is waiting right now (and the connection is open)."""
        if self._messages or self._frames.pending:
            return False
        self.sock.setblocking(False)  # with a timeout set, Python would wait for data first
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        return False  # a byte, or the end of the stream, is waiting

    def drain(self) -> int:
        """Discard every byte available right now; return how many there were."""
        count = 0
        self._messages.clear()
        self.sock.setblocking(False)
        try:
            while data := self.sock.recv(65536):
                count += len(data)
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(self.timeout)
        self._frames = FrameDecoder()
        return count


def log_mark(proc: subprocess.Popen) -> int:
    """A position in the simulator's output: ``log_line(..., after=mark)`` only looks past it."""
    return len(getattr(proc, "_seen_lines", []))


def log_line(proc: subprocess.Popen, pattern: str, *, after: int = 0, timeout: float = DEFAULT_DEADLINE) -> str:
    """A line of the simulator's output matching ``pattern``, whether already read or still to come.

    Unlike ``read_line_matching`` alone, lines consumed while waiting for an
    earlier pattern are still found, so tests need not wait in output order.
    """
    regex = re.compile(pattern)
    for line in getattr(proc, "_seen_lines", [])[after:]:
        if regex.search(line):
            return line
    return read_line_matching(proc, pattern, timeout=timeout)


def is_tick(message: list[str]) -> bool:
    return message[0] in ("1", "2")

"""The API's listening socket, which can refuse connections and take them again on the same port.

A real Gateway's API port refuses connections until the login completes and
while it restarts. The socket is bound from the start, so the port is ours (and
known, with ``--port 0``) the whole time; it listens only while the API is up. A
bound socket that does not listen makes the kernel refuse connections at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Awaitable, Callable

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def os_reason(problem: OSError) -> str:
    """``Address already in use``: the system's words for an error, without asyncio's long wrapping."""
    return os.strerror(problem.errno) if problem.errno else str(problem)


class ApiPort:
    """Bound to ``host:port`` from :meth:`reserve` on; accepting only between :meth:`open` and :meth:`refuse`."""

    def __init__(self, host: str, port: int, read_limit: int):
        self.host = host
        self.port = port
        self._read_limit = read_limit
        self._socket: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def reserve(self) -> int:
        """Bind without listening (an ``OSError`` if the port is taken); return the port."""
        family, kind, protocol, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, protocol)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        return self.port

    async def open(self, handler: StreamHandler) -> None:
        """Start listening on the reserved socket; connections go to ``handler``."""
        if self._server is None:
            if self._socket is None:
                self.reserve()
            sock, self._socket = self._socket, None
            self._server = await asyncio.start_server(handler, sock=sock, limit=self._read_limit)

    def refuse(self) -> None:
        """Stop listening but keep the port: connections are refused until :meth:`open`."""
        if self._server is not None:
            self._server.close()
            self._server = None
            self.reserve()

    def close(self) -> None:
        """Let go of the port entirely (idempotent)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

"""Doctor's bare TCP connect: how long the port takes to accept, leaving no socket behind on either side.

Closing matters more than connecting here: a plain close after connect leaves the
server holding CLOSE_WAIT if it never closes its side (the seeds' Gateway), which is
exactly the damage doctor is there to diagnose. So, like the ib_api probe, we send
our FIN, give the server a moment to answer with its own, and reset the connection
if it does not: after a reset neither side keeps anything.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from launcher.probes.base import describe_connect_error
from launcher.probes.ib_api import reset_and_close

CLOSE_GRACE = 0.5  # seconds to wait for the server's FIN after ours


@dataclass(frozen=True)
class TcpConnect:
    """One connect attempt: seconds to connect, or the one-line reason it failed."""

    host: str
    port: int
    seconds: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.seconds is not None


async def tcp_connect(host: str, port: int, *, timeout: float) -> TcpConnect:
    """Connect to host:port within `timeout`, then close cleanly (see the module docstring)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    started = time.monotonic()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
    except (OSError, asyncio.TimeoutError) as err:
        sock.close()
        return TcpConnect(host, port, error=describe_connect_error(err, host, port, timeout))
    except BaseException:
        sock.close()
        raise
    seconds = time.monotonic() - started
    try:
        await _close_cleanly(loop, sock)
    finally:
        if sock.fileno() != -1:
            reset_and_close(sock)
    return TcpConnect(host, port, seconds=seconds)


async def _close_cleanly(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        reset_and_close(sock)
        return
    deadline = time.monotonic() + CLOSE_GRACE
    while True:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), max(0.0, deadline - time.monotonic()))
        except (asyncio.TimeoutError, OSError):
            break
        if not data:  # the server closed too: we closed first, the TIME_WAIT is ours
            sock.close()
            return
    reset_and_close(sock)


"""Where a stack's control socket is, and the one question asked of it without an event loop: `status`.

Kept apart from :mod:`launcher.supervise.control` (the asyncio server and the clients
that follow progress) so that `status`, typed many times a day, imports neither
asyncio nor the supervisor: a plain blocking socket with a deadline is all it needs.
"""

from __future__ import annotations

import json
import os
import _socket  # the socket module's own core: `socket` adds enums and selectors `status` has no use for
import struct
import time

from launcher.state.paths import StatePaths, sha256_hex

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Any

_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


def control_address(paths: StatePaths) -> str:
    digest = sha256_hex(str(paths.root))[:16]
    return f"\0robostack-control-{digest}"


def ask_status(paths: StatePaths, timeout: float) -> dict[str, Any] | None:
    """The live supervisor's answer to `status`, or None if it does not answer within `timeout` (hung,
    stopped with SIGSTOP, or gone meanwhile), or is not this user's.

    Blocking, on a plain socket: `status` is typed many times a day and needs no event loop.
    """
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            reply = _exchange(sock, paths, timeout)
        finally:
            sock.close()
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and reply.get("ok") else None


def _exchange(sock, paths: StatePaths, timeout: float) -> dict | None:
    """Connect, check the server is this user's (SO_PEERCRED), ask, read the one answer line (all by the deadline)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    sock.connect(control_address(paths))
    _, uid, _ = _PEER_CREDENTIALS.unpack(sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                         _PEER_CREDENTIALS.size))
    if uid != os.getuid():
        return None  # not the supervisor's socket: someone else's, an impostor
    sock.sendall(b'{"command": "status"}\n')
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return json.loads(data) if data else None

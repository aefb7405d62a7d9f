"""Where a stack's control socket is, and the one question asked of it without an event loop: `status`.

Kept apart from :mod:`launcher.supervise.control` (the asyncio server and the clients
that follow progress) so that `status`, typed many times a day, imports neither
asyncio nor the supervisor: a plain blocking socket with a deadline is all it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import time
from typing import Any

from launcher.state.paths import StatePaths

_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


def control_address(paths: StatePaths) -> str:
    digest = hashlib.sha256(str(paths.root).encode()).hexdigest()[:16]
    return f"\0robostack-control-{digest}"


def ask_status(paths: StatePaths, timeout: float) -> dict[str, Any] | None:
    """The live supervisor's answer to `status`, or None if it does not answer within `timeout` (hung,
    stopped with SIGSTOP, or gone meanwhile), or is not this user's.

    Blocking, on a plain socket: `status` is typed many times a day and needs no event loop.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(control_address(paths))
            _, uid, _ = _PEER_CREDENTIALS.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size))
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
        reply = json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and reply.get("ok") else None

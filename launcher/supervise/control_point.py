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

from launcher.state.paths import StatePaths

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Any

_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


def control_address(paths: StatePaths) -> str:
    """Where the control socket lives (a file in the state folder; reached through its descriptor)."""
    return str(paths.control_socket)


def ask_status(paths: StatePaths, timeout: float, supervisor_pid: int | None = None) -> dict[str, Any] | None:
    """The live supervisor's answer to `status`, or None if it does not answer within `timeout` (hung,
    stopped with SIGSTOP, or gone meanwhile) or is not the stack's supervisor: this user's process holding
    the stack's lock (and `supervisor_pid`, the one run.json names, when the caller read it).

    Blocking, on a plain socket: `status` is typed many times a day and needs no event loop.
    """
    from launcher.errors import RobostackError
    from launcher.state import files
    from launcher.state.store import StackLock

    holder = StackLock(paths).holder_identity()
    if holder is None or supervisor_pid not in (None, holder.pid):
        return None
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            with files.socket_address(paths.control_socket, root=paths.root) as address:
                reply = _exchange(sock, address, holder.pid, timeout)
        finally:
            sock.close()
    except (OSError, ValueError, RecursionError, RobostackError):
        return None
    if isinstance(reply, dict) and reply.get("ok") is True and isinstance(reply.get("state"), dict):
        return reply
    return None


def _exchange(sock, address: str, supervisor_pid: int, timeout: float) -> Any:
    """Connect, check the server is the supervisor (SO_PEERCRED: its pid, this user), ask, read the one answer
    line (all by the deadline); None if it is someone else (nothing is sent to an impostor)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    sock.connect(address)
    pid, uid, _ = _PEER_CREDENTIALS.unpack(sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                           _PEER_CREDENTIALS.size))
    if uid != os.getuid() or pid != supervisor_pid:
        return None
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

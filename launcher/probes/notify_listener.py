"""The receiving end of systemd's readiness protocol (``NOTIFY_SOCKET``) for one service.

A service written for systemd (``sd_notify``) sends datagrams such as
``READY=1``, ``WATCHDOG=1`` or ``STATUS=connected to Gateway`` to the socket
named by ``NOTIFY_SOCKET``. The listener binds that socket (in Linux's abstract
namespace, so there is no file to clean up; a short path elsewhere), reads it
from the running asyncio loop as datagrams arrive (no polling, no thread) and
keeps a :class:`NotifyState` the ``notify`` probe and the supervisor read.

Abstract sockets are visible to every local user, so each datagram's sender
credentials are checked: only our own user (or root) is listened to.
"""

from __future__ import annotations

import array
import asyncio
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from launcher.errors import StateError
from stackkit.notify import WARNING_FIELD

if TYPE_CHECKING:
    from stackkit.clock import Clock

_MAX_DATAGRAM = 16 * 1024
_CREDENTIALS = struct.Struct("iII")  # struct ucred: pid, uid, gid
_FALLBACK_NAME_BYTES = 4  # short: a socket path must fit in 108 bytes
MAX_WARNINGS = 10


@dataclass(frozen=True)
class NotifyState:
    """Everything a service has announced since it started (times on the listener's clock)."""

    ready_at: float | None = None
    last_watchdog_at: float | None = None
    watchdog_count: int = 0
    watchdog_usec: int | None = None
    watchdog_triggered: bool = False
    status: str | None = None
    reloading: bool = False
    stopping: bool = False
    main_pid: int | None = None
    errno: int | None = None
    messages: int = 0
    rejected: int = 0  # datagrams from another user, ignored
    last_sender_pid: int | None = None
    warnings: tuple[str, ...] = ()  # X_ROBOSTACK_WARNING= texts, each once, the latest MAX_WARNINGS

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    def last_sign_of_life(self) -> float | None:
        """The later of READY=1 and the last WATCHDOG=1: what a watchdog timeout counts from."""
        times = [t for t in (self.ready_at, self.last_watchdog_at) if t is not None]
        return max(times) if times else None


def parse_notify_message(data: bytes) -> dict[str, str]:
    """``b"READY=1\\nSTATUS=up"`` -> ``{"READY": "1", "STATUS": "up"}``; lines without ``=`` are ignored."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


def apply_notify(state: NotifyState, fields: dict[str, str], now: float) -> NotifyState:
    """The state after one message, received at ``now``. Pure, so every rule is tested on values."""
    changes: dict[str, object] = {"messages": state.messages + 1}
    if fields.get("READY") == "1":
        changes.update(ready_at=now, reloading=False)
    if fields.get("RELOADING") == "1":
        changes["reloading"] = True
    if fields.get("STOPPING") == "1":
        changes["stopping"] = True
    if fields.get("WATCHDOG") == "1":
        changes.update(last_watchdog_at=now, watchdog_count=state.watchdog_count + 1)
    elif fields.get("WATCHDOG") == "trigger":
        changes["watchdog_triggered"] = True
    if "STATUS" in fields:
        changes["status"] = fields["STATUS"]
    warning = fields.get(WARNING_FIELD, "").strip()
    if warning and warning not in state.warnings:
        changes["warnings"] = (*state.warnings, warning)[-MAX_WARNINGS:]
    for key, name in (("WATCHDOG_USEC", "watchdog_usec"), ("MAINPID", "main_pid"), ("ERRNO", "errno")):
        if fields.get(key, "").strip().isdigit():
            changes[name] = int(fields[key])
    return replace(state, **changes)


class NotifyListener:
    """A ``NOTIFY_SOCKET`` for one service, read by the running asyncio loop.

    Create it inside the loop (it attaches itself with ``loop.add_reader``); give
    the service ``NOTIFY_SOCKET=<address>``; await ``ready.wait()`` for READY=1;
    call :meth:`reset` before a restart and :meth:`close` when done (idempotent).
    ``directory`` is where a socket file goes if abstract sockets are unavailable,
    or when ``abstract=False`` (an abstract name is only reachable from the same
    network namespace; a path works across them). Pass the same ``clock`` as the
    probe context so times compare. ``on_message`` is called after each accepted
    datagram with the new state and the message's fields.
    """

    def __init__(self, *, directory: Path | None = None, clock: "Clock | None" = None,
                 on_message: Callable[[NotifyState, dict[str, str]], None] | None = None,
                 abstract: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._on_message = on_message
        self.state = NotifyState()
        self.ready = asyncio.Event()
        self._path: Path | None = None
        self._socket, self.address = self._bind(directory, abstract)
        self._closed = False
        self._loop.add_reader(self._socket.fileno(), self._receive_all)

    def _bind(self, directory: Path | None, abstract: bool) -> tuple[socket.socket, str]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setblocking(False)
            address = self._bind_abstract(sock) if abstract else None
            if address is None:
                folder = directory or Path(os.environ.get("TMPDIR", "/tmp"))
                self._path = folder / f"n-{secrets.token_hex(_FALLBACK_NAME_BYTES)}.sock"
                sock.bind(str(self._path))
                address = str(self._path)
            if hasattr(socket, "SO_PASSCRED"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        except OSError as err:
            sock.close()
            raise StateError(f"cannot create a notify socket: {err.strerror or err}") from err
        return sock, address

    @staticmethod
    def _bind_abstract(sock: socket.socket) -> str | None:
        """Bind a random name in Linux's abstract namespace; ``None`` where there is none."""
        name = f"robostack/{secrets.token_hex(8)}"
        try:
            sock.bind("\0" + name)
        except OSError:
            return None
        return "@" + name

    def _now(self) -> float:
        return self._clock.monotonic() if self._clock else time.monotonic()

    def _receive_all(self) -> None:
        """Read every datagram waiting (the loop calls this when the socket is readable)."""
        while not self._closed:
            try:
                data, ancillary, _, _ = self._socket.recvmsg(_MAX_DATAGRAM, socket.CMSG_SPACE(_CREDENTIALS.size * 4))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sender = _sender(ancillary)
            if sender is not None and sender[1] not in (os.getuid(), 0):
                self.state = replace(self.state, rejected=self.state.rejected + 1)
                continue
            self._accept(data, sender[0] if sender else None)

    def _accept(self, data: bytes, sender_pid: int | None) -> None:
        fields = parse_notify_message(data)
        self.state = replace(apply_notify(self.state, fields, self._now()), last_sender_pid=sender_pid)
        if self.state.ready:
            self.ready.set()
        if self._on_message is not None:
            self._on_message(self.state, fields)

    def reset(self) -> None:
        """Forget everything before a restart, including datagrams the old process left queued."""
        while True:
            try:
                _, ancillary, _, _ = self._socket.recvmsg(_MAX_DATAGRAM, socket.CMSG_SPACE(_CREDENTIALS.size * 4))
                _sender(ancillary)
            except OSError:
                break
        self.state = NotifyState()
        self.ready.clear()

    def close(self) -> None:
        """Stop listening and release the socket (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.remove_reader(self._socket.fileno())
        except (RuntimeError, ValueError):
            pass  # the loop is already closed
        self._socket.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> "NotifyListener":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _sender(ancillary: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    """The (pid, uid) of a datagram's sender; any file descriptors passed along are closed."""
    sender = None
    for level, kind, data in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == getattr(socket, "SCM_CREDENTIALS", None) and len(data) >= _CREDENTIALS.size:
            pid, uid, _ = _CREDENTIALS.unpack_from(data)
            sender = (pid, uid)
        elif kind == socket.SCM_RIGHTS:
            descriptors = array.array("i")
            descriptors.frombytes(data[: len(data) - len(data) % descriptors.itemsize])
            for descriptor in descriptors:
                os.close(descriptor)
    return sender

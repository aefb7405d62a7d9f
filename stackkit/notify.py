"""A tiny client for systemd's notify protocol (``sd_notify``): the services use it towards robostack,
and robostack's supervisor towards systemd (``launcher.systemd.notifier``).

Whoever supervises sets ``NOTIFY_SOCKET`` to the address of an AF_UNIX datagram
socket; the supervised process sends newline-separated ``KEY=value`` assignments to it:
``READY=1`` once it is ready, ``WATCHDOG=1`` as a heartbeat, ``STATUS=...``
lines on state changes, ``STOPPING=1`` when it begins to shut down. An address
starting with ``@`` is in Linux's abstract namespace (the ``@`` stands for a
NUL byte). Without ``NOTIFY_SOCKET`` every call is a no-op, so a service runs
the same under robostack, under systemd, or by hand.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

log = logging.getLogger("notify")

DEFAULT_WATCHDOG_INTERVAL = 5.0
# A variable of robostack's own (systemd ignores names it does not know; custom ones start with X_):
# something the person running the stack should know although the service runs on (an unknown symbol).
WARNING_FIELD = "X_ROBOSTACK_WARNING"


def socket_address(notify_socket: str) -> str:
    """The AF_UNIX address for a ``NOTIFY_SOCKET`` value (``@name`` becomes ``\\0name``)."""
    if notify_socket.startswith("@"):
        return "\0" + notify_socket[1:]
    return notify_socket


def watchdog_interval(environ: Mapping[str, str], default: float = DEFAULT_WATCHDOG_INTERVAL) -> float:
    """Seconds between ``WATCHDOG=1`` heartbeats: half of ``WATCHDOG_USEC`` when set, else `default`.

    Half, as systemd recommends, so one late heartbeat never trips the watchdog.
    """
    raw = environ.get("WATCHDOG_USEC", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw) / 2 / 1_000_000
    return default


def format_message(*assignments: str) -> bytes:
    """Join ``KEY=value`` assignments into one datagram; a value never spans lines."""
    lines = []
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator or not key:
            raise ValueError(f'expected "KEY=value", got "{assignment}"')
        lines.append(f"{key}={' '.join(value.splitlines())}")
    return "\n".join(lines).encode("utf-8")


class Notifier:
    """Sends notify datagrams to the supervisor, or does nothing when there is none."""

    def __init__(self, notify_socket: str | None) -> None:
        self.address = socket_address(notify_socket) if notify_socket else None
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "Notifier":
        """A notifier for ``NOTIFY_SOCKET`` in `environ` (default: the process environment)."""
        environ = os.environ if environ is None else environ
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *assignments: str) -> bool:
        """Send one datagram; False if disabled or the supervisor's socket is gone.

        A lost supervisor must not take the service down with it, so a failed
        send is logged once and otherwise ignored.
        """
        if self.address is None:
            return False
        message = format_message(*assignments)
        try:
            if self._socket is None:
                # Non-blocking: a supervisor that stops reading (Linux queues only 10 datagrams by default) must
                # never freeze the service's event loop; the datagram is dropped instead.
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC |
                                             socket.SOCK_NONBLOCK)
            self._socket.sendto(message, self.address)
        except OSError as err:
            if not self._warned:
                log.warning("cannot notify the supervisor at %r: %s", self.address.replace("\0", "@"), err)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def warning(self, text: str) -> bool:
        """Tell the supervisor something is wrong although the service runs on; robostack shows it in `up`,
        `status` and `doctor` until the service restarts."""
        return self.notify(f"{WARNING_FIELD}={text}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

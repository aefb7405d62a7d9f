"""The notify client: address forms, watchdog interval, message format, and real datagrams."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from stackkit.notify import Notifier, format_message, socket_address, watchdog_interval


def test_addresses():
    assert socket_address("@robostack/trader") == "\0robostack/trader"
    assert socket_address("/run/robostack/notify.sock") == "/run/robostack/notify.sock"


@pytest.mark.parametrize(("environ", "interval"), [
    ({"WATCHDOG_USEC": "10000000"}, 5.0),
    ({"WATCHDOG_USEC": "3000000"}, 1.5),
    ({"WATCHDOG_USEC": "0"}, 5.0),
    ({"WATCHDOG_USEC": "soon"}, 5.0),
    ({}, 5.0),
])
def test_watchdog_interval_is_half_of_watchdog_usec(environ, interval):
    assert watchdog_interval(environ, default=5.0) == interval


def test_messages_are_one_assignment_per_line():
    assert format_message("READY=1", "STATUS=subscribed\nto AAPL") == b"READY=1\nSTATUS=subscribed to AAPL"
    with pytest.raises(ValueError):
        format_message("READY")


def test_without_notify_socket_everything_is_a_quiet_no_op():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready("x") is False


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(10)
    return sock


def test_datagrams_reach_an_abstract_socket():
    name = f"robostack-test-{uuid.uuid4().hex}"
    with receiver("\0" + name) as listener:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready("streaming AAPL")
        assert listener.recv(4096) == b"READY=1\nSTATUS=streaming AAPL"
        assert notifier.watchdog()
        assert listener.recv(4096) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert listener.recv(4096) == b"STOPPING=1"
        notifier.close()


def test_datagrams_reach_a_path_socket_and_a_vanished_supervisor_is_not_fatal(tmp_path):
    path = str(tmp_path / "notify.sock")
    with receiver(path) as listener:
        notifier = Notifier(path)
        assert notifier.status("connecting")
        assert listener.recv(4096) == b"STATUS=connecting"
    os.unlink(path)
    assert notifier.status("still here") is False  # logged once, never raised
    notifier.close()


def test_a_supervisor_that_stops_reading_never_blocks_the_service():
    name = f"robostack-test-{uuid.uuid4().hex}"
    with receiver("\0" + name) as listener:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        sent = [notifier.watchdog() for _ in range(200)]  # far past Linux's queue of 10; returns at once
        assert sent[0] and not all(sent)
        assert listener.recv(4096) == b"WATCHDOG=1"  # what was queued is still delivered
        assert notifier.status("after the backlog")  # and room again means it gets through
        notifier.close()

"""Fixtures for pre-flight and doctor tests: stacks on values, foreign port holders, zombie sockets.

The `robostack` CLI fixture (and `service_command`) come from tests/launcher/conftest.py.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from launcher.process.sockets import CLOSE_WAIT, zombie_sockets
from launcher.stack.loader import load_stack
from launcher.stack.resolved import ResolvedStack
from tests.helpers import read_line_matching, wait_until
from tests.launcher.conftest import SERVICE_PROGRAM, robostack  # noqa: F401 - re-exported fixture

__all__ = ["robostack"]


def stack_from(text: str, folder: Path) -> ResolvedStack:
    """A ResolvedStack from stack-file text, as the CLI would load it."""
    path = folder / "stack.yaml"
    path.write_text(text)
    return load_stack(path, environ={})


@pytest.fixture
def token() -> str:
    """A word no other process on the machine has in its command line."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def foreign_holder(processes):
    """Factory: a process robostack did not start, listening on `port` (accepts and closes connections)."""

    def start(port: int, name: str = "foreign-holder"):
        proc = processes.python(str(SERVICE_PROGRAM), "--name", name, "--port", str(port), "--print-ready")
        read_line_matching(proc, rf"{name} is ready")
        return proc

    return start


def close_wait_sockets(port: int, pid: int) -> int:
    return sum(1 for record in zombie_sockets([port]) if record.status == CLOSE_WAIT and record.pid == pid)


def make_close_wait(port: int, pid: int, count: int = 3) -> None:
    """Connect to a `--fault close-wait` simulator and close: it never closes its side (the seeds' zombies)."""
    for _ in range(count):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    wait_until(lambda: close_wait_sockets(port, pid) == count, what=f"{count} CLOSE_WAIT sockets on {port}")

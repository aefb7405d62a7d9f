"""Fixtures for the stack's own services: a real WebSocket server process, async waits."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

import pytest

from tests.helpers import DEFAULT_DEADLINE, free_port, read_line_matching

T = TypeVar("T")


@dataclass
class RunningWebSocketServer:
    """A `python -m services.websocket_server` process that printed its readiness line."""

    proc: object
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def publish_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/publish"

    def health(self) -> dict:
        """GET /healthz and return its JSON body (blocking; call through asyncio.to_thread in async tests)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            return json.loads(response.read())

    async def health_async(self) -> dict:
        return await asyncio.to_thread(self.health)


@pytest.fixture
def websocket_server(processes):
    """Factory: `websocket_server("--queue-size", "10", env={...})` starts a server on a free port."""

    def start(*args: str, env: dict | None = None, port: int | None = None) -> RunningWebSocketServer:
        chosen = port or free_port()
        proc = processes.python("-m", "services.websocket_server", "--port", str(chosen), *args, env=env)
        read_line_matching(proc, rf"listening on ws://127\.0\.0\.1:{chosen}$")
        return RunningWebSocketServer(proc, chosen)

    return start


async def eventually(condition: Callable[[], Awaitable[T]], *, timeout: float = DEFAULT_DEADLINE,
                     what: str = "condition", poll: float = 0.02) -> T:
    """Await `condition()` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(poll)

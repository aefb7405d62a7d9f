"""The trader's connection to the WebSocket server's /publish, kept up across server restarts.

``publish()`` never waits: events go into a bounded outbox that a single task
sends in order. While the server is away the outbox keeps the newest events
(the oldest are dropped and counted) and the task reconnects with capped
backoff; what was waiting is sent as soon as the server is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from services.runner_async.backoff import Backoff, RetrySchedule
from services.runner_async.events import encode

log = logging.getLogger("runner_async.publisher")

StateCallback = Callable[[str, str], None]


class EventPublisher:
    """Sends events to ``url`` (a ``ws://.../publish`` address) with an optional bearer token."""

    def __init__(self, url: str, *, token: str | None = None, backoff: Backoff | None = None,
                 schedule: RetrySchedule | None = None, outbox_limit: int = 1000,
                 on_state: StateCallback | None = None) -> None:
        self.url = url
        self.token = token
        self.outbox: deque[str] = deque()
        self.outbox_limit = outbox_limit
        self.sent = 0
        self.dropped = 0
        self.connected = asyncio.Event()
        self._schedule = schedule or RetrySchedule(backoff or Backoff())
        self._on_state = on_state or (lambda state, detail: None)
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Begin connecting (and reconnecting) in the background."""
        self._task = asyncio.create_task(self._run(), name="websocket-publisher")

    def publish(self, event: dict[str, Any]) -> None:
        """Queue one event; when the outbox is full, the oldest waiting event is dropped."""
        if len(self.outbox) >= self.outbox_limit:
            self.outbox.popleft()
            self.dropped += 1
        self.outbox.append(encode(event))
        self._wakeup.set()

    async def close(self, flush_timeout: float = 1.0) -> None:
        """Send what is waiting (for at most `flush_timeout` seconds), then close with code 1000."""
        self._closing.set()
        self._wakeup.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), flush_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.outbox:
            log.info("closing with %d events unsent", len(self.outbox))

    async def _run(self) -> None:
        while not self._closing.is_set():
            opened: float | None = None
            try:
                async with connect(self.url, additional_headers=self._headers(), open_timeout=5,
                                   close_timeout=1, compression=None) as connection:
                    opened = time.monotonic()
                    self.connected.set()
                    self._on_state("connected", self.url)
                    await self._pump(connection)
            except InvalidStatus as err:
                reason = f"server refused the connection: HTTP {err.response.status_code} {_first_line(err.response.body)}"
            except (OSError, TimeoutError, asyncio.TimeoutError, InvalidHandshake, ConnectionClosed) as err:
                reason = _describe(err)
            else:
                reason = "server closed the connection"
            finally:
                self.connected.clear()
                if opened is not None:
                    self._schedule.connection_ended(time.monotonic() - opened)
            if self._closing.is_set():
                return
            delay = self._schedule.next_delay()
            self._on_state("reconnecting", f"{reason}; retry {self._schedule.attempts} in {delay:.1f}s")
            try:
                await asyncio.wait_for(self._closing.wait(), delay)
            except (TimeoutError, asyncio.TimeoutError):
                pass

    async def _pump(self, connection: ClientConnection) -> None:
        """Send the outbox in order until closing (after a flush) or the connection ends."""
        reader = asyncio.create_task(self._read_replies(connection))
        try:
            while True:
                self._wakeup.clear()
                while self.outbox:
                    # Taken off only once sent: a connection lost mid-send keeps it for the next one.
                    await connection.send(self.outbox[0])
                    self.outbox.popleft()
                    self.sent += 1
                if self._closing.is_set() or reader.done():
                    return
                await self._wakeup.wait()
        finally:
            reader.cancel()

    async def _read_replies(self, connection: ClientConnection) -> None:
        """The server only talks back to refuse an event; log why. Wakes the pump when the connection ends."""
        try:
            async for message in connection:
                log.warning("the WebSocket server refused an event: %s", message)
        except ConnectionClosed:
            pass
        finally:
            self._wakeup.set()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _describe(err: BaseException) -> str:
    if isinstance(err, ConnectionClosed):
        return f"connection closed ({err})"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _first_line(body: bytes | None) -> str:
    return (body or b"").decode(errors="replace").strip().splitlines()[0] if (body or b"").strip() else ""

"""`GET /api/stream`: status changes and new timeline events as server-sent events.

Messages (``text/event-stream``)::

    event: status        data: the status document (as /api/status), sent when it changes
    event: unavailable   data: {"error": "..."} while the stack has no state to show
    event: timeline      data: one event (as /api/events); id: its cursor, so a reconnecting
                         EventSource resumes after the last event it saw (Last-Event-ID)

A comment line every `keepalive` seconds keeps proxies and the browser from timing out
and finds a vanished client. Uptimes are left out of the comparison that decides
whether the status changed: a page counts uptime by itself between messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from launcher.errors import NotRunningError
from launcher.web.provider import StackView

KEEPALIVE = 15.0
RETRY_MS = 2000          # what EventSource waits before reconnecting
DRAIN_TIMEOUT = 10.0     # a client that reads nothing for this long is dropped
EVENTS_PER_READ = 200


def sse_message(event: str, data: Any, message_id: int | None = None) -> bytes:
    """One server-sent event; the data is one line of JSON (JSON never holds a raw newline)."""
    lines = [] if message_id is None else [f"id: {message_id}"]
    lines += [f"event: {event}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def sse_comment(text: str) -> bytes:
    return f": {text}\n\n".encode("utf-8")


def sse_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode("ascii")


def status_key(document: dict[str, Any]) -> str:
    """The status without what changes every second by itself (uptimes)."""
    services = [{k: v for k, v in service.items() if k != "uptime"} for service in document.get("services", [])]
    return json.dumps({**document, "services": services}, sort_keys=True)


_last_message: tuple[dict[str, Any], str, bytes] | None = None  # the last document encoded, kept alive with it


def status_message(view: StackView) -> tuple[str, bytes]:
    """The current status as a message, and its comparison key. Every stream woken by one change gets
    the same document from the supervisor's view; it is encoded once for all of them."""
    global _last_message
    try:
        document = view.status()
    except NotRunningError as err:
        document = {"error": str(err)}
        return status_key(document), sse_message("unavailable", document)
    last = _last_message
    if last is not None and last[0] is document:
        return last[1], last[2]
    key, message = status_key(document), sse_message("status", document)
    _last_message = (document, key, message)
    return key, message


class EventStream:
    """One client's stream; `run` returns when the client goes, a write stalls, or `closing` is set."""

    def __init__(self, view: StackView, writer: asyncio.StreamWriter, since: int | None, *,
                 keepalive: float = KEEPALIVE):
        self.view = view
        self.writer = writer
        self.cursor = since if since is not None else view.timeline(None, 1).next_cursor
        self.keepalive = keepalive
        self._last_status: str | None = None
        self._behind = False  # more events wait than one read sends

    async def run(self, closing: asyncio.Event) -> None:
        await self._send(sse_retry(RETRY_MS))
        version = -1
        while not closing.is_set():
            previous = version
            if not self._behind:
                version = await self.view.changed(version, self.keepalive)
            sent = await self._send_changes()
            if not sent and version == previous:
                await self._send(sse_comment("keepalive"))

    async def _send_changes(self) -> bool:
        """The status if it changed and up to EVENTS_PER_READ new events; a long backlog (a client
        resuming from an old cursor) goes out read by read, each write waiting for the client."""
        chunks = []
        key, message = status_message(self.view)
        if key != self._last_status:
            self._last_status = key
            chunks.append(message)
        page = self.view.timeline(self.cursor, EVENTS_PER_READ)
        chunks += [sse_message("timeline", entry.event, entry.cursor) for entry in page.entries]
        self.cursor, self._behind = page.next_cursor, page.more
        if chunks:
            await self._send(b"".join(chunks))
        return bool(chunks)

    async def _send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), DRAIN_TIMEOUT)

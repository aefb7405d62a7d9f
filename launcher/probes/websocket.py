"""The ``websocket`` probe: healthy once a WebSocket opening handshake to ``url`` completes.

Uses the ``websockets`` client (already the stack's WebSocket library), with
proxies from the environment ignored, then closes with a proper close frame so
the server logs a normal disconnect rather than an error.
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI, WebSocketException

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, describe_connect_error, format_seconds
from launcher.stack.model import WebSocketCheck
from launcher.stack.urls import parse_probe_url

_CLOSE_TIMEOUT = 0.5  # seconds to wait for the server's answer to our close frame


@bounded_probe("websocket")
async def probe_websocket(check: WebSocketCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """Open a WebSocket to ``check.url`` within ``timeout``, then close it."""
    started = time.monotonic()
    parts = parse_probe_url(check.url, ("ws", "wss"))
    if isinstance(parts, str):
        return ProbeResult(False, "websocket", parts, 0.0)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        connection = await connect(check.url, open_timeout=timeout, close_timeout=_CLOSE_TIMEOUT, proxy=None,
                                   ping_interval=None, compression=None)
    except (OSError, asyncio.TimeoutError) as err:
        detail = describe_connect_error(err, host, port, timeout)
        if isinstance(err, asyncio.TimeoutError):
            detail = f"no WebSocket handshake answer from {check.url} within {format_seconds(timeout)}"
        return ProbeResult(False, "websocket", detail, time.monotonic() - started)
    except InvalidStatus as err:
        status = err.response.status_code
        detail = f"HTTP {status} from {check.url} instead of a WebSocket upgrade (101)"
        return ProbeResult(False, "websocket", detail, time.monotonic() - started, {"status": status})
    except (InvalidURI, InvalidHandshake, WebSocketException) as err:
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        detail = f"WebSocket handshake with {check.url} failed: {err}{cause}"
        return ProbeResult(False, "websocket", detail, time.monotonic() - started)
    open_seconds = time.monotonic() - started
    try:
        await connection.close()
    except (OSError, WebSocketException):
        pass  # the open already answered the question
    detail = f"WebSocket opened to {check.url} in {format_seconds(open_seconds)}"
    return ProbeResult(True, "websocket", detail, time.monotonic() - started, {"open_latency": open_seconds})

"""The ``http`` probe: healthy once ``GET url`` answers with the expected status.

A minimal HTTP/1.1 client on asyncio streams rather than urllib: the whole
exchange is bounded by one deadline (urllib's timeout is per socket operation),
proxies from the environment are never consulted, redirects are never followed
(a 302 is reported as a 302), and nothing is left running in a thread after a
timeout. Only loopback URLs are probed: robostack checks its own machine.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import SplitResult

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, describe_connect_error, format_seconds
from launcher.stack.model import HttpCheck
from launcher.stack.urls import parse_probe_url

_MAX_HEADER_LINES = 100
_BODY_SNIPPET = 160  # bytes of an unexpected answer's body shown in the detail


def build_request(parts: SplitResult, *, method: str = "GET", body: bytes = b"",
                  headers: dict[str, str] | None = None, agent: str = "robostack-probe") -> bytes:
    """The bytes of a request (a ``GET`` by default) that asks the server to close after answering."""
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}{f':{parts.port}' if parts.port else ''}",
             f"User-Agent: {agent}", "Accept: */*", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_status_line(line: bytes) -> int:
    """``HTTP/1.1 503 Service Unavailable`` -> 503; ``ValueError`` for anything else."""
    words = line.decode("latin-1").split(None, 2)
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
        raise ValueError(f"not an HTTP status line: {line[:60]!r}")
    return int(words[1])


@bounded_probe("http")
async def probe_http(check: HttpCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """GET ``check.url`` and compare the status with ``check.status``, all within ``timeout``."""
    started = time.monotonic()
    parts = parse_probe_url(check.url, ("http",))  # checked at load too; kept for direct callers
    if isinstance(parts, str):
        return ProbeResult(False, "http", parts, 0.0)
    host, port = parts.hostname or "", parts.port or 80
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as err:
        return ProbeResult(False, "http", describe_connect_error(err, host, port, timeout), time.monotonic() - started)
    try:
        remaining = max(0.0, timeout - (time.monotonic() - started))
        status, snippet = await asyncio.wait_for(_exchange(reader, writer, parts), remaining)
    except asyncio.TimeoutError:
        detail = f"no HTTP answer from {check.url} within {format_seconds(timeout)}"
        return ProbeResult(False, "http", detail, time.monotonic() - started)
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        detail = f"bad HTTP answer from {check.url}: {_reason(err)}"
        return ProbeResult(False, "http", detail, time.monotonic() - started)
    finally:
        writer.close()
    latency = time.monotonic() - started
    facts = {"status": status}
    if status == check.status:
        return ProbeResult(True, "http", f"HTTP {status} from {check.url} in {format_seconds(latency)}", latency, facts)
    detail = f"HTTP {status} from {check.url} (expected {check.status})" + (f": {snippet}" if snippet else "")
    return ProbeResult(False, "http", detail, latency, facts)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parts: SplitResult) -> tuple[int, str]:
    """Send the request; return the status and the start of the body (when its length is announced)."""
    writer.write(build_request(parts))
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ValueError("connection closed before a status line")
    status = parse_status_line(status_line)
    length = 0
    for _ in range(_MAX_HEADER_LINES):
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    # Only a body of announced length is read (a streaming endpoint would never end).
    body = await reader.readexactly(min(length, _BODY_SNIPPET)) if length else b""
    return status, " ".join(body.decode("utf-8", errors="replace").split())


def _reason(err: BaseException) -> str:
    if isinstance(err, asyncio.IncompleteReadError):
        return "connection closed in the middle of the answer"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__

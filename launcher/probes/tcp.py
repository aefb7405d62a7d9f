"""The ``tcp`` probe: healthy once a TCP connect to host:port succeeds.

It says nothing about the protocol behind the port (a Gateway whose API layer is
dead still accepts TCP, see the seeds); use ``ib_api`` for the Gateway.
"""

from __future__ import annotations

import asyncio
import time

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, describe_connect_error, format_seconds
from launcher.stack.model import TcpCheck


@bounded_probe("tcp")
async def probe_tcp(check: TcpCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """Connect to ``check.host:check.port`` within ``timeout``, then close."""
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(check.host, check.port), timeout)
    except (OSError, asyncio.TimeoutError) as err:
        detail = describe_connect_error(err, check.host, check.port, timeout)
        return ProbeResult(False, "tcp", detail, time.monotonic() - started)
    connect_seconds = time.monotonic() - started
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), max(0.1, timeout - connect_seconds))
    except (OSError, asyncio.TimeoutError):
        pass  # the connect already answered the question; a reset on close changes nothing
    detail = f"TCP connect to {check.host}:{check.port} in {format_seconds(connect_seconds)}"
    return ProbeResult(True, "tcp", detail, time.monotonic() - started, {"connect_latency": connect_seconds})

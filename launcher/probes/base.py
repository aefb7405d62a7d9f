"""What every probe returns, and the one entry point the supervisor and doctor call.

A probe answers one question ("is this service ready?") within a deadline and
never raises for an unhealthy service: failure is a :class:`ProbeResult` with
``ok=False`` and a one-line ``detail`` a trader can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from launcher.clock import Clock
    from launcher.probes.notify_listener import NotifyListener
    from launcher.stack.model import Health


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe run.

    ``detail`` is one line ("server version 178 in 3.1ms", "TCP accepted, no handshake
    answer within 2s (0 bytes)"). ``facts`` holds kind-specific measurements that
    doctor and status show (bytes_received, server_version, connection_time,
    error_codes, connect_latency, ...).
    """

    ok: bool
    kind: str
    detail: str
    latency: float  # seconds the probe took
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProbeContext:
    """What a probe may need beyond its own settings."""

    service_name: str
    log_path: Path | None = None  # the service's current log (log probe)
    log_start_offset: int = 0  # log bytes before this offset belong to earlier starts; the log probe skips them
    notify: "NotifyListener | None" = None  # the service's NOTIFY_SOCKET listener (notify probe)
    cwd: Path | None = None  # where exec probes run
    env: dict[str, str] = field(default_factory=dict)  # extra environment for exec probes
    clock: "Clock | None" = None


async def run_probe(health: "Health", context: ProbeContext) -> ProbeResult:
    """Run the service's configured probe once, bounded by ``health.timeout``."""
    from launcher.probes.registry import PROBES  # late import: each kind pulls its own libraries

    return await PROBES[health.kind](health.check, health.timeout, context)

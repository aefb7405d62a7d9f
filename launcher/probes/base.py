"""What every probe returns, and the one entry point the supervisor and doctor call.

A probe answers one question ("is this service ready?") within a deadline and
never raises for an unhealthy service: failure is a :class:`ProbeResult` with
``ok=False`` and a one-line ``detail`` a trader can act on.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from stackkit.clock import Clock
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
    # An exec probe's command resolved like the service's own (${VAR}, {symbols}, python -> this interpreter);
    # None: split the check's raw text (a probe run on its own, outside a resolved stack).
    command: tuple[str, ...] | None = None
    clock: "Clock | None" = None

    def monotonic(self) -> float:
        """Seconds on the injected clock, or on the system's monotonic clock."""
        return self.clock.monotonic() if self.clock else time.monotonic()


ProbeFunction = Callable[[Any, float, ProbeContext], Awaitable[ProbeResult]]

# How far past its own timeout a probe may run (closing a socket, reaping a process)
# before the guard below cancels it.
OVERRUN_MARGIN = 1.0


def bounded_probe(kind: str) -> Callable[[ProbeFunction], ProbeFunction]:
    """Decorate a probe so it can neither raise nor run much past its timeout.

    Each probe keeps its own deadline; this is the safety net that turns a bug or an
    unexpected OS error into an unhealthy result instead of an exception in the
    supervisor's loop. Cancellation still propagates.
    """

    def decorate(probe: ProbeFunction) -> ProbeFunction:
        @functools.wraps(probe)
        async def guarded(check: Any, timeout: float, context: ProbeContext) -> ProbeResult:
            started = time.monotonic()
            try:
                return await asyncio.wait_for(probe(check, timeout, context), timeout + OVERRUN_MARGIN)
            except asyncio.TimeoutError:
                detail = f"{kind} probe did not finish within {timeout:g}s"
            except Exception as err:  # noqa: BLE001 - a probe reports, it never raises
                detail = f"{kind} probe error: {type(err).__name__}: {err}"
            return ProbeResult(False, kind, detail, time.monotonic() - started)

        return guarded

    return decorate


async def run_probe(health: "Health", context: ProbeContext) -> ProbeResult:
    """Run the service's configured probe once, bounded by ``health.timeout``."""
    from launcher.probes.registry import PROBES  # late import: each kind pulls its own libraries

    return await PROBES[health.kind](health.check, health.timeout, context)


def format_seconds(seconds: float) -> str:
    """A duration for a detail line: ``0.4ms``, ``12ms``, ``2s``, ``1.5s``."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.3g}s"


def describe_connect_error(err: BaseException, host: str, port: int, timeout: float) -> str:
    """One line for a failed TCP connect, naming the address and what that usually means."""
    where = f"{host}:{port}"
    if isinstance(err, ConnectionRefusedError):
        return f"connection refused on {where} (nothing listening)"
    if isinstance(err, (asyncio.TimeoutError, TimeoutError)):
        return f"no TCP answer from {where} within {format_seconds(timeout)}"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot connect to {where}: {err.strerror}"
    return f"cannot connect to {where}: {type(err).__name__}: {err}"

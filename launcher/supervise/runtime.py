"""One service while the supervisor runs it: its process, its readiness, its record."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.probes.base import ProbeContext, ProbeResult
from launcher.stack.resolved import ResolvedService
from launcher.state.store import ServiceRecord
from launcher.supervise.policy import RestartHistory

if TYPE_CHECKING:
    from stackkit.clock import Clock
    from launcher.probes.notify_listener import NotifyListener
    from launcher.process.spawn import ServiceProcess


class ServiceRuntime:
    """Mutable state of one service, owned by the supervisor's event loop (no locking needed)."""

    def __init__(self, service: ResolvedService, log_path: Path | None, clock: "Clock"):
        self.service = service
        self.name = service.name
        self.record = ServiceRecord(name=service.name, log=str(log_path) if log_path else None,
                                    state="external" if service.external else "stopped",
                                    external=service.external, ports=service.ports,
                                    stop_signal=service.spec.stop_signal, stop_grace=service.spec.stop_grace)
        self.log_path = log_path
        self.log_offset = 0
        self.clock = clock
        self.process: ServiceProcess | None = None
        self.exit_watcher: asyncio.Task | None = None
        self.exited = asyncio.Event()
        self.notify: NotifyListener | None = None
        self.healthy = asyncio.Event()  # set while the service counts as healthy
        self.history = RestartHistory()
        self.started_at: float | None = None  # monotonic time of the current start
        self.healthy_since: float | None = None
        self.stopping = False  # an exit now is one we asked for
        self.busy = asyncio.Lock()  # serialises restarts and probes of this service

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def probe_context(self) -> ProbeContext:
        return ProbeContext(service_name=self.name, log_path=self.log_path, log_start_offset=self.log_offset,
                            notify=self.notify, cwd=self.service.cwd, env=dict(self.service.env), clock=self.clock)

    def remember_probe(self, result: ProbeResult) -> None:
        self.record.probe = {"ok": result.ok, "detail": result.detail, "latency": round(result.latency, 6),
                             "at": self.clock.now().timestamp()}

    def mark_healthy(self) -> None:
        self.healthy.set()
        self.healthy_since = self.clock.monotonic()
        self.record.healthy_at = self.clock.now().timestamp()
        self.record.reason = None

    def mark_not_healthy(self) -> None:
        self.healthy.clear()
        self.healthy_since = None

    def seconds_since_start(self) -> float:
        return 0.0 if self.started_at is None else self.clock.monotonic() - self.started_at

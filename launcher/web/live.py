"""The supervisor's own HTTP API: a :class:`StackView` of its state in memory, and starting its server.

The status is what a live supervisor answers `robostack status` (the same reply, read by
the same function), so `/api/status` equals `robostack status --json`. Changes are not
polled: the journal bumps a counter on every event, every save and every probe result
(:attr:`launcher.supervise.journal.Journal.changes`), and open event streams sleep on it.

The server is started right after the supervisor takes the stack's lock, before any
service starts, so a port in use refuses the whole `up` (exit 4, nothing started); it is
closed after every service has stopped, so a page open during `down` shows the stop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from launcher.commands.status import reply_view, status_json
from launcher.web.provider import Sample
from launcher.web.server import HttpServer, listen
from launcher.web.views import ViewBase

if TYPE_CHECKING:
    from launcher.supervise.supervisor import Supervisor

STATUS_MAX_AGE = 1.0  # seconds one computed status serves every stream woken by the same change
PORT_ADVICE = "stop it, or set http.port in the stack file to another port (0: any free port); nothing was started"


class SupervisorView(ViewBase):
    """The stack as the supervisor running it holds it in memory."""

    def __init__(self, supervisor: "Supervisor"):
        super().__init__(supervisor.stack, supervisor.paths)
        self.supervisor = supervisor
        self.changes = supervisor.journal.changes
        self._cached: tuple[int, float, dict[str, Any]] | None = None

    def status(self) -> dict[str, Any]:
        """`robostack status --json` of this stack, from memory. Several streams woken by one change share
        one computation (for at most STATUS_MAX_AGE seconds: uptimes stay fresh for monitors)."""
        now = time.monotonic()
        cached = self._cached
        if cached is not None and cached[0] == self.changes.count and now - cached[1] < STATUS_MAX_AGE:
            return cached[2]
        document = self.redactor.mask_data(status_json(reply_view(self.supervisor.status_reply())))
        self._cached = (self.changes.count, now, document)
        return document

    def supervisor_alive(self) -> bool:
        return True  # this view is served by the supervisor itself, and only while it runs

    async def changed(self, version: int, timeout: float) -> int:
        await self.changes.wait(version, timeout)
        return self.changes.count

    async def samples(self) -> list[Sample]:
        failures = Sample("robostack_state_write_errors_total", float(self.supervisor.journal.write_failures))
        return await super().samples() + [failures]


async def serve_supervisor(supervisor: "Supervisor") -> HttpServer:
    """Start serving the stack file's `http:` settings; PreflightRefused if the port is in use."""
    settings = supervisor.stack.http
    assert settings is not None, "serve_supervisor needs the stack file's http: section"
    server = HttpServer(SupervisorView(supervisor), settings.host, settings.port)
    await listen(server, PORT_ADVICE)
    return server

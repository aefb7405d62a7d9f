"""How the supervisor tells the world what it is doing, without knowing who listens.

The foreground `up` renders these calls on the terminal; a detached supervisor
forwards them as JSON lines through a pipe to the `up --detach` that started
it; tests collect them in a list.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Protocol

from launcher.probes.base import ProbeResult
from launcher.state.events import Event


class Reporter(Protocol):
    """Receives the supervisor's progress."""

    def event(self, event: Event) -> None:
        """Something happened to a service (also written to the timeline)."""

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        """A probe ran while a service was being gated (progress only, not persisted)."""

    def note(self, text: str) -> None:
        """A free-form line: pre-flight findings, what is being stopped."""


class JsonLinesReporter:
    """Progress as JSON messages handed to `send`; :func:`render_message` reads them back.

    The same messages go to `up --detach` (a pipe) and to a `robostack restart` client (a socket).
    """

    def __init__(self, send: Callable[[dict], None]):
        self._send = send

    def event(self, event: Event) -> None:
        self._send({"kind": "event", "event": event.to_json()})

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        self._send({"kind": "probe", "service": service, "ok": result.ok, "detail": result.detail,
                    "latency": result.latency, "elapsed": elapsed})

    def note(self, text: str) -> None:
        self._send({"kind": "note", "text": text})


class PipeReporter(JsonLinesReporter):
    """JSON lines on a file descriptor: the detached supervisor's pipe to `up --detach`.

    A reader that went away (the user closed the terminal after `up --detach`)
    must not stop the supervisor: write errors switch the reporter off.
    """

    def __init__(self, fd: int):
        super().__init__(self._write)
        self._fd: int | None = fd

    def _write(self, message: dict) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, (json.dumps(message) + "\n").encode())
        except OSError:
            self.close()

    def finish(self, *, ok: bool, message: str = "", exit_code: int = 0, log_tail: list[str] | None = None,
               service: str = "") -> None:
        """The last message: the stack is up (ok) or could not be brought up (with the failed service's log tail)."""
        self._send({"kind": "finish", "ok": ok, "message": message, "exit_code": exit_code,
                    "log_tail": log_tail or [], "service": service})
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def render_message(reporter: Reporter, message: dict) -> None:
    """Give `reporter` one message a :class:`JsonLinesReporter` sent (the `up --detach` pipe, a control client)."""
    if message["kind"] == "event":
        reporter.event(Event.from_json(message["event"]))
    elif message["kind"] == "probe":
        result = ProbeResult(ok=message["ok"], kind="probe", detail=message["detail"], latency=message["latency"])
        reporter.probe(message["service"], result, message["elapsed"])
    elif message["kind"] == "note":
        reporter.note(message["text"])

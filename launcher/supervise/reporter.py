"""How the supervisor tells the world what it is doing, without knowing who listens.

The foreground `up` renders these calls on the terminal; a detached supervisor
forwards them as JSON lines through a pipe to the `up --detach` that started
it; tests collect them in a list.
"""

from __future__ import annotations

import json
import os
from typing import Protocol

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


class CollectingReporter:
    """Keeps everything it is told; for tests and for composing reporters."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.probes: list[tuple[str, ProbeResult, float]] = []
        self.notes: list[str] = []

    def event(self, event: Event) -> None:
        self.events.append(event)

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        self.probes.append((service, result, elapsed))

    def note(self, text: str) -> None:
        self.notes.append(text)


class PipeReporter:
    """Forwards progress as JSON lines on a file descriptor (the detached supervisor's pipe).

    A reader that went away (the user closed the terminal after `up --detach`)
    must not stop the supervisor: write errors switch the reporter off.
    """

    def __init__(self, fd: int):
        self._fd: int | None = fd

    def _send(self, message: dict) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, (json.dumps(message) + "\n").encode())
        except OSError:
            self.close()

    def event(self, event: Event) -> None:
        self._send({"kind": "event", "event": event.to_json()})

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        self._send({"kind": "probe", "service": service, "ok": result.ok, "detail": result.detail,
                    "latency": result.latency, "elapsed": elapsed})

    def note(self, text: str) -> None:
        self._send({"kind": "note", "text": text})

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

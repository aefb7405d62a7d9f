"""Terminal output with rich: progress lines while the stack comes up (`status` is plain: output/status.py).

Progress is one line per change (not a live-redrawn screen) so it reads the
same in a terminal, in a CI log and in `supervisor.log`.
"""

from __future__ import annotations

import errno
import os
import time
from datetime import datetime

from rich.console import Console
from rich.markup import escape

from launcher.output.status import STATE_STYLES
from launcher.probes.base import ProbeResult
from launcher.state.events import Event

QUIET_EVENTS = {"supervisor-started", "supervisor-stopped"}
PROBE_REPEAT_SECONDS = 5.0  # a probe failing the same way is shown again only this often


def _raise_broken_pipe() -> None:
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class ConsoleReporter:
    """Renders supervisor progress on a rich Console: one line per event or new probe outcome.

    A write that fails raises OSError (EIO from a closed terminal, EPIPE from a reader
    that went away) for the caller to handle: rich's own reaction to EPIPE, exiting the
    process, must never cut a supervisor's stop short.
    """

    def __init__(self, console: Console):
        console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign]
        self.console = console
        self._width = 10
        self._last_probe: dict[str, tuple[str, float]] = {}

    def set_names(self, names: list[str]) -> None:
        self._width = max([len(n) for n in names] + [self._width])

    def _line(self, when: datetime, service: str, label: str, text: str, style: str) -> None:
        stamp = when.strftime("%H:%M:%S")
        self.console.print(f"[dim]{stamp}[/] {escape(service.ljust(self._width))} "
                           f"[{style}]{label:<10}[/] {escape(text)}", highlight=False, soft_wrap=True)

    def event(self, event: Event) -> None:
        if event.event in QUIET_EVENTS:
            return
        extra = ""
        if "seconds_to_healthy" in event.data:
            extra = f"  ({event.data['seconds_to_healthy']:.2f}s)"
        elif "delay" in event.data:
            extra = f"  (in {event.data['delay']:.1f}s, attempt {event.data.get('attempt', '?')})"
        self._line(event.time, event.service or "stack", event.event, event.reason + extra,
                   STATE_STYLES.get(event.event, "cyan"))

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        if result.ok:
            return  # the "healthy" event that follows says it
        previous = self._last_probe.get(service)
        now = time.monotonic()
        if previous and previous[0] == result.detail and now - previous[1] < PROBE_REPEAT_SECONDS:
            return
        self._last_probe[service] = (result.detail, now)
        self._line(datetime.now(), service, "waiting", f"{result.kind}: {result.detail}  ({elapsed:.1f}s)", "yellow")

    def note(self, text: str) -> None:
        self.console.print(escape(text), highlight=False, soft_wrap=True)

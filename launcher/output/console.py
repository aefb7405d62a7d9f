"""Terminal output with rich: progress lines while the stack comes up, and `status` tables.

Progress is one line per change (not a live-redrawn screen) so it reads the
same in a terminal, in a CI log and in `supervisor.log`.
"""

from __future__ import annotations

import errno
import os
import time
from datetime import datetime
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from launcher.probes.base import ProbeResult
from launcher.state.events import Event
from launcher.state.store import RunState

STATE_STYLES = {
    "healthy": "green", "external": "green", "starting": "yellow", "restarting": "yellow", "waiting": "yellow",
    "unhealthy": "red", "failed": "bold red", "stopped": "dim", "gave-up": "bold red", "exited": "red",
    "external-down": "red", "external-up": "green", "stopping": "dim", "started": "cyan",
    "done": "green", "blocked": "bold red", "orphaned": "red", "state-unwritable": "bold red", "state-written": "green",
    "maintenance": "yellow", "maintenance-start": "yellow", "maintenance-end": "green",
}
NOT_FINE = ("failed", "unhealthy", "waiting", "restarting", "blocked", "orphaned")
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


def format_uptime(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _probe_text(probe: dict | None) -> str:
    if not probe:
        return "-"
    return f"{'ok' if probe.get('ok') else 'fail'} {probe.get('latency', 0) * 1000:.1f}ms"


def _detail_text(record, now: float | None = None) -> str:
    """The one thing worth reading about a service: why it is not healthy, else its last event."""
    probe = record.probe or {}
    if record.state == "restarting" and record.next_try_at:
        wait = max(0.0, record.next_try_at - (time.time() if now is None else now))
        when = datetime.fromtimestamp(record.next_try_at).strftime("%H:%M:%S")
        return f"{record.reason or 'restarting'}; next try in {wait:.1f}s (at {when})"
    if record.reason and record.state in (*NOT_FINE, "maintenance"):
        return record.reason
    condition = record.condition or {}
    if condition.get("state") not in (None, "ready") and record.state in ("healthy", "external", "starting"):
        return f"{condition['state']}: {condition.get('detail', '')}"  # farms broken, awaiting the second factor...
    if probe and not probe.get("ok"):
        return str(probe.get("detail", ""))
    last = record.last_event or {}
    return f"{last.get('event', '')}: {last.get('reason', '')}".strip(": ") if last else "-"


def status_problems(state: RunState) -> list[str]:
    """Full reasons for services that are not fine (the table truncates them to one line)."""
    lines = []
    for name in state.stop_order[::-1] or list(state.services):
        record = state.services[name]
        if record.state in NOT_FINE:
            lines.append(f"{name}: {record.state}: {_detail_text(record)}")
    return lines


def status_table(state: RunState, *, supervisor: str, now: float | None = None, width: int = 100) -> Table:
    """One row per service: state, pid, uptime, restarts, last probe, and why (or its last event).

    `supervisor` says what is known of it: "pid 123", "pid 123, not responding", "not running".
    """
    now = time.time() if now is None else now
    title = f"{state.stack}: supervisor {supervisor}"
    logs = {str(Path(r.log).parent.parent) for r in state.services.values() if r.log}
    caption = f"logs: robostack logs [SERVICE] -f  (files in {', '.join(sorted(logs))})" if logs else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left", show_edge=False,
                  pad_edge=False, box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    name_width = max([len(name) for name in state.services] + [7])
    columns = (("service", name_width), ("state", 10), ("pid", 7), ("uptime", 6), ("restarts", 8), ("probe", 12))
    for column, column_width in columns:
        table.add_column(column, no_wrap=True, min_width=column_width)
    # Whatever the terminal has left; one line per service, the full reasons are printed below the table.
    remaining = max(20, width - sum(w + 2 for _, w in columns) - 2)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=remaining)
    for name in state.stop_order[::-1] or list(state.services):
        record = state.services[name]
        active = record.started_at and record.state not in ("stopped", "failed", "done", "restarting", "blocked")
        uptime = now - record.started_at if active else None
        table.add_row(escape(name), f"[{STATE_STYLES.get(record.state, 'white')}]{record.state}[/]",
                      str(record.pid or "-"), format_uptime(uptime), str(record.restarts),
                      _probe_text(record.probe), escape(_detail_text(record, now)))
    return table

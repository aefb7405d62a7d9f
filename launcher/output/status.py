"""What `status` (and `ps`) print: one row per service that describes it *now*, and the problems under it.

Nothing here repeats a message from the past as if it were current: a healthy
service shows how long it has been up and how old its last probe is; a probe result
is shown only while a supervisor runs probes (never after `down`); a reason is shown
only for the state it belongs to. Plain text (no rich): `status` must start fast.
"""

from __future__ import annotations

import time
from pathlib import Path

from launcher.output.term import Out, table

STATE_STYLES = {
    "healthy": "green", "external": "green", "starting": "yellow", "restarting": "yellow", "waiting": "yellow",
    "unhealthy": "red", "failed": "bold red", "stopped": "dim", "gave-up": "bold red", "exited": "red",
    "external-down": "red", "external-up": "green", "stopping": "dim", "started": "cyan",
    "done": "green", "blocked": "bold red", "orphaned": "red", "state-unwritable": "bold red", "state-written": "green",
    "halted": "magenta", "log-disk-full": "bold red", "log-disk-writable": "green", "warning": "yellow",
    "maintenance": "yellow", "maintenance-start": "yellow", "maintenance-end": "green",
}
NOT_FINE = ("failed", "unhealthy", "waiting", "restarting", "blocked", "orphaned")
HAS_PROCESS = ("starting", "healthy", "waiting", "unhealthy", "stopping", "orphaned", "blocked", "maintenance")
PROBED = ("healthy", "waiting", "unhealthy", "external", "starting", "maintenance")  # their probe result is current


def format_uptime(seconds: float | None) -> str:
    """3s, 4m12s, 2h05m, 3d04h ("-" for none): short enough for a table cell or a graph node."""
    if seconds is None or seconds < 0:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"  # a stack supervised for weeks


def _ago(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else format_uptime(seconds)


def current_probe(record, probing: bool) -> dict | None:
    """The probe result that is still true now: only while a supervisor probes, and only in a probed state."""
    return record.probe if probing and record.state in PROBED and record.probe else None


def probe_text(record, probing: bool) -> str:
    probe = current_probe(record, probing)
    if not probe:
        return "-"
    return f"{'ok' if probe.get('ok') else 'fail'} {probe.get('latency', 0) * 1000:.1f}ms"


def uptime_of(record, now: float) -> float | None:
    running = record.state in ("starting", "healthy", "waiting", "unhealthy", "stopping", "orphaned", "maintenance")
    return now - record.started_at if record.started_at and running else None


def describe_now(record, *, probing: bool, now: float | None = None) -> str:
    """One line about the service as it is now (its state's own reason, never an older message)."""
    now = time.time() if now is None else now
    state = record.state
    probe = current_probe(record, probing)
    seen = f"probe {_ago(max(0.0, now - probe['at']))} ago: {probe.get('detail', '')}" if probe and probe.get("at") \
        else ""
    if state == "restarting" and record.next_try_at:
        wait = max(0.0, record.next_try_at - now)
        when = time.strftime("%H:%M:%S", time.localtime(record.next_try_at))
        return f"{record.reason or 'restarting'}; next try in {wait:.1f}s (at {when})"
    gateway = _gateway_condition(record) if probing else ""
    if state in ("healthy", "external"):
        since = f"up {format_uptime(now - record.healthy_at)}" if record.healthy_at and state == "healthy" else ""
        return "; ".join(part for part in (gateway, since, seen) if part) or state
    if state == "starting":
        started = f"starting for {format_uptime(now - record.started_at)}" if record.started_at else "starting"
        if gateway:  # awaiting the second factor, the API initialising: more than "connection refused"
            return f"{started}; {gateway}"
        return f"{started}; {seen}" if seen and probe and not probe.get("ok") else started
    if state == "orphaned":
        return "still running, but its supervisor is gone; `robostack down` stops it"
    if state == "done":
        return record.exit or "finished"
    if state == "stopping":
        return "stopping"
    return record.reason or (record.exit if state == "stopped" else None) or state


def _gateway_condition(record) -> str:
    """A Gateway's condition when it says more than its state (farms broken, a login phase), else ""."""
    condition = getattr(record, "condition", None) or {}
    if condition.get("state") in (None, "ready", "unknown"):
        return ""
    return f"{condition['state']}: {condition.get('detail', '')}"


def status_lines(state, *, supervisor: str, probing: bool, out: Out, now: float | None = None) -> list[str]:
    """The title, one row per service (dependents first), and where the logs are."""
    now = time.time() if now is None else now
    rows = [["service", "state", "pid", "uptime", "restarts", "probe", "detail"]]
    styles: list[list[str | None]] = [["bold"] * 7]
    for name in state.stop_order[::-1] or list(state.services):
        record = state.services[name]
        pid = record.pid if record.state in HAS_PROCESS else None  # a pid of the past is no pid now
        rows.append([name, record.state, str(pid or "-"), format_uptime(uptime_of(record, now)),
                     str(record.restarts), probe_text(record, probing), describe_now(record, probing=probing, now=now)])
        styles.append([None, STATE_STYLES.get(record.state, "white"), None, None, None, None, None])
    fixed = sum(max(len(row[index]) for row in rows) + 1 for index in range(6))
    detail_width = max(20, out.width - fixed) if out.width else None  # a terminal's width, never a pipe's
    lines = [out.paint(f"{state.stack}: supervisor {supervisor}", "bold")]
    lines += table(rows, styles=styles, out=out, last_width=detail_width)
    logs = {str(Path(r.log).parent.parent) for r in state.services.values() if r.log}
    if logs:
        lines.append(out.paint(f"logs: robostack logs [SERVICE] -f  (files in {', '.join(sorted(logs))})", "dim"))
    return lines


def status_problems(state, log_failures: dict[str, str], *, probing: bool) -> list[str]:
    """Full lines for what is wrong (the table cuts its detail column on a terminal): states, logs, warnings."""
    lines = []
    for name in state.stop_order[::-1] or list(state.services):
        record = state.services[name]
        if record.state in NOT_FINE:
            lines.append(f"{name}: {record.state}: {describe_now(record, probing=probing)}")
        if name in log_failures:
            lines.append(f"{name}: {log_failures[name]}")
        for warning in getattr(record, "warnings", None) or ():
            lines.append(f"{name}: warning: {warning}")
    return lines

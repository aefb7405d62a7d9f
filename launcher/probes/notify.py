"""The ``notify`` probe: systemd's readiness protocol, read from the service's NotifyListener.

Healthy once the service sent READY=1 and, with ``watchdog_timeout``, its last
WATCHDOG=1 (or READY=1) is more recent than that. The probe answers at once from
what the listener has recorded; to act the moment READY=1 arrives, await the
listener's ``ready`` event (the supervisor's gate does).
"""

from __future__ import annotations

import time

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, format_seconds
from launcher.probes.notify_listener import NotifyState
from launcher.stack.model import NotifyCheck


@bounded_probe("notify")
async def probe_notify(check: NotifyCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """Judge what the service has announced so far (answers at once, whatever ``timeout``)."""
    started = time.monotonic()
    listener = context.notify
    if listener is None:
        return ProbeResult(False, "notify", f"no NOTIFY_SOCKET listener for {context.service_name}", 0.0)
    ok, detail = judge_notify(listener.state, check.watchdog_timeout, context.monotonic())
    facts = {"status": listener.state.status, "watchdog_count": listener.state.watchdog_count,
             "messages": listener.state.messages}
    return ProbeResult(ok, "notify", detail, time.monotonic() - started, facts)


def judge_notify(state: NotifyState, watchdog_timeout: float | None, now: float) -> tuple[bool, str]:
    """Healthy or not, and the one-line reason, from what the service announced. Pure."""
    said = f" (STATUS: {state.status})" if state.status else ""
    if state.stopping:
        return False, f"service announced STOPPING=1{said}"
    if state.watchdog_triggered:
        return False, f"service reported a watchdog failure (WATCHDOG=trigger){said}"
    if state.ready_at is None:
        heard = "" if state.messages else ", no message received"
        return False, f"no READY=1 yet{heard}{said}"
    last = state.last_sign_of_life() or state.ready_at
    if watchdog_timeout is not None and now - last > watchdog_timeout:
        return False, (f"no WATCHDOG=1 for {format_seconds(now - last)} "
                       f"(limit {format_seconds(watchdog_timeout)}){said}")
    if state.last_watchdog_at is not None:
        return True, f"ready, last WATCHDOG=1 {format_seconds(max(0.0, now - state.last_watchdog_at))} ago{said}"
    return True, f"READY=1 received {format_seconds(max(0.0, now - state.ready_at))} ago{said}"

"""The startup gate: a service counts as started only once its probe passes.

While a service starts, it is probed every 100 ms (50 ms the first time), or at
its `interval` if that is shorter, so a service that is ready in 300 ms is
noticed within about 100 ms of it. That is cheap: each probe is awaited before
the next, so a slow probe (a Gateway still initialising holds the handshake
until the probe's timeout) paces itself. The gate also wakes at once when the
process exits or sends READY=1, instead of waiting for the next probe.

The gate ends, whichever comes first, when:
* the probe passes (healthy);
* the process exits (failed, with its exit status);
* `startup_timeout` passes (failed, with the last probe's detail); a probe still running
  then is cancelled (an exec probe's command killed): the deadline bounds the whole gate;
* `start_period` is set and, after it, `retries` probes in a row have failed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from launcher.errors import ServiceFailed
from launcher.probes.base import ProbeResult, run_probe
from launcher.stack.durations import format_duration
from launcher.supervise.reporter import Reporter

if TYPE_CHECKING:
    from launcher.supervise.lifecycle import ServiceLifecycle

FIRST_PROBE_DELAY = 0.05
PROBE_CANCEL_TIMEOUT = 5.0  # for a cancelled probe to clean up (an exec probe's command is killed)
STARTUP_PROBE_INTERVAL = 0.1


async def wait_until_healthy(runtime: "ServiceLifecycle", reporter: Reporter) -> ProbeResult:
    """Probe `runtime`'s service until healthy; raise ServiceFailed saying why it is not."""
    health = runtime.service.health
    if health is None:
        return ProbeResult(ok=True, kind="none", detail="started (no health probe)", latency=0.0)
    spec = runtime.service.spec
    clock = runtime.clock
    start = clock.monotonic()
    deadline = start + spec.startup_timeout
    delay = min(FIRST_PROBE_DELAY, health.interval)
    failures_counted = 0
    last: ProbeResult | None = None
    while True:
        _fail_if_exited(runtime)
        result = await _probe_before(runtime, deadline - clock.monotonic())
        if result is None:
            said = f"{health.kind} probe: {last.detail}; the next one" if last else f"its {health.kind} probe"
            raise ServiceFailed(runtime.name, f"not healthy after {format_duration(spec.startup_timeout)} "
                                f"(startup_timeout): {said} was still running then, and was stopped")
        last = result
        runtime.remember_probe(result)
        now = clock.monotonic()
        reporter.probe(runtime.name, result, now - start)
        if result.ok:
            return result
        _fail_if_exited(runtime)
        if health.start_period > 0 and now - start >= health.start_period:
            failures_counted += 1
            if failures_counted >= health.retries:
                raise ServiceFailed(runtime.name, f"{health.kind} probe failed {failures_counted} times in a row "
                                    f"after the {format_duration(health.start_period)} start period: {result.detail}")
        if now >= deadline:
            raise ServiceFailed(runtime.name, f"not healthy after {format_duration(spec.startup_timeout)} "
                                f"(startup_timeout): {health.kind} probe: {result.detail}")
        await _wait_for_change(runtime, min(delay, deadline - now))
        delay = min(delay * 2, STARTUP_PROBE_INTERVAL, health.interval)


async def wait_until_done(runtime: "ServiceLifecycle") -> None:
    """A one-shot service: wait for it to exit 0 within `startup_timeout`; raise ServiceFailed otherwise."""
    spec = runtime.service.spec
    waiter = asyncio.ensure_future(runtime.exited.wait())
    try:
        await asyncio.wait([waiter], timeout=spec.startup_timeout)
    finally:
        waiter.cancel()
    process = runtime.process
    if process is None or process.returncode is None:
        raise ServiceFailed(runtime.name, f"one-shot service still running after "
                            f"{format_duration(spec.startup_timeout)} (startup_timeout)")
    if process.returncode != 0:
        raise ServiceFailed(runtime.name, f"one-shot service {runtime.record.exit or 'failed'}")


async def _probe_before(runtime: "ServiceLifecycle", seconds: float) -> ProbeResult | None:
    """One probe, if it finishes within `seconds`; else None, once it is cancelled (within a bound)."""
    probe = asyncio.ensure_future(run_probe(runtime.service.health, runtime.probe_context()))
    try:
        done, _ = await asyncio.wait([probe], timeout=max(0.0, seconds))
    finally:
        if not probe.done():
            probe.cancel()
            await asyncio.wait([probe], timeout=PROBE_CANCEL_TIMEOUT)
    return probe.result() if probe in done else None


def _fail_if_exited(runtime: "ServiceLifecycle") -> None:
    if runtime.process is not None and runtime.process.returncode is not None:
        status = runtime.record.exit or f"exited with code {runtime.process.returncode}"
        raise ServiceFailed(runtime.name, f"{status} before becoming healthy")


async def _wait_for_change(runtime: "ServiceLifecycle", timeout: float) -> None:
    """Wait up to `timeout`, returning early if the process exits or reports READY=1."""
    waiters = [asyncio.ensure_future(runtime.exited.wait())]
    if runtime.notify is not None and not runtime.notify.ready.is_set():
        waiters.append(asyncio.ensure_future(runtime.notify.ready.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""Keeping a running stack healthy: liveness probes, restarts with backoff, dependents.

Each service has a watcher task. It wakes every `interval` (or at once when the
process exits), probes, and applies the pure decisions of
`launcher.supervise.policy`. All work on one service is serialised by its
`busy` lock, taken in start order, so a Gateway restart and a trader restart
never interleave on the same process.
"""

from __future__ import annotations

import asyncio
import contextlib

from launcher.errors import ServiceFailed
from launcher.probes.base import run_probe
from launcher.supervise import lifecycle
from launcher.supervise.policy import (Decision, decide_after_exit, decide_after_failed_start, decide_after_unhealthy,
                                       dependent_needs_restart)
from launcher.supervise.runtime import ServiceRuntime

IDLE_WAKEUP = 3600.0  # a service without a probe only wakes for its exit


async def supervise_until_stopped(supervisor) -> None:
    """Watch every service until the supervisor is asked to stop."""
    for runtime in supervisor.runtimes.values():
        ensure_watched(supervisor, runtime)
    try:
        await supervisor.stop_requested.wait()
    finally:
        watchers = list(supervisor.watchers.values())
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)


def ensure_watched(supervisor, runtime: ServiceRuntime) -> None:
    """Start the service's watcher unless one is running (it ends when a service is left stopped or
    failed; `robostack restart` brings the service back, and with it the watching)."""
    watcher = supervisor.watchers.get(runtime.name)
    if watcher is None or watcher.done():
        supervisor.watchers[runtime.name] = asyncio.ensure_future(_watch(supervisor, runtime))


async def _watch(supervisor, runtime: ServiceRuntime) -> None:
    health = runtime.service.health
    interval = health.interval if health else IDLE_WAKEUP
    failures = 0
    while runtime.record.state != "failed":
        await _wait_for_exit(runtime, interval)
        if runtime.busy.locked():
            continue
        async with runtime.busy:
            if runtime.exited.is_set() and not runtime.stopping:
                if not await _after_exit(supervisor, runtime):
                    return
                failures = 0
                continue
            if health is None or not (runtime.running or runtime.service.external):
                continue
            failures = await _probe_once(supervisor, runtime, failures)


async def _wait_for_exit(runtime: ServiceRuntime, timeout: float) -> None:
    """Wait one interval, or less if the process exits on its own."""
    if runtime.exited.is_set() and runtime.stopping:
        # Stopped on purpose (a dependency is restarting it): just pace until it is started again.
        await runtime.clock.sleep(timeout)
        return
    try:
        await asyncio.wait_for(runtime.exited.wait(), timeout=timeout)
    except asyncio.TimeoutError:
        pass


async def _probe_once(supervisor, runtime: ServiceRuntime, failures: int) -> int:
    """Run one liveness probe and act on it; return the new count of consecutive failures."""
    health = runtime.service.health
    result = await run_probe(health, runtime.probe_context())
    runtime.remember_probe(result)
    if result.ok:
        if not runtime.healthy.is_set():
            runtime.mark_healthy()
            runtime.record.state = "external" if runtime.service.external else "healthy"
            supervisor.emit(runtime.name, "external-up" if runtime.service.external else "healthy", result.detail)
            supervisor.save()
        _show_waiting_if_dependency_down(supervisor, runtime)
        supervisor.save_probe_results()
        return 0
    failures += 1
    if failures < health.retries:
        return failures
    if runtime.healthy.is_set():
        runtime.mark_not_healthy()
        runtime.record.reason = result.detail
        runtime.record.state = "unhealthy"
        supervisor.emit(runtime.name, "external-down" if runtime.service.external else "unhealthy", result.detail,
                        consecutive_failures=failures)
        supervisor.save()
    if runtime.service.external:
        return failures  # never restarted: someone else runs it
    if _waiting_for_dependencies(supervisor, runtime):
        return failures
    decision = decide_after_unhealthy(runtime.service.spec, probe_detail=result.detail, history=runtime.history,
                                      now=supervisor.clock.monotonic())
    await apply_decision(supervisor, runtime, decision)
    return 0


def _waiting_for_dependencies(supervisor, runtime: ServiceRuntime) -> bool:
    """With `on_dependency_restart: wait`, give a dependent time to reconnect by itself."""
    dependencies = [supervisor.runtimes[name] for name in runtime.service.depends_on]
    down = [dep.name for dep in dependencies if not dep.healthy.is_set()]
    if down:
        _set_waiting(supervisor, runtime, down)
        return True
    now = supervisor.clock.monotonic()
    healthy_for = min((now - dep.healthy_since for dep in dependencies if dep.healthy_since is not None), default=None)
    if healthy_for is None:
        return False  # no dependencies: nothing to wait for
    return not dependent_needs_restart(dependent_healthy=False, dependency_healthy_for=healthy_for,
                                       grace=runtime.service.spec.dependency_grace)


def _show_waiting_if_dependency_down(supervisor, runtime: ServiceRuntime) -> None:
    down = [name for name in runtime.service.depends_on if not supervisor.runtimes[name].healthy.is_set()]
    if down:
        _set_waiting(supervisor, runtime, down)
    elif runtime.record.state == "waiting":
        runtime.record.state = "healthy"
        runtime.record.reason = None
        supervisor.save()


def _set_waiting(supervisor, runtime: ServiceRuntime, down: list[str]) -> None:
    reason = f"waiting for {', '.join(down)}"
    if runtime.record.state != "waiting":
        runtime.record.state = "waiting"
        runtime.record.reason = reason
        supervisor.emit(runtime.name, "waiting", reason)
        supervisor.save()


async def _after_exit(supervisor, runtime: ServiceRuntime) -> bool:
    """The process ended by itself. Return False if the watcher should end (left stopped or failed)."""
    process = runtime.process
    exit_ok = process is not None and process.returncode == 0
    exit_text = runtime.record.exit or "exited"
    runtime.mark_not_healthy()
    supervisor.emit(runtime.name, "exited", exit_text, uptime=round(runtime.seconds_since_start(), 3))
    decision = decide_after_exit(runtime.service.spec, exit_ok=exit_ok, exit_text=exit_text,
                                 history=runtime.history, now=supervisor.clock.monotonic())
    await apply_decision(supervisor, runtime, decision)
    return runtime.record.state not in ("failed", "stopped")


async def apply_decision(supervisor, runtime: ServiceRuntime, decision: Decision) -> None:
    """Carry out a policy decision: restart after a delay, give up, or leave the service as it is."""
    while decision.action == "restart":
        decision = await _restart(supervisor, runtime, decision)
    if decision.action == "give-up":
        await lifecycle.stop_process(runtime)
        runtime.record.state = "failed"
        runtime.record.reason = decision.reason
        supervisor.emit(runtime.name, "gave-up", decision.reason, restarts=runtime.record.restarts)
        supervisor.save()
    elif decision.action == "leave":
        runtime.record.state = "stopped" if runtime.process and runtime.process.returncode == 0 else "failed"
        runtime.record.reason = decision.reason
        supervisor.save()
    if runtime.record.state == "failed" and runtime.service.spec.on_failure == "stop-stack":
        supervisor.request_stop(f"{runtime.name} failed and its on_failure is stop-stack",
                                ServiceFailed(runtime.name, decision.reason))


async def _restart(supervisor, runtime: ServiceRuntime, decision: Decision) -> Decision:
    """Restart once (with its dependents per their policy); return the next decision."""
    clock = supervisor.clock
    spec = runtime.service.spec
    runtime.history.record(clock.monotonic(), spec.max_restarts.window)
    runtime.record.restarts += 1
    runtime.record.state = "restarting"
    runtime.record.reason = decision.reason
    supervisor.emit(runtime.name, "restarting", decision.reason, delay=round(decision.delay, 3),
                    attempt=runtime.record.restarts)
    supervisor.save()
    dependents = [supervisor.runtimes[name] for name in supervisor.stack.dependents_of(runtime.name)
                  if supervisor.stack.services[name].spec.on_dependency_restart == "restart"]
    async with contextlib.AsyncExitStack() as held:
        for dependent in dependents:  # start order, like every other lock holder
            await held.enter_async_context(dependent.busy)
        for dependent in reversed(dependents):
            await supervisor.stop_service(dependent.name, f"{runtime.name} is restarting")
        await lifecycle.stop_process(runtime)
        await clock.sleep(decision.delay)
        began = clock.monotonic()
        try:
            await supervisor.start_service(runtime.name)
        except ServiceFailed as failure:
            return decide_after_failed_start(spec, reason=failure.detail, history=runtime.history,
                                             now=clock.monotonic())
        supervisor.emit(runtime.name, "restarted", decision.reason, seconds=round(clock.monotonic() - began, 3))
        for dependent in dependents:
            await _start_dependent(supervisor, dependent.name)
    return Decision("running")


async def _start_dependent(supervisor, name: str) -> None:
    try:
        await supervisor.start_service(name)
    except ServiceFailed as failure:
        dependent = supervisor.runtimes[name]
        decision = decide_after_failed_start(dependent.service.spec, reason=failure.detail,
                                          history=dependent.history, now=supervisor.clock.monotonic())
        await apply_decision(supervisor, dependent, decision)

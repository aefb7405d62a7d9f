"""Keeping a running service healthy: its liveness probe, its exits, waiting for its dependencies.

One watcher task per service, after `up`. It sleeps until the service changes (its
process exits, its state changes) or its next probe is due, and never otherwise:
there is no polling loop to spin. Probe times sit on a grid of the service's
`interval` (multiples of it on the monotonic clock), so services with the same
interval are probed in the same wakeup. Work on a service is serialised by its
`busy` lock, which a watcher *awaits* (a restart of a dependency may hold it for
a while); a pending exit is claimed once, so it can never be seen twice.

The watcher decides nothing itself: the restart policy
(:mod:`launcher.supervise.policy`) decides, and the stack (:class:`Supervised`, a
narrow interface) carries out restarts and what a settled service means for its
dependents.
"""

from __future__ import annotations

import math
from typing import Protocol

from stackkit.clock import Clock
from launcher.state.transitions import ServiceState, Trigger
from launcher.supervise.gateway import after_verdict
from launcher.supervise.lifecycle import ServiceLifecycle
from launcher.supervise.policy import Decision, decide_after_exit, decide_after_unhealthy, dependent_needs_restart
from launcher.stack.durations import format_duration


class Supervised(Protocol):
    """What a watcher may ask of the stack it watches."""

    clock: Clock

    @property
    def stopping(self) -> bool:
        """The stack has begun stopping: watchers end."""

    def dependencies(self, lifecycle: ServiceLifecycle) -> list[ServiceLifecycle]:
        """The services `lifecycle` depends on directly."""

    async def apply(self, lifecycle: ServiceLifecycle, decision: Decision) -> None:
        """Carry out a policy decision: restart (the one restart path), give up, or leave it."""


async def watch_service(stack: Supervised, lifecycle: ServiceLifecycle) -> None:
    """Watch one service until it settles (failed, done) or the stack stops."""
    health = lifecycle.service.health
    clock = stack.clock
    next_probe = _next_tick(clock.monotonic(), health.interval) if health else math.inf
    failures = 0
    while not stack.stopping:
        seen = lifecycle.changes.count
        if not lifecycle.exit_pending:
            due = max(0.0, next_probe - clock.monotonic()) if lifecycle.probed else None
            await lifecycle.changes.wait(seen, due)
        if stack.stopping:
            return
        lifecycle.check_log_writer()
        async with lifecycle.busy:
            if lifecycle.state in (ServiceState.FAILED, ServiceState.DONE, ServiceState.HALTED):
                return  # nothing to watch until `robostack restart`/`start` brings it back (and a new watcher)
            if lifecycle.take_exit():
                await _after_exit(stack, lifecycle)
                failures = 0
                continue
            if health is not None and lifecycle.probed and clock.monotonic() >= next_probe:
                failures = await _probe_once(stack, lifecycle, failures)
                next_probe = _next_tick(clock.monotonic(), health.interval)


def _next_tick(now: float, interval: float) -> float:
    """The next multiple of `interval` after `now`: probes of equal intervals share their wakeups."""
    return (math.floor(now / interval) + 1) * interval


async def _after_exit(stack: Supervised, lifecycle: ServiceLifecycle) -> None:
    """The process ended by itself: record it, then let the policy decide (a blocked service just waits)."""
    process = lifecycle.process
    exit_ok = process is not None and process.returncode == 0
    exit_text = lifecycle.record.exit or "exited"
    if lifecycle.state is ServiceState.BLOCKED:
        lifecycle.fire(Trigger.EXITED, f"{exit_text}; not restarted while blocked", uptime=lifecycle.uptime())
        return
    decision = decide_after_exit(lifecycle.service.spec, exit_ok=exit_ok, exit_text=exit_text,
                                 history=lifecycle.history, now=stack.clock.monotonic())
    if lifecycle.gateway is not None:
        decision = lifecycle.gateway.after_exit(decision)  # a second factor that never came is not retried
    shown = decision.reason if decision.action == "leave" else exit_text
    lifecycle.fire(Trigger.EXITED, shown, uptime=lifecycle.uptime())
    await stack.apply(lifecycle, decision)


async def _probe_once(stack: Supervised, lifecycle: ServiceLifecycle, failures: int) -> int:
    """Run one liveness probe and act on it; return the new count of consecutive failures."""
    health = lifecycle.service.health
    external = lifecycle.service.external
    result = await lifecycle.check_health()
    lifecycle.remember_probe(result)
    down = [dependency.name for dependency in stack.dependencies(lifecycle) if not dependency.up]
    if lifecycle.gateway is not None:
        return await after_verdict(stack, lifecycle, result, failures, down)
    if result.ok:
        if down:
            lifecycle.fire(Trigger.DEPENDENCY_DOWN, f"waiting for {', '.join(down)}")
        else:
            lifecycle.fire(Trigger.EXTERNAL_UP if external else Trigger.PROBE_PASSED, result.detail)
        return 0
    if not external and not lifecycle.running:
        return failures  # it died meanwhile: its exit says why better than the probe, and is dealt with next
    failures += 1
    if failures < health.retries:
        return failures
    if external:
        lifecycle.fire(Trigger.EXTERNAL_DOWN, result.detail, consecutive_failures=failures)
        return failures  # never restarted: someone else runs it
    if down:
        lifecycle.fire(Trigger.DEPENDENCY_DOWN, f"waiting for {', '.join(down)}")
        return failures
    reconnecting = _reconnecting_to(stack, lifecycle)
    if reconnecting:
        lifecycle.fire(Trigger.DEPENDENCY_DOWN, reconnecting)
        return failures
    lifecycle.fire(Trigger.PROBE_FAILED, result.detail, consecutive_failures=failures)
    decision = decide_after_unhealthy(lifecycle.service.spec, probe_detail=result.detail, history=lifecycle.history,
                                      now=stack.clock.monotonic())
    await stack.apply(lifecycle, decision)
    return 0


def _reconnecting_to(stack: Supervised, lifecycle: ServiceLifecycle) -> str | None:
    """With `on_dependency_restart: wait`: why the service is still given time to reconnect, or None."""
    dependencies = stack.dependencies(lifecycle)
    now = stack.clock.monotonic()
    back = [(now - dep.healthy_since, dep.name) for dep in dependencies if dep.healthy_since is not None]
    if not back:
        return None
    healthy_for, name = min(back)
    grace = lifecycle.service.spec.dependency_grace
    if dependent_needs_restart(dependent_healthy=False, dependency_healthy_for=healthy_for, grace=grace):
        return None
    return f"{name} is back since {format_duration(round(healthy_for, 1))}; giving it {format_duration(grace)} to reconnect"

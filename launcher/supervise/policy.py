"""Restart policy as pure decisions: given what happened and the history, what to do next.

No clocks are read here: callers pass `now` (a monotonic time) and keep the
returned history, so every rule is tested on plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from launcher.stack.model import Service

Action = Literal["restart", "give-up", "leave", "running"]  # "running": a restart succeeded


@dataclass(frozen=True)
class Decision:
    """What the supervisor should do about a service that exited or turned unhealthy."""

    action: Action
    delay: float = 0.0  # seconds to wait before restarting
    reason: str = ""
    soft: bool = False  # a Gateway's soft restart through IBC (its process and login kept) where possible


@dataclass
class RestartHistory:
    """Monotonic times of the restarts of one service (pruned to the crash-loop window)."""

    times: list[float] = field(default_factory=list)

    def within(self, window: float, now: float) -> list[float]:
        return [t for t in self.times if now - t < window]

    def record(self, now: float, window: float) -> None:
        self.times = self.within(window, now) + [now]


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff: `initial`, then doubling, capped at `maximum` (attempt counts from 0)."""
    if attempt <= 0:
        return min(initial, maximum)
    return min(initial * (2 ** min(attempt, 32)), maximum)


def decide_after_exit(spec: Service, *, exit_ok: bool, exit_text: str, history: RestartHistory, now: float) -> Decision:
    """A managed process ended on its own (not because we stopped it)."""
    if spec.restart == "no":
        return Decision("leave", reason=f"{exit_text}; restart policy is 'no'")
    if spec.restart == "on-failure" and exit_ok:
        return Decision("leave", reason=f"{exit_text}; restart policy 'on-failure' does not restart a clean exit")
    return _restart_or_give_up(spec, exit_text, history, now)


def decide_after_unhealthy(spec: Service, *, probe_detail: str, history: RestartHistory, now: float) -> Decision:
    """A running service failed its liveness probe `retries` times in a row."""
    if spec.restart == "no":
        return Decision("leave", reason=f"unhealthy: {probe_detail}; restart policy is 'no'")
    return _restart_or_give_up(spec, f"unhealthy: {probe_detail}", history, now)


def decide_after_failed_start(spec: Service, *, reason: str, history: RestartHistory, now: float) -> Decision:
    """A restart did not make it through the startup gate (it exited, or never became healthy)."""
    if spec.restart == "no":
        return Decision("leave", reason=f"{reason}; restart policy is 'no'")
    return _restart_or_give_up(spec, reason, history, now)


def _restart_or_give_up(spec: Service, what: str, history: RestartHistory, now: float) -> Decision:
    limit = spec.max_restarts
    recent = history.within(limit.window, now)
    if len(recent) >= limit.count:
        window = _plain_seconds(limit.window)
        return Decision("give-up", reason=f"{what}; restarted {len(recent)} times within {window}, giving up")
    delay = backoff_delay(len(recent), spec.backoff.initial, spec.backoff.max)
    return Decision("restart", delay=delay, reason=what)


def _plain_seconds(seconds: float) -> str:
    from launcher.stack.durations import format_duration

    return format_duration(seconds)


def dependent_needs_restart(*, dependent_healthy: bool, dependency_healthy_for: float | None, grace: float) -> bool:
    """With `on_dependency_restart: wait`: restart a dependent only if it is still unhealthy
    `grace` seconds after its dependency became healthy again (it was given time to reconnect)."""
    if dependent_healthy or dependency_healthy_for is None:
        return False
    return dependency_healthy_for >= grace

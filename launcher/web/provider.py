"""The one interface between the HTTP API and whatever knows the stack's state.

Two implementations serve the same routes: the supervisor's own, from its state in memory
(:class:`launcher.web.live.SupervisorView`, woken by the journal), and the state directory's
(:class:`launcher.web.statedir.StateDirView`, for `robostack dashboard --serve`); what they share
is in :mod:`launcher.web.views`. Everything a view returns is already masked (no secret value
of the stack appears in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from launcher.stack.resolved import ResolvedStack


@dataclass(frozen=True)
class TimelineEntry:
    """One event of the timeline, as `robostack events --json` prints it, and the cursor after it."""

    cursor: int
    event: dict[str, Any]


@dataclass(frozen=True)
class TimelinePage:
    """Events after a cursor, oldest first; `next_cursor` continues after the last one."""

    entries: list[TimelineEntry]
    next_cursor: int
    more: bool = False  # True if `limit` cut the page short: ask again from next_cursor


@dataclass(frozen=True)
class Sample:
    """One Prometheus sample: a metric name, its labels and a value."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


class StackView(Protocol):
    """What the HTTP API reads. Every method is cheap or bounded; none changes anything."""

    stack: ResolvedStack  # the graph (depends_on), ports, probe kinds, the http settings, secret values

    def status(self) -> dict[str, Any]:
        """Exactly what `robostack status --json` prints, masked."""

    def supervisor_alive(self) -> bool:
        """True while the supervisor of this stack runs."""

    def timeline(self, since: int | None, limit: int) -> TimelinePage:
        """Events after cursor `since` (the first `limit` of them); with None, the last `limit` events."""

    async def changed(self, version: int, timeout: float) -> int:
        """Return a version number as soon as it differs from `version` (something may have
        changed: a state, a probe, a new event), or after `timeout` seconds with the current one."""

    async def samples(self) -> list[Sample]:
        """Prometheus samples for `/metrics`."""

    def log_path(self, service: str) -> Path | None:
        """The current log file of a service (None for an external service or an unknown name)."""

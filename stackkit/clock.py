"""An injectable clock, so timing logic can be driven by tests without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """What the launcher needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for deadlines and durations)."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware (for logs and the event timeline)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (used only for pacing, such as probe intervals, never to synchronise)."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """A clock running ``scale`` times faster than ``base``, its wall time starting at ``start``.

    The Gateway simulator rehearses a trading week in minutes with it: its schedule
    (login phases, daily restarts, outages) reads this clock, so an event ``d``
    simulated seconds away happens ``d / scale`` real seconds later.
    """

    def __init__(self, base: Clock, scale: float = 1.0, start: datetime | None = None):
        if not scale > 0:
            raise ValueError(f"scale must be more than zero, got {scale!r}")
        self.base = base
        self.scale = scale
        self._origin = base.monotonic()
        self._start = start or base.now()

    def _elapsed(self) -> float:
        return (self.base.monotonic() - self._origin) * self.scale

    def monotonic(self) -> float:
        return self._origin + self._elapsed()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed())

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(max(0.0, seconds) / self.scale)

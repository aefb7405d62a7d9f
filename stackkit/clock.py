"""An injectable clock, so timing logic can be driven by tests without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
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

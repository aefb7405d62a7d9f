"""Steps due at given clock readings: the lifecycle's agenda. Pure."""

from __future__ import annotations

import heapq
import itertools
from typing import Callable


class Schedule:
    """Steps due at given clock readings, in order (ties in the order they were added)."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, str, Callable[[], None]]] = []
        self._order = itertools.count()

    def add(self, due: float, tag: str, step: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (due, next(self._order), tag, step))

    def cancel(self, tag: str) -> None:
        self._queue = [entry for entry in self._queue if entry[2] != tag]
        heapq.heapify(self._queue)

    def pop_due(self, now: float) -> tuple[float, Callable[[], None]] | None:
        if self._queue and self._queue[0][0] <= now:
            due, _, _, step = heapq.heappop(self._queue)
            return due, step
        return None

    @property
    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

"""Capped exponential backoff for reconnecting, as values: no sleeping, no clock.

Delays double from ``initial`` up to ``maximum``; each is shortened by up to
``jitter`` (a fraction) so that several clients cut off by the same Gateway
restart do not all knock again at the same instant. Randomness is injected.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """The policy: first delay, growth factor, cap, and jitter fraction (0 to 1)."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got initial={self.initial} maximum={self.maximum}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, unit: float) -> float:
        """Seconds to wait before retry number `attempt` (0-based); `unit` is a random draw in [0, 1).

        Never more than ``maximum``, never less than ``(1 - jitter)`` of the un-jittered delay.
        """
        # Cap the exponent too, so a long outage cannot overflow a float.
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * unit)


class RetrySchedule:
    """Counts consecutive failures and hands out the next delay.

    A connection only counts as a success once it has lasted ``stable_after``
    seconds: a Gateway that accepts and then drops us at once, over and over,
    must not be hammered at the shortest delay.
    """

    def __init__(self, backoff: Backoff, rng: random.Random | None = None, *, stable_after: float = 10.0) -> None:
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.stable_after = stable_after
        self.attempts = 0

    def next_delay(self) -> float:
        delay = self.backoff.delay(self.attempts, self.rng.random())
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0

    def connection_ended(self, lasted: float) -> None:
        """A connection that had succeeded ended after `lasted` seconds; start over if it was stable."""
        if lasted >= self.stable_after:
            self.reset()

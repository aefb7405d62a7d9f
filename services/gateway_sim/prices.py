"""One price path per instrument, a pure function of time, shared by live ticks and historical bars.

The log price is a sum of smooth random curves at several time scales (years down to seconds),
each a cosine interpolation between seeded Gaussian knots ("value noise"). So:

* the live stream and any historical request see the same path: a 1-minute bar's close is the
  price the stream showed at that minute, and a daily bar's range contains the minute bars';
* moves are plausible at every horizon: about 2% a day, 5% a month, 25% a year, never the
  runaway of a random walk scaled by duration (no 1e12 after five years of weekly bars);
* nothing is stored: knots are computed from ``(seed, conId, scale, index)`` by an integer hash,
  so a path costs no memory and any moment of any year can be asked for.

The path is anchored so that the price at ``anchor`` (the simulator's start) is the instrument's
catalog start price.
"""

from __future__ import annotations

import math
from functools import lru_cache

# (knot spacing in seconds, amplitude of the log price): each scale adds its own wiggle.
SCALES: tuple[tuple[float, float], ...] = (
    (365 * 86_400.0, 0.22),
    (60 * 86_400.0, 0.08),
    (10 * 86_400.0, 0.035),
    (86_400.0, 0.014),
    (3_600.0, 0.005),
    (300.0, 0.0022),
    (30.0, 0.0009),
    (3.0, 0.0003),
)
_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit integer hash."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@lru_cache(maxsize=65_536)
def knot(seed: int, stream: int, scale: int, index: int) -> float:
    """A standard normal value for one knot (Box-Muller on two hashed uniforms)."""
    first = _mix((seed * 1_000_003 + stream) * 131 + scale * 2_654_435_761 + index * 97)
    second = _mix(first ^ 0x5DEECE66D)
    u1 = ((first >> 11) + 1) / 9_007_199_254_740_993.0
    u2 = (second >> 11) / 9_007_199_254_740_992.0
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def noise(seed: int, stream: int, t: float) -> float:
    """The sum of all scales' smooth curves at time ``t`` (epoch seconds)."""
    total = 0.0
    for number, (spacing, amplitude) in enumerate(SCALES):
        position = t / spacing
        index = math.floor(position)
        fraction = position - index
        weight = (1.0 - math.cos(math.pi * fraction)) / 2.0
        low, high = knot(seed, stream, number, index), knot(seed, stream, number, index + 1)
        total += amplitude * (low + (high - low) * weight)
    return total


class PricePath:
    """``mid(con_id, start_price, t)``: the instrument's mid price at epoch second ``t``."""

    def __init__(self, seed: int, anchor: float):
        self.seed = seed
        self.anchor = anchor
        self._offsets: dict[int, float] = {}

    def mid(self, con_id: int, start_price: float, t: float) -> float:
        offset = self._offsets.get(con_id)
        if offset is None:
            offset = self._offsets[con_id] = noise(self.seed, con_id, self.anchor)
        return start_price * math.exp(noise(self.seed, con_id, t) - offset)

    def volume_factor(self, con_id: int, t: float) -> float:
        """A slowly varying activity level around 1 (busier and quieter hours and days)."""
        return min(3.0, max(0.3, math.exp(1.6 * noise(self.seed + 17, con_id, t))))

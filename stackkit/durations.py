"""Durations as written in a stack file or a simulator scenario: ``250ms``, ``2s``, ``1m``, ``1h``
or plain seconds (finite, at most a week)."""

from __future__ import annotations

import math
import re

# At most 12 digits before the point: enough for any sane duration, and never a 4300-digit number to parse.
_DURATION = re.compile(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|m|h)?\s*")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# No setting of a trading stack needs more than a week; a bigger value is a typo (or .inf).
MAX_DURATION = 7 * 24 * 3600.0


def parse_duration(value: object) -> float:
    """Return seconds as a float; raise ``ValueError`` with a readable reason otherwise.

    Negative, infinite and not-a-number values and anything over a week are refused
    here rather than later so the error names the field that held them (``.inf`` would
    wait forever, ``.nan`` compares false with everything and kills at once).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite duration (like 250ms, 2s, 1m), got {value}")
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {_shown(value)}")
        if value > MAX_DURATION:
            raise ValueError(f"expected a duration of at most a week (168h), got {_shown(value)}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            return _bounded(float(match.group(1)) * _SCALE[match.group(2)], f'"{_shown(value)}"')
        if value.strip().startswith("-"):
            raise ValueError(f'expected a non-negative duration, got "{_shown(value)}"')
    raise ValueError(f'expected a duration (like 250ms, 2s, 1m), got "{_shown(value)}"')


def _shown(value: object, limit: int = 40) -> str:
    """A value as quoted in a message, clipped: a 5000-digit number makes a very long line."""
    text = str(value) if not isinstance(value, int) or value.bit_length() < 128 else "a huge number"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _bounded(seconds: float, written: str) -> float:
    if seconds > MAX_DURATION:
        raise ValueError(f"expected a duration of at most a week (168h), got {written}")
    return seconds


def at_least(minimum: float):
    """An after-validator: a duration that must be at least `minimum` seconds (and above zero)."""

    def check(seconds: float) -> float:
        if seconds < minimum or seconds <= 0:
            raise ValueError(f"expected a duration of at least {format_duration(minimum)}, got {format_duration(seconds)}")
        return seconds

    check.minimum = minimum  # type: ignore[attr-defined]
    return check


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for `robostack config`."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= scale and (seconds / scale).is_integer():
            return f"{int(seconds / scale)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"

"""Durations as written in a stack file or a simulator scenario: ``250ms``, ``2s``, ``1m``, ``1h``
or plain seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Return seconds as a float; raise ``ValueError`` with a readable reason otherwise.

    Negative values are refused here rather than later so the error names the
    field that held them.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _SCALE[match.group(2)]
        if value.strip().startswith("-"):
            raise ValueError(f'expected a non-negative duration, got "{value}"')
    raise ValueError(f'expected a duration (like 250ms, 2s, 1m), got "{value}"')


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for `robostack config`."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= scale and (seconds / scale).is_integer():
            return f"{int(seconds / scale)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"

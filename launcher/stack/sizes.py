"""Sizes as written in a stack file: ``512KB``, ``10MB``, ``1GB`` or plain bytes (1 KB = 1024 bytes)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_SCALE = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
SMALLEST = 1024


def parse_size(value: object) -> int:
    """Bytes as an int; ValueError with a readable reason otherwise (below 1KB is refused: a file per line)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and _SIZE.match(value):
        number, unit = _SIZE.match(value).groups()
        size = int(float(number) * _SCALE[(unit or "b")[0].lower()])
    else:
        raise ValueError(f'expected a size (like 512KB, 10MB, 1GB), got "{value}"')
    if size < SMALLEST:
        raise ValueError(f"a log file of {size} bytes is too small (at least 1KB)")
    return size


def format_size(size: int) -> str:
    """The shortest exact spelling, for `robostack config`."""
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)

"""The simulator's log: one timestamped line per event on stdout, flushed at once.

The launcher points stdout at the service's log file, and tests wait for
lines in it, so every line must be there the moment the event happened.
"""

from __future__ import annotations

import sys
from typing import TextIO

from stackkit.clock import Clock, SystemClock


class EventLog:
    """Writes ``2025-11-23 14:05:09.123 gateway_sim: <message>`` lines."""

    def __init__(self, clock: Clock | None = None, stream: TextIO | None = None):
        self._clock = clock or SystemClock()
        self._stream = stream or sys.stdout

    def __call__(self, message: str) -> None:
        now = self._clock.now()
        line = f"{now:%Y-%m-%d %H:%M:%S}.{now.microsecond // 1000:03d} gateway_sim: {message}\n"
        try:
            self._stream.write(line)
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            # Nobody is reading any more (the launcher or a test went away); serving clients matters more.
            pass

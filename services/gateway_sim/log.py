"""The simulator's log: one timestamped line per event on stdout, flushed at once.

The launcher points stdout at the service's log file, and tests wait for
lines in it, so every line must be there the moment the event happened.

Three voices share the stream, as in a real IBC-managed Gateway's output:
the simulator's own lines (``2025-11-23 14:05:09.123 gateway_sim: ...``), IBC's
lines in IBC's own format (``2025-11-23 14:05:09:123 IBC: ...``) and the lines
``ibcstart.sh`` echoes, which carry no timestamp.
"""

from __future__ import annotations

import sys
from typing import TextIO

from stackkit.clock import Clock, SystemClock


class EventLog:
    """Writes ``2025-11-23 14:05:09.123 gateway_sim: <message>`` lines (and IBC's and its script's)."""

    def __init__(self, clock: Clock | None = None, stream: TextIO | None = None):
        self._clock = clock or SystemClock()
        self._stream = stream or sys.stdout

    def __call__(self, message: str) -> None:
        self._write(f"{self._stamp('.')} gateway_sim: {message}")

    def ibc(self, message: str) -> None:
        """A line as IBC's Utils.logToConsole writes it (milliseconds after a colon)."""
        self._write(f"{self._stamp(':')} IBC: {message}")

    def script(self, message: str) -> None:
        """A line as ibcstart.sh echoes it: no timestamp."""
        self._write(message)

    def _stamp(self, millisecond_separator: str) -> str:
        now = self._clock.now()
        return f"{now:%Y-%m-%d %H:%M:%S}{millisecond_separator}{now.microsecond // 1000:03d}"

    def _write(self, line: str) -> None:
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            # Nobody is reading any more (the launcher or a test went away); serving clients matters more.
            pass

"""IB's limits as small pure counters: the message rate (error 100), and rate-limited logging.

With ``--pacing ib`` a client may send 50 messages a second; past that each message is refused
with error 100, and a client still over the limit after three refused seconds is disconnected,
as the real Gateway does. Without it the simulator serves any rate (the server still shares the
event loop fairly between clients).
"""

from __future__ import annotations

MESSAGES_PER_SECOND = 50
VIOLATIONS_BEFORE_DISCONNECT = 3


class MessageRate:
    """Counts messages per one-second window."""

    def __init__(self, enforce: bool, limit: int = MESSAGES_PER_SECOND):
        self.enforce = enforce
        self.limit = limit
        self.count = 0
        self._window = -1
        self._violations = 0

    def admit(self, now: float) -> str:
        """``ok``, ``refuse`` (send error 100) or ``disconnect``."""
        if not self.enforce:
            return "ok"
        window = int(now)
        if window != self._window:
            if self.count > self.limit:
                self._violations += 1
            elif self._window >= 0:
                self._violations = 0
            self._window, self.count = window, 0
        self.count += 1
        if self.count <= self.limit:
            return "ok"
        return "disconnect" if self._violations >= VIOLATIONS_BEFORE_DISCONNECT else "refuse"


class BadInputLog:
    """Logs the first few bad frames in each 10-second window, then one summary line per window."""

    def __init__(self, burst: int = 5, window: float = 10.0):
        self.burst, self.window = burst, window
        self._start = -1e18
        self._shown = 0
        self._suppressed = 0

    def admit(self, line: str, now: float) -> str | None:
        if now - self._start >= self.window:
            summary = self._suppressed
            self._start, self._shown, self._suppressed = now, 0, 0
            if summary:
                line = f"{line} (and {summary} more bad frames not logged in the last {self.window:g}s)"
        if self._shown < self.burst:
            self._shown += 1
            return line
        self._suppressed += 1
        return None

    def flush(self) -> str | None:
        """The summary still owed (at disconnect), if frames were left unlogged."""
        if not self._suppressed:
            return None
        count, self._suppressed = self._suppressed, 0
        return f"bad input: {count} more bad frames not logged (at most {self.burst} every {self.window:g}s)"

"""Whether market data flows, and why not: the trader's readiness beyond "connected". Pure.

A trader can be connected and subscribed and still receive nothing: the Gateway's
market data farm broke (2103), IB is unreachable (1100), a competing live session
holds the data (10197), or a 1101 dropped every subscription. With a
``data_timeout``, no tick for that long while subscribed makes the trader not
ready (its WATCHDOG=1 heartbeats stop and STATUS= says why, with the Gateway's
reason when a notice gave one); the first tick makes it ready again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ibproto.notices import Notice, NoticeBoard

STALLED = "data_stalled"
FLOWING = "data_flowing"


@dataclass
class DataFlow:
    """Tick times (monotonic seconds) and the Gateway's notices (wall-clock seconds)."""

    timeout: float | None  # None: readiness does not depend on ticks
    board: NoticeBoard = field(default_factory=NoticeBoard)
    subscribed_at: float | None = None
    last_tick: float | None = None
    stalled: bool = False

    def subscribed(self, now: float) -> None:
        """Market data was (re)requested: the wait for ticks starts now."""
        self.subscribed_at, self.last_tick = now, None

    def unsubscribed(self) -> None:
        """The session ended: no ticks are expected until the next subscription."""
        self.subscribed_at, self.stalled = None, False

    def tick(self, now: float) -> str | None:
        """A tick arrived; :data:`FLOWING` if that ends a stall."""
        self.last_tick = now
        self.board = self.board.data_flowing()
        if self.stalled:
            self.stalled = False
            return FLOWING
        return None

    def notice(self, notice: Notice, wall: float) -> bool:
        """Take a Gateway notice; True if it changed what is known (worth a status event)."""
        before = self.board.summary()
        self.board = self.board.absorb(notice, wall)
        return self.board.summary() != before or notice.code in (1101, 1102)

    def check(self, now: float) -> str | None:
        """:data:`STALLED` when ticks stopped for ``timeout`` while subscribed (once per stall)."""
        if self.timeout is None or self.subscribed_at is None or self.stalled:
            return None
        if now - self.quiet_since >= self.timeout:
            self.stalled = True
            return STALLED
        return None

    @property
    def quiet_since(self) -> float:
        return self.last_tick if self.last_tick is not None else self.subscribed_at

    def reason(self, now: float) -> str:
        """``no ticks for 42s while subscribed (the Gateway says: market data farm usfarm broken since 14:02:11)``."""
        quiet = f"no ticks for {now - self.quiet_since:.0f}s while subscribed"
        causes = []
        board = self.board
        for farm in board.market_data_farms_broken:
            causes.append(f"market data farm {farm} broken since {_clock(board.farms_broken[farm])}")
        if board.connectivity_lost_since is not None:
            causes.append(f"IB unreachable since {_clock(board.connectivity_lost_since)}")
        if board.competing_since is not None:
            causes.append(f"a competing live session holds the data since {_clock(board.competing_since)}")
        return quiet + (f" (the Gateway says: {'; '.join(causes)})" if causes else "")


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")

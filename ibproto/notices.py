"""What the Gateway's unsolicited notices say about its link to IB, as values. Pure.

A logged-in Gateway tells every API session, with error records of request id -1
(or one per market data request), when its data farms break and come back
(2103/2104 market data, 2105/2106 historical, 2157/2158 security definitions),
when its connection to IB is lost (1100, 2110) and restored (1101: market data
lost, every subscription must be made again; 1102: data kept), when a competing
live session takes the market data (10197), and, on an order, that the API is
read-only (321 with the read-only wording).

:func:`classify` turns one record into a :class:`Notice`; :class:`NoticeBoard`
keeps what is in force and since when. The launcher's Gateway monitor and the
trader both use them, so both tell the same story.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

NoticeKind = Literal["farm", "connectivity", "competing-session", "read-only"]

# code -> (farm kind, connection OK?)
FARM_CODES: dict[int, tuple[str, bool]] = {
    2103: ("market data", False), 2104: ("market data", True),
    2105: ("historical data", False), 2106: ("historical data", True),
    2157: ("security definition", False), 2158: ("security definition", True),
    2107: ("historical data", True), 2108: ("market data", True),  # inactive, available on demand: not broken
}
CONNECTIVITY_LOST_CODES = (1100, 2110)
DATA_LOST = 1101
DATA_KEPT = 1102
COMPETING_SESSION = 10197
READ_ONLY_CODE = 321
_READ_ONLY_WORDS = "read-only"


@dataclass(frozen=True)
class Notice:
    """One notice: ``ok`` is whether it reports a restoration (farm OK, connectivity restored)."""

    kind: NoticeKind
    code: int
    ok: bool
    farm: str | None = None  # "usfarm", "ushmds.nj"...: the name after the colon
    farm_kind: str | None = None  # "market data", "historical data", "security definition"
    data_kept: bool | None = None  # 1101 -> False, 1102 -> True


def classify(code: int, message: str) -> Notice | None:
    """The notice an error record carries, or ``None`` when it is about something else."""
    if code in FARM_CODES:
        farm_kind, ok = FARM_CODES[code]
        name = message.rsplit(":", 1)[1].strip() if ":" in message else ""
        return Notice("farm", code, ok, farm=name or farm_kind, farm_kind=farm_kind)
    if code in CONNECTIVITY_LOST_CODES:
        return Notice("connectivity", code, ok=False)
    if code in (DATA_LOST, DATA_KEPT):
        return Notice("connectivity", code, ok=True, data_kept=code == DATA_KEPT)
    if code == COMPETING_SESSION:
        return Notice("competing-session", code, ok=False)
    if code == READ_ONLY_CODE and _READ_ONLY_WORDS in message.lower():
        return Notice("read-only", code, ok=False)
    return None


@dataclass(frozen=True)
class NoticeBoard:
    """What the notices received so far say is in force, with the time each began (any clock's seconds).

    Immutable: :meth:`absorb` returns the new board, so a snapshot handed out stays true.
    ``competing_since`` ends only when market data flows again (IB sends no "ended"
    notice): the holder calls :meth:`data_flowing` on a tick.
    """

    farms_broken: dict[str, float] = field(default_factory=dict)  # farm name -> since
    farm_kinds: dict[str, str] = field(default_factory=dict)  # farm name -> kind
    connectivity_lost_since: float | None = None
    data_lost_at: float | None = None  # the last 1101: subscriptions made before it get nothing
    competing_since: float | None = None
    read_only: bool = False
    last_code: int | None = None

    def absorb(self, notice: Notice, now: float) -> "NoticeBoard":
        """The board after ``notice`` arrived at ``now``."""
        board = replace(self, last_code=notice.code)
        if notice.kind == "farm":
            broken = dict(self.farms_broken)
            if notice.ok:
                broken.pop(notice.farm, None)
            else:
                broken.setdefault(notice.farm, now)
            return replace(board, farms_broken=broken, farm_kinds={**self.farm_kinds, notice.farm: notice.farm_kind})
        if notice.kind == "connectivity":
            if not notice.ok:
                return replace(board, connectivity_lost_since=self.connectivity_lost_since or now)
            # IB restored the link: the farms come back with it (a 1102 says "All data farms are connected").
            return replace(board, connectivity_lost_since=None, farms_broken={} if notice.data_kept else
                           self.farms_broken, data_lost_at=now if notice.data_kept is False else self.data_lost_at)
        if notice.kind == "competing-session":
            return replace(board, competing_since=self.competing_since or now)
        return replace(board, read_only=True)

    def data_flowing(self) -> "NoticeBoard":
        """Market data arrived: no competing session holds it any more."""
        return self if self.competing_since is None else replace(self, competing_since=None)

    @property
    def market_data_farms_broken(self) -> list[str]:
        return [name for name in self.farms_broken if self.farm_kinds.get(name) == "market data"]

    @property
    def clear(self) -> bool:
        """Nothing in force: every farm connected, IB reachable, no competing session."""
        return not self.farms_broken and self.connectivity_lost_since is None and self.competing_since is None

    def summary(self) -> dict[str, object]:
        """Plain values for a status event or a state file."""
        return {"farms_broken": sorted(self.farms_broken),
                "connectivity": "lost" if self.connectivity_lost_since is not None else "ok",
                "competing_session": self.competing_since is not None, "read_only": self.read_only}

"""What IB's side can do to a logged-in Gateway: data farms break, connectivity drops, another session competes.

Pure state and the notices (error records with request id -1, or one per market
data subscription) a real Gateway sends for each change, in its real wording.
Market data stops flowing while the market data farm is broken, while IB is
unreachable, and while a competing live session holds the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ibproto.codes import say
from services.gateway_sim.actions import DropMarketData, Notify


@dataclass(frozen=True)
class Farm:
    """One data farm and the codes a Gateway sends when its connection breaks and comes back."""

    name: str
    broken_code: int
    ok_code: int

    def notice(self, ok: bool) -> Notify:
        return Notify(*say(self.ok_code if ok else self.broken_code, self.name))


FARMS = {farm.name: farm for farm in (
    Farm("usfarm", 2103, 2104),
    Farm("ushmds", 2105, 2106),
    Farm("secdefnj", 2157, 2158),
)}
FARM_NAMES = tuple(FARMS)
MARKET_DATA_FARM = "usfarm"

# The wording is ibproto.codes' (one home for what the Gateway says); these are the notices as values.
CONNECTIVITY_LOST = Notify(*say(1100))
RESTORED_DATA_LOST = Notify(*say(1101))
RESTORED_DATA_KEPT = Notify(*say(1102, f" All data farms are connected: {'; '.join(FARM_NAMES)}."))
COMPETING_SESSION = Notify(*say(10197), per_subscription=True)


class Conditions:
    """Which farms are broken, whether IB is reachable, whether a competing session holds the data."""

    def __init__(self) -> None:
        self.broken: list[str] = []
        self.connectivity_lost = False
        self.competing = False

    @property
    def data_flowing(self) -> bool:
        """False while subscribers must get no ticks."""
        return MARKET_DATA_FARM not in self.broken and not self.connectivity_lost and not self.competing

    def break_farms(self, names: Iterable[str]) -> list[Notify]:
        """The farms among ``names`` not yet broken break; their 'broken' notices."""
        newly = [name for name in names if name not in self.broken]
        self.broken.extend(newly)
        return [FARMS[name].notice(ok=False) for name in newly]

    def restore_farms(self, names: Iterable[str] | None = None) -> list[Notify]:
        """The broken farms among ``names`` (all when ``None``) are OK again; their 'OK' notices."""
        wanted = set(self.broken if names is None else names)
        restored = [name for name in self.broken if name in wanted]
        self.broken = [name for name in self.broken if name not in wanted]
        return [FARMS[name].notice(ok=True) for name in restored]

    def lose_connectivity(self) -> list[Notify]:
        if self.connectivity_lost:
            return []
        self.connectivity_lost = True
        return [CONNECTIVITY_LOST]

    def restore_connectivity(self, data_kept: bool) -> list[Notify | DropMarketData]:
        if not self.connectivity_lost:
            return []
        self.connectivity_lost = False
        return [RESTORED_DATA_KEPT] if data_kept else [RESTORED_DATA_LOST, DropMarketData()]

    def start_competing(self) -> list[Notify]:
        if self.competing:
            return []
        self.competing = True
        return [COMPETING_SESSION]

    def end_competing(self) -> list[Notify]:
        self.competing = False
        return []

    def for_new_market_data(self) -> list[Notify]:
        """What a market data request made now gets besides its data: 10197 while a competing session holds it."""
        return [COMPETING_SESSION] if self.competing else []

    def greeting(self) -> list[Notify]:
        """What a session that starts its API now hears at once, after the usual farm notices."""
        notices = [FARMS[name].notice(ok=False) for name in self.broken]
        if self.connectivity_lost:
            notices.append(CONNECTIVITY_LOST)
        return notices

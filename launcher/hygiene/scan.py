"""The thin I/O under pre-flight and doctor: read the socket table, the process table, the run state.

Everything here only looks (through :mod:`launcher.process`, the one place that inspects
processes); judging what was seen is :mod:`launcher.hygiene.findings` and
:mod:`launcher.hygiene.verdicts`, on values.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Iterable

from launcher.hygiene.findings import Holder, PortConflict, external_ports, service_port_conflicts
from launcher.process.identity import identify
from launcher.process.membership import GroupTarget, select_group_members, snapshot_processes
from launcher.process.search import MatchedProcess, find_matching_processes
from launcher.process.sockets import ESTABLISHED, LISTEN, SocketRecord, ZombieCount, sockets_on_ports, summarise_zombies
from launcher.stack.resolved import ResolvedService, ResolvedStack
from launcher.state.store import RunState
from launcher.state.interpret import recorded_groups
from stackkit.loopback import is_loopback_host

# A CLOSE_WAIT counts only if it outlives this window: a healthy peer closes its side
# within milliseconds of the client's FIN, a zombie never does. Only paid when a
# zombie-looking socket is present.
ZOMBIE_SETTLE = 1.0
SETTLE_POLL = 0.05

SocketKey = tuple[int, str, str, str]  # port, local, remote, status


@dataclass(frozen=True)
class PortScan:
    """Every TCP socket on the watched ports at one moment, with owners."""

    records: tuple[SocketRecord, ...]

    def listeners(self) -> dict[int, list[Holder]]:
        """Port -> the processes listening on it."""
        found: dict[int, list[Holder]] = {}
        for record in self.records:
            if record.status == LISTEN and record.side == "server":
                holders = found.setdefault(record.port, [])
                if all(holder.pid != record.pid for holder in holders):
                    holders.append(Holder(record.pid, record.command))
        return found

    def zombie_counts(self) -> list[ZombieCount]:
        return list(summarise_zombies(self.records).values())

    def clients(self, port: int) -> list[Holder]:
        """Processes with an established connection to `port` (the API clients of a Gateway)."""
        holders: dict[int | None, Holder] = {}
        for record in self.records:
            if record.port == port and record.side == "client" and record.status == ESTABLISHED:
                holders.setdefault(record.pid, Holder(record.pid, record.command))
        return [holders[pid] for pid in sorted(holders, key=lambda pid: (pid is None, pid or 0))]

    def connections_served(self, port: int) -> int:
        """Established connections the listener of `port` is serving."""
        return sum(1 for record in self.records
                   if record.port == port and record.side == "server" and record.status == ESTABLISHED)


def scan_ports(ports: Iterable[int]) -> PortScan:
    return PortScan(tuple(sockets_on_ports(sorted(set(ports)))))


async def settled_scan(ports: Iterable[int], *, settle: float = ZOMBIE_SETTLE) -> PortScan:
    """A scan whose zombie sockets are only those that persisted for `settle` seconds.

    A socket caught in CLOSE_WAIT between a client's FIN and the server's own close
    (a client that just disconnected, a leftover just stopped) is not a zombie; one
    still there a second later is. Returns at once when nothing looks like a zombie.
    """
    wanted = sorted(set(ports))
    first = scan_ports(wanted)
    suspects = _zombie_keys(first)
    if not suspects:
        return first
    deadline = time.monotonic() + settle
    latest = first
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_POLL)  # polling the socket table with a deadline; there is no event to wait on
        latest = scan_ports(wanted)
        suspects &= _zombie_keys(latest)
        if not suspects:
            break
    return PortScan(tuple(record for record in latest.records
                          if not record.is_zombie or record.pid is None or _key(record) in suspects))


def _key(record: SocketRecord) -> SocketKey:
    return record.port, str(record.local), str(record.remote), record.status


def _zombie_keys(scan: PortScan) -> set[SocketKey]:
    """Zombie-looking sockets with an owner: only those can make pre-flight refuse or doctor blame a process."""
    return {_key(record) for record in scan.records if record.is_zombie and record.pid is not None}


def foreign_port_holders(service: ResolvedService, own: GroupTarget) -> list[PortConflict]:
    """After a (re)start: the service's declared ports held by a process outside its own tree.

    A squatter that took the port while the service was down (SO_REUSEADDR) answers its
    probe as well as the service would; only who holds the socket tells them apart.
    Judged by pre-flight's own rule (:func:`~launcher.hygiene.findings.service_port_conflicts`).
    """
    if not service.ports:
        return []
    listeners = scan_ports(service.ports).listeners()
    if not listeners:
        return []
    members = select_group_members(snapshot_processes(), own).everyone
    return service_port_conflicts(service, listeners, spared_pids=members)


def foreign_listener(host: str, port: int, own: GroupTarget) -> Holder | None:
    """A process outside `own`'s tree listening on `port` of this machine (None if none: ours, nothing
    listens, or `host` is another machine, whose processes robostack does not own).

    Asked before robostack sends an IBC command to a Gateway: a command server on that port that
    belongs to another process (another stack's Gateway, a squatter) must never receive a STOP or
    RESTART meant for ours.
    """
    if not is_loopback_host(host):
        return None
    holders = scan_ports([port]).listeners().get(port, [])
    if not holders:
        return None
    members = select_group_members(snapshot_processes(), own).everyone
    return next((holder for holder in holders if holder.pid not in members), None)


def external_holder_pids(stack: ResolvedStack, scan: PortScan) -> set[int]:
    """Processes listening on an external service's ports: never stopped, never stale."""
    outside = external_ports(stack)
    return {holder.pid for port, holders in scan.listeners().items() if port in outside
            for holder in holders if holder.pid is not None}


def live_groups(state: RunState | None) -> list[tuple[str, GroupTarget, list[int]]]:
    """Recorded service groups with live members: (service, target, member pids), dependents first."""
    if state is None:
        return []
    snapshot = snapshot_processes()
    groups = []
    for name, target in recorded_groups(state):
        members = select_group_members(snapshot, target).everyone
        if members:
            groups.append((name, target, sorted(members)))
    return groups


def find_stale(stack: ResolvedStack, *, exclude_pids: Iterable[int] = ()) -> list[MatchedProcess]:
    """Processes matching a managed service's `stale` patterns (never an external service's).

    robostack never stops an external service, so its patterns, if any, are not used.
    The search itself spares this process and its ancestors.
    """
    patterns = {name: list(service.spec.stale) for name, service in stack.services.items()
                if service.spec.stale and not service.external}
    return find_matching_processes(patterns, exclude_pids=exclude_pids) if patterns else []


def process_ages(pids: Iterable[int], now: float | None = None) -> dict[int, float]:
    """Seconds since each live pid started (pids that vanished are left out)."""
    moment = time.time() if now is None else now
    ages = {}
    for pid in pids:
        identity = identify(pid)
        if identity is not None:
            ages[pid] = max(0.0, moment - identity.create_time)
    return ages

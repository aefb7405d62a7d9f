"""TCP sockets on the stack's declared ports: who listens, and the CLOSE_WAIT / FIN_WAIT_2 zombies.

The seeds spent hours with netstat finding that the Gateway held sockets in CLOSE_WAIT
(the peer closed, the Gateway never did) while the trader's side sat in FIN_WAIT_2,
and that only a Gateway restart cleared them. This module reads the same table through
psutil (no lsof, no netstat) and attributes each socket to its owner.

Sides: a socket whose local port is the declared port is the "server" side; one whose
remote port is the declared port is the "client" side. A zombie is CLOSE_WAIT on the
server side (the service never closed its end) or FIN_WAIT_2 on the client side (the
client closed and waits for the service to). The owner's pid is None when the socket
belongs to another user's process we may not inspect, or to no process at all (an
orphaned FIN_WAIT_2 after the client closed its descriptor).

Statuses use psutil's spelling (``FIN_WAIT2``); see the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Literal, NamedTuple

import psutil

LISTEN = psutil.CONN_LISTEN
ESTABLISHED = psutil.CONN_ESTABLISHED
CLOSE_WAIT = psutil.CONN_CLOSE_WAIT
FIN_WAIT_2 = psutil.CONN_FIN_WAIT2
TIME_WAIT = psutil.CONN_TIME_WAIT

Side = Literal["server", "client"]


class Endpoint(NamedTuple):
    """One end of a socket."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SocketRecord:
    """One TCP socket touching a declared `port`, with its owner (pid None if unknown)."""

    port: int
    local: Endpoint
    remote: Endpoint | None
    status: str
    pid: int | None
    command: str | None
    side: Side

    @property
    def is_zombie(self) -> bool:
        return is_zombie(self)


@dataclass(frozen=True)
class ZombieCount:
    """Zombie sockets on one port held by one owner."""

    port: int
    pid: int | None
    command: str | None
    close_wait: int = 0
    fin_wait_2: int = 0

    @property
    def total(self) -> int:
        return self.close_wait + self.fin_wait_2


def is_zombie(record: SocketRecord) -> bool:
    """CLOSE_WAIT on the server side, or FIN_WAIT_2 on the client side."""
    return ((record.side == "server" and record.status == CLOSE_WAIT)
            or (record.side == "client" and record.status == FIN_WAIT_2))


def records_for_ports(connections: Iterable[Any], ports: Iterable[int],
                      command_of: Callable[[int], str | None] = lambda pid: None) -> list[SocketRecord]:
    """Turn psutil-style connections (laddr, raddr, status, pid) into records for `ports`.

    Pure apart from `command_of`, which names a pid's command line.
    """
    wanted = set(ports)
    records = []
    for connection in connections:
        local = _endpoint(connection.laddr)
        if local is None:
            continue
        remote = _endpoint(connection.raddr)
        if local.port in wanted:
            port, side = local.port, "server"
        elif remote is not None and remote.port in wanted:
            port, side = remote.port, "client"
        else:
            continue
        pid = connection.pid
        records.append(SocketRecord(port, local, remote, connection.status, pid,
                                    command_of(pid) if pid is not None else None, side))
    records.sort(key=lambda record: (record.port, record.side, record.status, str(record.local)))
    return records


def sockets_on_ports(ports: Iterable[int]) -> list[SocketRecord]:
    """Every TCP socket (IPv4 and IPv6) with a declared port at either end."""
    return records_for_ports(psutil.net_connections(kind="tcp"), ports, _CommandCache())


def listeners_on_ports(ports: Iterable[int]) -> list[SocketRecord]:
    """Sockets listening on any of `ports` (any address), with their owner's pid and command."""
    return [record for record in sockets_on_ports(ports) if record.status == LISTEN and record.side == "server"]


def listeners_on_port(port: int) -> list[SocketRecord]:
    """Sockets listening on `port` (any address), with their owner's pid and command."""
    return listeners_on_ports([port])


def zombie_sockets(ports: Iterable[int]) -> list[SocketRecord]:
    """CLOSE_WAIT sockets on the server side and FIN_WAIT_2 on the client side of `ports`."""
    return [record for record in sockets_on_ports(ports) if is_zombie(record)]


def summarise_zombies(records: Iterable[SocketRecord]) -> dict[tuple[int, int | None], ZombieCount]:
    """Count zombie sockets per (port, owner pid); non-zombie records are ignored."""
    counts: dict[tuple[int, int | None], ZombieCount] = {}
    for record in records:
        if not is_zombie(record):
            continue
        key = (record.port, record.pid)
        current = counts.get(key) or ZombieCount(record.port, record.pid, record.command)
        if record.status == CLOSE_WAIT:
            counts[key] = replace(current, close_wait=current.close_wait + 1)
        else:
            counts[key] = replace(current, fin_wait_2=current.fin_wait_2 + 1)
    return counts


def _endpoint(address: Any) -> Endpoint | None:
    """psutil gives () for a missing address and an (ip, port) pair otherwise."""
    if not address:
        return None
    return Endpoint(address[0], address[1])


class _CommandCache:
    """Looks up each pid's command line once per scan; None if it vanished or is not ours to read."""

    def __init__(self) -> None:
        self._known: dict[int, str | None] = {}

    def __call__(self, pid: int) -> str | None:
        if pid not in self._known:
            self._known[pid] = command_line(pid)
        return self._known[pid]


def command_line(pid: int) -> str | None:
    """The process's arguments joined with spaces (its name if it has none), or None if gone."""
    try:
        process = psutil.Process(pid)
        arguments = process.cmdline()
        return " ".join(arguments) if arguments else process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None

"""What pre-flight and doctor find on the stack's ports, as values, and the rules that judge them.

Pure: the socket tables and process searches are read elsewhere (:mod:`launcher.hygiene.scan`);
here a scan's values become port conflicts and zombie findings, each with the one-line
sentence a person acts on. The sentences repeat the seeds' own findings, because those
took hours of netstat and lsof to reach: "Gateway (pid N) holds K CLOSE_WAIT sockets on
port P; they clear only when Gateway restarts".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

from launcher.process.sockets import ZombieCount
from launcher.stack.resolved import ResolvedService, ResolvedStack
from stackkit.loopback import is_loopback_host

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
COMMAND_WIDTH = 80  # commands are shortened to this many characters in one-line messages

ZombieKind = Literal["external", "managed", "stopping", "orphaned", "other"]


@dataclass(frozen=True)
class Holder:
    """A process holding a socket: pid None when the kernel shows no owner we may read."""

    pid: int | None
    command: str | None = None

    def describe(self) -> str:
        """``pid 4242 (python -m services.gateway_sim --port 4002)`` or a sentence for an unknown owner."""
        if self.pid is None:
            return "a process robostack cannot see (another user's?)"
        return f"pid {self.pid} ({short_command(self.command)})" if self.command else f"pid {self.pid}"


@dataclass(frozen=True)
class PortConflict:
    """A managed service's declared port held by processes robostack did not start."""

    service: str
    port: int
    holders: tuple[Holder, ...]

    def describe(self) -> str:
        """The refusal sentence: the port, who holds it, and how to fix it."""
        held_by = ", ".join(holder.describe() for holder in self.holders)
        pids = " ".join(str(holder.pid) for holder in self.holders if holder.pid is not None)
        stop_it = f"stop it (`kill {pids}`)" if pids else "stop it"
        return (f"port {self.port} of service '{self.service}' is held by {held_by}, which robostack did not "
                f"start and which matches none of '{self.service}'s stale patterns; {stop_it}, add a `stale` "
                f"pattern for it, or move '{self.service}' to another port")


@dataclass(frozen=True)
class ZombieFinding:
    """Zombie sockets (CLOSE_WAIT server side, FIN_WAIT_2 client side) on one port, one owner."""

    service: str
    port: int
    owner: Holder
    close_wait: int
    fin_wait_2: int
    kind: ZombieKind
    label: str = ""  # how to call the owner in a sentence ("Gateway", "gateway", "pid 12")

    @property
    def total(self) -> int:
        return self.close_wait + self.fin_wait_2

    @property
    def blocks_up(self) -> bool:
        """An external service holding CLOSE_WAIT sockets: only its restart clears them."""
        return self.kind == "external" and self.close_wait > 0

    def counts(self) -> str:
        """``4 CLOSE_WAIT and 2 FIN_WAIT_2 sockets``."""
        parts = [f"{count} {state}" for count, state in ((self.close_wait, "CLOSE_WAIT"),
                                                         (self.fin_wait_2, "FIN_WAIT_2")) if count]
        noun = "socket" if self.total == 1 else "sockets"
        return f"{' and '.join(parts)} {noun}"

    def describe(self) -> str:
        """The finding in one line, saying what will clear it."""
        who = self.label or self.owner.describe()
        if self.kind == "external" and self.close_wait:
            pid = f" (pid {self.owner.pid})" if self.owner.pid is not None else ""
            return (f"{who}{pid} holds {self.close_wait} CLOSE_WAIT "
                    f"{'socket' if self.close_wait == 1 else 'sockets'} on port {self.port}; "
                    f"they clear only when {who} restarts")
        if self.kind == "orphaned":
            return f"port {self.port}: {self.counts()} with no owner we can see ({self._orphan_reason()})"
        if self.kind == "managed":
            return (f"{who} (pid {self.owner.pid}) holds {self.counts()} on port {self.port}; "
                    f"restarting '{self.service}' clears them")
        if self.kind == "stopping":
            return (f"{self.owner.describe()} holds {self.counts()} on port {self.port}; "
                    "it is being stopped, which clears them")
        return f"{self.owner.describe()} holds {self.counts()} on port {self.port} ('{self.service}')"


    def _orphan_reason(self) -> str:
        reasons = []
        if self.close_wait:
            reasons.append("CLOSE_WAIT: connections the listener never accepted, or another user's")
        if self.fin_wait_2:
            reasons.append("FIN_WAIT_2: clients that closed and left; the kernel drops them within a minute")
        return "; ".join(reasons)


@dataclass
class Assessment:
    """Pre-flight's judgement of a port scan: lines to report, and reasons to refuse `up`."""

    notes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    conflicts: list[PortConflict] = field(default_factory=list)
    zombies: list[ZombieFinding] = field(default_factory=list)


def short_command(command: str | None, width: int = COMMAND_WIDTH) -> str:
    """A command line cut to `width` characters, so a sentence stays one line."""
    if not command:
        return "?"
    # A `python -c` script spans lines; absolute paths push the telling arguments out of view.
    command = " ".join(_base_name(word) for word in command.split())
    return command if len(command) <= width else command[: width - 3] + "..."


def _base_name(word: str) -> str:
    return word.rsplit("/", 1)[-1] if word.startswith("/") and not word.endswith("/") else word


def probe_host(service: ResolvedService) -> str:
    """Where a service's tcp or ib_api check connects (its `host:`), else this machine."""
    health = service.health
    if health is not None and health.kind in ("tcp", "ib_api"):
        return health.check.host
    return service.spec.host or "127.0.0.1"


def is_remote(service: ResolvedService) -> bool:
    """An external service on another machine: its sockets and processes are not this machine's to see."""
    return service.external and not is_loopback_host(probe_host(service))


def remote_ports(service: ResolvedService) -> list[int]:
    """A remote service's ports: its check's port, then any it declares."""
    health = service.health
    ports = [health.check.port] if health is not None and health.kind in ("tcp", "ib_api") else []
    return ports + [port for port in service.ports if port not in ports]


def remote_notes(stack: ResolvedStack) -> list[str]:
    """What pre-flight cannot check for a service on another machine, said plainly (one line each)."""
    notes = []
    for name, service in stack.services.items():
        if is_remote(service):
            host, ports = probe_host(service), ", ".join(map(str, remote_ports(service))) or "none declared"
            notes.append(f"'{name}' runs on {host}: its ports ({ports}) and processes are on that machine, so "
                         f"foreign port holders, zombie sockets and stale processes cannot be checked from here; "
                         f"only its probe connects to {host}")
    return notes


def watched_ports(service: ResolvedService) -> list[int]:
    """The ports pre-flight and doctor look at for a service.

    Its declared `ports`; for an external service also the port of its tcp or ib_api
    check on this machine (a hand-started Gateway is often declared only by its check).
    None for a service on another machine: its ports are not on this one.
    """
    if is_remote(service):
        return []
    ports = list(service.ports)
    health = service.health
    if service.external and health is not None and health.kind in ("tcp", "ib_api"):
        check = health.check
        if check.host in LOCAL_HOSTS and check.port not in ports:
            ports.append(check.port)
    return ports


def port_owners(stack: ResolvedStack) -> dict[int, str]:
    """Each watched port and the service that declares it (the first one, in file order)."""
    owners: dict[int, str] = {}
    for name, service in stack.services.items():
        for port in watched_ports(service):
            owners.setdefault(port, name)
    return owners


def external_ports(stack: ResolvedStack) -> set[int]:
    return {port for service in stack.services.values() if service.external for port in watched_ports(service)}


def owner_label(service: ResolvedService) -> str:
    """How sentences name a service's process: "Gateway" for a TWS API service, else its name."""
    if service.health is not None and service.health.kind == "ib_api":
        return "Gateway"
    return f"'{service.name}'"


def find_port_conflicts(stack: ResolvedStack, listeners: Mapping[int, Iterable[Holder]], *,
                        spared_pids: Iterable[int] = ()) -> list[PortConflict]:
    """Managed services' ports held by processes robostack did not start.

    `listeners` maps a port to whoever listens on it; `spared_pids` are processes that
    are ours or about to be stopped (leftovers, stale matches). External services'
    ports are expected to be held by someone else and never conflict.
    """
    spared = set(spared_pids)
    return [conflict for service in stack.services.values() if not service.external
            for conflict in service_port_conflicts(service, listeners, spared_pids=spared)]


def service_port_conflicts(service: ResolvedService, listeners: Mapping[int, Iterable[Holder]], *,
                           spared_pids: Iterable[int] = ()) -> list[PortConflict]:
    """One service's declared ports held by processes other than `spared_pids` (pre-flight, and after a start)."""
    spared = set(spared_pids)
    conflicts = []
    for port in service.ports:
        foreign = _unique(holder for holder in listeners.get(port, ()) if holder.pid not in spared)
        if foreign:
            conflicts.append(PortConflict(service.name, port, foreign))
    return conflicts


def classify_zombies(stack: ResolvedStack, counts: Iterable[ZombieCount], *,
                     managed_pids: Mapping[int, str] | None = None,
                     stopping_pids: Iterable[int] = ()) -> list[ZombieFinding]:
    """Turn zombie counts per (port, owner) into findings saying whose they are and what clears them.

    `managed_pids` maps the live processes of a running stack to their service;
    `stopping_pids` are processes pre-flight is about to stop.
    """
    owners = port_owners(stack)
    outside = external_ports(stack)
    managed = dict(managed_pids or {})
    stopping = set(stopping_pids)
    findings = []
    for count in sorted(counts, key=lambda c: (c.port, c.pid is None, c.pid or 0)):
        service_name = owners.get(count.port, "?")
        service = stack.services.get(service_name)
        owner = Holder(count.pid, count.command)
        kind, label = _zombie_kind(count, service, managed, stopping, outside)
        findings.append(ZombieFinding(service_name, count.port, owner, count.close_wait, count.fin_wait_2,
                                      kind, label))
    return findings


def _zombie_kind(count: ZombieCount, service: ResolvedService | None, managed: Mapping[int, str],
                 stopping: set[int], outside: set[int]) -> tuple[ZombieKind, str]:
    if count.pid is None:
        return "orphaned", ""
    if count.pid in stopping:
        return "stopping", ""
    if count.pid in managed:
        return "managed", f"'{managed[count.pid]}'"
    if count.port in outside and count.close_wait and service is not None:
        return "external", owner_label(service)
    return "other", ""


def assess(stack: ResolvedStack, listeners: Mapping[int, Iterable[Holder]], zombie_counts: Iterable[ZombieCount],
           *, ignore_zombies: bool, spared_pids: Iterable[int] = (), stopping_pids: Iterable[int] = ()) -> Assessment:
    """Pre-flight's verdict on the ports: what to report, and why `up` must refuse (if it must)."""
    spared = set(spared_pids) | set(stopping_pids)
    result = Assessment()
    result.conflicts = find_port_conflicts(stack, listeners, spared_pids=spared)
    result.refusals.extend(conflict.describe() for conflict in result.conflicts)
    result.zombies = classify_zombies(stack, zombie_counts, stopping_pids=stopping_pids)
    result.notes.extend(remote_notes(stack))
    for finding in result.zombies:
        if not finding.blocks_up:
            result.notes.append(finding.describe())
        elif ignore_zombies:
            result.notes.append(f"{finding.describe()} (starting anyway: --ignore-zombies)")
        else:
            result.refusals.append(f"{finding.describe()}: {restart_advice(finding.label)}, "
                                   "or start anyway with `robostack up --ignore-zombies`")
    return result


def restart_advice(label: str) -> str:
    """``restart IB Gateway (and log in again)`` for a Gateway, ``restart 'name'`` otherwise."""
    return "restart IB Gateway (and log in again)" if label == "Gateway" else f"restart {label}"


def _unique(holders: Iterable[Holder]) -> tuple[Holder, ...]:
    seen: dict[int | None, Holder] = {}
    for holder in holders:
        seen.setdefault(holder.pid, holder)
    return tuple(seen[pid] for pid in sorted(seen, key=lambda pid: (pid is None, pid or 0)))

"""What doctor observes about one service, as plain values, and the thin I/O that observes it.

:class:`ServiceFacts` is everything the seeds' author gathered by hand with ps, netstat,
lsof and hand-written socket scripts: is the process there, who listens on the port, how
fast TCP connects, what the TWS API handshake and a session say, the CLOSE_WAIT /
FIN_WAIT_2 sockets and their owners, stale processes, the log's last errors.
:func:`collect_facts` gathers them with no side effects: nothing is signalled, and every
connection is closed so that neither side keeps a socket. Judging the facts is pure
(:mod:`launcher.hygiene.verdicts`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from launcher.hygiene.connect import TcpConnect, tcp_connect
from launcher.hygiene.findings import (Holder, ZombieFinding, classify_zombies, is_remote, owner_label, probe_host,
                                       remote_ports, watched_ports)
from launcher.hygiene.gateway_facts import LadderSoFar, gateway_condition, ladder_so_far, with_monitors_view
from launcher.hygiene.scan import (PortScan, external_holder_pids, find_stale, live_groups, process_ages,
                                   settled_scan)
from launcher.gateway.condition import GatewayCondition
from launcher.logwriter.files import status_path
from launcher.logwriter.format import split_stamp
from launcher.logwriter.status import read_writer_status
from launcher.output.logs import last_lines
from launcher.probes.base import ProbeContext, ProbeResult, run_probe
from launcher.probes.ib_api import IbApiDiagnosis, diagnose_ib_api
from launcher.probes.registry import PROBES  # noqa: F401 - imported now, not mid-measurement (run_probe imports it late)
from launcher.process.search import MatchedProcess
from launcher.stack.resolved import ResolvedService, ResolvedStack
from launcher.state.events import last_events
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, ServiceRecord, read_run_state
from launcher.state.interpret import live_supervisor

DEFAULT_TIMEOUT = 2.0  # for services without a health check
LOG_LINES_SCANNED = 200
LOG_ERRORS_SHOWN = 3
LADDER_LOOKBACK = 500  # timeline events read back for the Gateway ladder's steps (a trouble writes a few dozen)
ERROR_LOOKING = re.compile(r"(?i)\b(error|errors|exception|traceback|fatal|critical|failed|failure|refused|denied|"
                           r"timed out|timeout|cannot|can't|unable|warning)\b")


@dataclass
class ServiceFacts:
    """Everything observed about one service (values only: the verdict is computed from these)."""

    name: str
    external: bool
    probe_kind: str | None
    ports: list[int]
    label: str = ""  # "Gateway" for a TWS API service, else the quoted name
    stack_running: bool = False  # a live supervisor holds the stack's lock
    has_run_state: bool = False
    record: ServiceRecord | None = None  # what the run state says about this service
    managed_pids: list[int] = field(default_factory=list)  # live processes of its recorded group
    listeners: dict[int, list[Holder]] = field(default_factory=dict)
    ages: dict[int, float] = field(default_factory=dict)  # pid -> seconds since it started
    tcp: dict[int, TcpConnect] = field(default_factory=dict)
    ib_api: IbApiDiagnosis | None = None
    probe_timeout: float = 0.0
    probe: ProbeResult | None = None  # the configured probe, when it is not ib_api
    probe_skipped: str | None = None  # why the configured probe could not run from here
    zombies: list[ZombieFinding] = field(default_factory=list)
    clients: dict[int, list[Holder]] = field(default_factory=dict)  # established clients per port
    served: dict[int, int] = field(default_factory=dict)  # established connections the listener serves
    stale: list[MatchedProcess] = field(default_factory=list)
    log_path: str | None = None
    log_errors: list[str] = field(default_factory=list)
    log_writer: dict | None = None  # the log writer's status record (launcher.logwriter.status)
    host: str = "127.0.0.1"  # where its probe connects
    remote: bool = False  # an external service on another machine: no local socket or process checks
    remote_ports: list[int] = field(default_factory=list)  # its ports there (connected to, never scanned)
    gateway: GatewayCondition | None = None  # a TWS API service's condition (login phase, notices, maintenance)
    ibc_address: str | None = None  # IBC's command server, when the stack declares one
    second_factor_timeout: float = 180.0
    ladder: LadderSoFar | None = None  # what the live supervisor did about the Gateway's condition

    @property
    def managed_alive(self) -> bool:
        return bool(self.managed_pids)

    @property
    def managed_pid(self) -> int | None:
        return self.record.pid if self.record is not None and self.managed_alive else None


async def collect_facts(stack: ResolvedStack, paths: StatePaths, names: list[str]) -> list[ServiceFacts]:
    """Observe the named services: network probes first, then one look at the socket and process tables."""
    state = read_run_state(paths)
    running = _supervisor_alive(paths, state)
    groups = {name: pids for name, _, pids in live_groups(state)}
    facts = [_initial_facts(stack.services[name], state, running, groups.get(name, [])) for name in names]
    # Bare connects first and on their own, so their timing is not inflated by probes sharing the loop.
    await asyncio.gather(*(_connect(f, port, _timeout(stack.services[f.name])) for f in facts
                           for port in f.ports + f.remote_ports))
    await asyncio.gather(*(_run_probe(stack.services[f.name], f, paths) for f in facts))
    # After the probes, so the table shows what the services hold, not our own connections.
    ports = sorted({port for service in stack.services.values() for port in watched_ports(service)})
    scan = await settled_scan(ports)
    managed = {pid: name for name, pids in groups.items() for pid in pids}
    spared = set(managed) | external_holder_pids(stack, scan)
    stale = find_stale(stack, exclude_pids=spared)
    zombies = classify_zombies(stack, scan.zombie_counts(), managed_pids=managed)
    for service_facts in facts:
        service = stack.services[service_facts.name]
        _add_table_facts(service_facts, scan, zombies, stale)
        service_facts.log_path, service_facts.log_errors = _log_errors(paths, service)
        service_facts.log_writer = _log_writer(service_facts.log_path)
        if service_facts.label == "Gateway":
            log_path = Path(service_facts.log_path) if service_facts.log_path else None
            own = gateway_condition(service, service_facts.ib_api, log_path=log_path,
                                    process_running=None if service.external else service_facts.managed_alive)
            recorded = service_facts.record.condition if running and service_facts.record is not None else None
            service_facts.gateway = with_monitors_view(own, recorded)
            if recorded is not None:
                service_facts.ladder = _ladder(paths, service.name)
    return facts


def _supervisor_alive(paths: StatePaths, state: RunState | None) -> bool:
    return live_supervisor(paths, state) is not None


def _initial_facts(service: ResolvedService, state: RunState | None, running: bool,
                   managed_pids: list[int]) -> ServiceFacts:
    health = service.health
    record = state.services.get(service.name) if state is not None else None
    host = probe_host(service)
    remote = is_remote(service)
    ibc = service.spec.ibc
    return ServiceFacts(name=service.name, external=service.external, probe_kind=health.kind if health else None,
                        ports=watched_ports(service), label=owner_label(service), stack_running=running,
                        has_run_state=state is not None, record=record,
                        managed_pids=[] if service.external else managed_pids,
                        probe_timeout=health.timeout if health else 0.0, host=host, remote=remote,
                        remote_ports=remote_ports(service) if remote else [],
                        ibc_address=f"{ibc.host}:{ibc.command_port}" if ibc else None,
                        second_factor_timeout=ibc.second_factor_timeout if ibc else 180.0)


def _timeout(service: ResolvedService) -> float:
    return service.health.timeout if service.health is not None else DEFAULT_TIMEOUT


async def _run_probe(service: ResolvedService, facts: ServiceFacts, paths: StatePaths) -> None:
    """The configured probe; ib_api always with a session, on the check's own client id."""
    health = service.health
    if health is None:
        return
    if not service.external and not facts.managed_alive:
        # Nothing of ours to probe; probing a stranger on our port could only disturb it.
        facts.probe_skipped = "not run: the service is not running"
        return
    if health.kind == "ib_api":
        check = health.check
        await _diagnose(facts, check.host, check.port, health.timeout, check.client_id)
    else:
        await _run_configured_probe(service, facts, paths)


async def _diagnose(facts: ServiceFacts, host: str, port: int, timeout: float, client_id: int) -> None:
    facts.ib_api = await diagnose_ib_api(host, port, timeout=timeout, session=True, client_id=client_id)


async def _connect(facts: ServiceFacts, port: int, timeout: float) -> None:
    facts.tcp[port] = await tcp_connect(facts.host, port, timeout=timeout)


async def _run_configured_probe(service: ResolvedService, facts: ServiceFacts, paths: StatePaths) -> None:
    health = service.health
    if health.kind == "notify":
        facts.probe_skipped = "READY=1 / WATCHDOG=1 reach only the supervisor; its last probe"
        return
    log_path = paths.current_log_target(service.name)
    context = ProbeContext(service_name=service.name, log_path=log_path if log_path and log_path.exists() else None,
                           cwd=service.cwd, env=dict(service.env), command=service.probe_argv)
    facts.probe = await run_probe(health, context)


def _add_table_facts(facts: ServiceFacts, scan: PortScan, zombies: list[ZombieFinding],
                     stale: list[MatchedProcess]) -> None:
    listeners = scan.listeners()
    facts.listeners = {port: listeners.get(port, []) for port in facts.ports}
    facts.zombies = [finding for finding in zombies if finding.port in facts.ports]
    facts.clients = {port: scan.clients(port) for port in facts.ports}
    facts.served = {port: scan.connections_served(port) for port in facts.ports}
    facts.stale = [match for match in stale if match.service == facts.name]
    pids = {holder.pid for holders in facts.listeners.values() for holder in holders if holder.pid is not None}
    if facts.managed_pid is not None:
        pids.add(facts.managed_pid)
    facts.ages = process_ages(pids)


def _log_errors(paths: StatePaths, service: ResolvedService) -> tuple[str | None, list[str]]:
    """The service's current log and its last error-looking lines (external services have no log)."""
    if service.external:
        return None, []
    target = paths.current_log_target(service.name)
    if target is None or not target.exists():
        return None, []
    return str(target), error_lines(last_lines(target, LOG_LINES_SCANNED))


def _ladder(paths: StatePaths, name: str) -> LadderSoFar | None:
    """The ladder's steps for `name` in the timeline's latest events (an unreadable timeline: none)."""
    try:
        return ladder_so_far(last_events(paths.events, LADDER_LOOKBACK), name)
    except OSError:
        return None


def _log_writer(log_path: str | None) -> dict | None:
    """The status record of the writer of the current log: does the log still get written?"""
    return read_writer_status(status_path(log_path)) if log_path is not None else None


def error_lines(lines: list[str], count: int = LOG_ERRORS_SHOWN) -> list[str]:
    """The last `count` lines that look like errors, as the service wrote them (time stamps cut off; pure)."""
    texts = (split_stamp(line.encode("utf-8", errors="surrogateescape"))[1].decode("utf-8", errors="replace")
             for line in lines)
    return [text.strip() for text in texts if ERROR_LOOKING.search(text)][-count:]

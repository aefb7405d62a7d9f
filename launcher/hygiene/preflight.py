"""Pre-flight: before `up` starts anything, clear what earlier runs left and refuse what must not be touched.

The supervisor has already taken the stack's lock and stopped the leftovers recorded in
its run state (step 1 of issue 4). :func:`run_preflight` does the rest, in this order:

1b. each `stale` pattern is tried on the process table: one matching robostack itself,
   its shell, any shell or init, or more than a handful of processes is refused with
   file, line and field (:mod:`launcher.hygiene.stale_check`); and a stale match or port
   holder that belongs to another stack of this user is a refusal naming that stack
   (:mod:`launcher.hygiene.other_stacks`). Nothing has been stopped at that point;
2. processes matching a managed service's `stale` patterns (same user; never this
   process, its ancestors, or whoever holds an external service's port) are stopped the
   way the service itself would be: its stop signal, its grace, then SIGKILL. Each is
   reported with its pid, command, the pattern it matched and what was done;
3. a managed service's port still held afterwards belongs to a process robostack did not
   start and may not stop: `up` refuses, naming port, pid and command, and leaves it be;
4. CLOSE_WAIT / FIN_WAIT_2 sockets on the watched ports are counted per owner; an
   external Gateway holding CLOSE_WAIT sockets refuses `up` (only its restart clears
   them) unless ``--ignore-zombies``.

:func:`plan_preflight` makes the same judgement without stopping anything, for
``up --dry-run``.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Callable, Iterable

from launcher.errors import PreflightRefused
from launcher.hygiene.findings import Assessment, assess, short_command, watched_ports
from launcher.hygiene.other_stacks import candidate_pids, claims_of_other_stacks, conflict_refusals
from launcher.hygiene.scan import PortScan, external_holder_pids, find_stale, live_groups, scan_ports, settled_scan
from launcher.hygiene.stale_check import check_stale_patterns
from launcher.process.identity import ProcessIdentity
from launcher.process.membership import select_tree, snapshot_processes
from launcher.process.search import MatchedProcess
from launcher.process.stop import StopReport, stop_processes
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.paths import StatePaths
from launcher.state.store import StackLock, read_run_state
from launcher.supervise.reporter import Reporter

Note = Callable[[str], None]


@dataclass
class Leftover:
    """A service group an earlier run recorded and that still has live processes."""

    service: str
    leader_pid: int
    pids: list[int]


@dataclass
class PreflightPlan:
    """What `up` would do before starting anything (``up --dry-run``)."""

    running_supervisor: int | None = None
    leftovers: list[Leftover] = field(default_factory=list)
    stale: list[MatchedProcess] = field(default_factory=list)
    assessment: Assessment = field(default_factory=Assessment)
    conflicts: list[str] = field(default_factory=list)  # processes of another stack that `up` would meet

    @property
    def would_refuse(self) -> bool:
        return self.running_supervisor is not None or bool(self.assessment.refusals) or bool(self.conflicts)


def all_watched_ports(stack: ResolvedStack) -> list[int]:
    return sorted({port for service in stack.services.values() for port in watched_ports(service)})


async def run_preflight(stack: ResolvedStack, paths: StatePaths, *, reporter: Reporter,
                        ignore_zombies: bool = False) -> None:
    """Stop stale processes, then refuse (PreflightRefused) on a foreign port holder or external zombies.

    Findings go to `reporter.note`, secrets masked (they quote other processes' command
    lines). `paths` is part of the supervisor's hook contract; the run state's leftovers
    were already stopped by the supervisor, so it is not read here.
    """
    redactor = Redactor.for_stack(stack)

    def note(text: str) -> None:
        reporter.note(redactor.mask(text))

    ports = all_watched_ports(stack)
    check_stale_patterns(stack)
    before = scan_ports(ports)
    spared = external_holder_pids(stack, before)
    stale = find_stale(stack, exclude_pids=spared)
    conflicts = other_stack_conflicts(stack, paths, stale, before)
    if conflicts:
        raise PreflightRefused(redactor.mask(refusal_message(conflicts)))
    await stop_stale_processes(stack, stale, note)
    scan = await settled_scan(ports)
    result = assess(stack, scan.listeners(), scan.zombie_counts(), ignore_zombies=ignore_zombies)
    for finding in result.notes:
        note(f"pre-flight: {finding}")
    if result.refusals:
        raise PreflightRefused(redactor.mask(refusal_message(result.refusals)))
    if not stale and not result.notes:
        note("pre-flight: no stale processes" + (f"; ports {', '.join(map(str, ports))} are free of "
                                                          "foreign holders and zombie sockets" if ports else ""))


def other_stack_conflicts(stack: ResolvedStack, paths: StatePaths, stale: list[MatchedProcess],
                          scan: PortScan) -> list[str]:
    """Refusals for stale matches and managed-port holders that belong to another stack of this user."""
    listeners = scan.listeners()
    claims = claims_of_other_stacks(candidate_pids(stale, listeners), paths.root)
    return conflict_refusals(stack, stale, listeners, claims)


def refusal_message(refusals: Iterable[str]) -> str:
    """One line: every reason, then the reassurance that nothing was started."""
    return "pre-flight refused: " + "; ".join(refusals) + "; nothing was started"


async def stop_stale_processes(stack: ResolvedStack, stale: list[MatchedProcess], note: Note) -> list[StopReport]:
    """Stop each stale process (and its descendants) with its service's stop signal and grace.

    Services are handled dependents first, like `down`; a process matching several
    services is stopped once, by the first of them in that order.
    """
    reports = []
    handled: set[int] = set()
    for name in stack.stop_order:
        matches = [match for match in stale if match.service == name and match.pid not in handled]
        if not matches:
            continue
        handled.update(match.pid for match in matches)
        spec = stack.services[name].spec
        report = await stop_processes([match.identity for match in matches],
                                      stop_signal=signal.Signals[spec.stop_signal], grace=spec.stop_grace)
        for match in matches:
            note(f"pre-flight: stale '{name}' process pid {match.pid} ({short_command(match.command)}) matched "
                 f"'{match.pattern}': {stale_outcome(match.pid, report, spec.stop_signal)}")
        reports.append(report)
    return reports


def stale_outcome(pid: int, report: StopReport, stop_signal: str) -> str:
    """What the stop did to one pid, in words."""
    if pid in report.survivors:
        return "still running after SIGKILL (stuck in the kernel?)"
    if pid in report.resisted:
        return f"ignored {stop_signal}, killed with SIGKILL"
    if pid in report.signalled:
        return f"stopped on {stop_signal} ({report.elapsed:.2f}s)"
    return "already gone"


async def plan_preflight(stack: ResolvedStack, paths: StatePaths, *, ignore_zombies: bool) -> PreflightPlan:
    """Everything `up` would stop and why, and whether it would refuse; stops nothing."""
    holder = StackLock(paths).holder()
    if holder is not None:
        return PreflightPlan(running_supervisor=holder)
    state = read_run_state(paths)
    leftovers = [Leftover(name, target.leader.pid, pids) for name, target, pids in live_groups(state)]
    leftover_pids = {pid for leftover in leftovers for pid in leftover.pids}
    ports = all_watched_ports(stack)
    check_stale_patterns(stack)
    scan = await settled_scan(ports)
    stale = find_stale(stack, exclude_pids=external_holder_pids(stack, scan) | leftover_pids)
    conflicts = other_stack_conflicts(stack, paths, stale, scan)
    stopping = leftover_pids | _trees([match.identity for match in stale])
    result = assess(stack, scan.listeners(), scan.zombie_counts(), ignore_zombies=ignore_zombies,
                    stopping_pids=stopping)
    return PreflightPlan(None, leftovers, stale, result, conflicts)


def _trees(identities: list[ProcessIdentity]) -> set[int]:
    """The pids of these processes and all their descendants (stopping one stops its tree)."""
    if not identities:
        return set()
    return set(select_tree(snapshot_processes(), identities).everyone)

"""Another robostack stack's processes are never leftovers: pre-flight refuses instead of stopping them.

Two stack files may name the same ports or stale patterns. Before pre-flight stops a
stale match or blames a port holder, it asks every other stack of this user
(:mod:`launcher.state.registry`) whether the process is theirs: a member of one of their
recorded service groups, or a process carrying their run token in ``ROBOSTACK_RUN``. If
so, `up` refuses, naming that stack, its stack file, its supervisor and the command that
stops it. Judging is pure (:func:`conflict_refusals`); :func:`claims_of_other_stacks`
reads the state folders and the process table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import psutil

from launcher.hygiene.findings import Holder, short_command
from launcher.process.membership import select_group_members, snapshot_processes
from launcher.process.search import MatchedProcess
from launcher.stack.resolved import ResolvedStack
from launcher.state.registry import StackEntry, list_stacks
from launcher.supervise.lifecycle import RUN_TOKEN_VARIABLE
from launcher.state.interpret import recorded_groups


@dataclass(frozen=True)
class Claim:
    """`pid` belongs to another stack: to its service `service`, or (None) it carries its run token."""

    pid: int
    entry: StackEntry
    service: str | None = None

    def describe(self) -> str:
        if self.service:
            return f"service '{self.service}' of {self.entry.describe()}"
        return f"a process of {self.entry.describe()} (it carries that stack's run token)"


def claims_of_other_stacks(pids: Iterable[int], own_state_dir: Path,
                           environ: Mapping[str, str] | None = None) -> dict[int, Claim]:
    """Which of `pids` belong to a stack of this user other than the one in `own_state_dir`."""
    wanted = set(pids)
    others = [entry for entry in list_stacks(environ) if entry.state is not None
              and entry.state_dir.resolve() != Path(own_state_dir).resolve()] if wanted else []
    if not others:
        return {}
    found: dict[int, Claim] = {}
    snapshot = snapshot_processes()
    for entry in others:
        for service, target in recorded_groups(entry.state):
            for pid in select_group_members(snapshot, target).everyone:
                if pid in wanted:
                    found.setdefault(pid, Claim(pid, entry, service))
    tokens = {entry.run_token: entry for entry in others if entry.run_token}
    for pid in sorted(wanted - found.keys()):
        token = _run_token_of(pid)
        if token in tokens:
            found[pid] = Claim(pid, tokens[token])
    return found


def _run_token_of(pid: int) -> str | None:
    try:
        return psutil.Process(pid).environ().get(RUN_TOKEN_VARIABLE)
    except (psutil.Error, OSError):
        return None


def conflict_refusals(stack: ResolvedStack, stale: list[MatchedProcess], listeners: Mapping[int, list[Holder]],
                      claims: Mapping[int, Claim]) -> list[str]:
    """One refusal per stale match or managed port held by another stack's process (pure)."""
    refusals = []
    for match in stale:
        claim = claims.get(match.pid)
        if claim is not None:
            refusals.append(f"stale pattern '{match.pattern}' of service '{match.service}' matches pid {match.pid} "
                            f"({short_command(match.command)}), {claim.describe()}: robostack never stops another "
                            f"stack's processes; stop that stack first (`{claim.entry.stop_command()}`)")
    for name, service in stack.services.items():
        if service.external:
            continue
        for port in service.ports:
            for holder in listeners.get(port, []):
                claim = claims.get(holder.pid) if holder.pid is not None else None
                if claim is not None:
                    refusals.append(f"port {port} of service '{name}' is held by pid {holder.pid} "
                                    f"({short_command(holder.command)}), {claim.describe()}: two stacks cannot share "
                                    f"a port; stop that stack first (`{claim.entry.stop_command()}`), or move "
                                    f"'{name}' to another port")
    return refusals


def candidate_pids(stale: list[MatchedProcess], listeners: Mapping[int, list[Holder]]) -> set[int]:
    """The processes pre-flight would stop or blame: stale matches and holders of the stack's ports."""
    pids = {match.pid for match in stale}
    pids.update(holder.pid for holders in listeners.values() for holder in holders if holder.pid is not None)
    return pids

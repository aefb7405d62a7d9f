"""Stopping a service's whole process tree: stop signal, wait for every member, then SIGKILL.

`down`, the supervisor's shutdown and pre-flight's cleanup of leftovers all come here.
The sequence, for a service spawned in its own session:

1. Find the members (:mod:`launcher.process.membership`): the process group, plus
   descendants that escaped it; a reused pid means the group is gone.
2. Send the stop signal with one ``killpg`` (atomic with respect to ``fork``: a child
   being forked is either signalled or never created) and, one by one through verified
   pidfds, to the escaped descendants.
3. Wait, event-driven through pidfds, until every member has exited or `grace` runs
   out. The table is re-read now and then so a process forked after the signal gets it
   too (once, individually: a second group-wide stop signal would look like a second
   Ctrl-C to services that treat it so).
4. SIGKILL whatever is left, the same way, and wait for that too, for at most `kill_wait`.

Nothing here raises for a process that is gone: that is the goal, not an error.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from launcher.process.exits import wait_for_exits
from launcher.process.identity import ProcessIdentity, signal_group, signal_process
from launcher.process.membership import (
    GroupTarget,
    Members,
    live_members,
    select_group_members,
    select_tree,
    snapshot_processes,
)

__all__ = ["GroupTarget", "StopReport", "stop_group", "kill_group_now", "stop_processes",
           "live_members", "DEFAULT_KILL_WAIT"]

# How long to wait for SIGKILL to take effect. Only a process stuck in the kernel
# (uninterruptible I/O) takes longer; it is then reported as a survivor.
DEFAULT_KILL_WAIT = 5.0
# While waiting out the grace period, re-read the process table this often to give
# the stop signal to processes forked after it was sent. Exits wake us sooner.
RESCAN_INTERVAL = 0.25


@dataclass(frozen=True)
class StopReport:
    """What a stop did.

    `signalled`: pids sent the stop signal; `resisted`: pids still running when the
    grace ran out, which needed SIGKILL; `survivors`: pids still running after SIGKILL
    (should be empty); `pid_reused`: the group's pid belonged to a stranger, which was
    left alone; `summary`: one line for a person.
    """

    stop_signal: int
    signalled: tuple[int, ...]
    resisted: tuple[int, ...]
    survivors: tuple[int, ...]
    elapsed: float
    summary: str
    pid_reused: bool = False

    @property
    def clean(self) -> bool:
        """True if nothing is left running."""
        return not self.survivors


Scan = Callable[[], Members]


async def stop_group(target: GroupTarget, *, stop_signal: int, grace: float,
                     kill_wait: float = DEFAULT_KILL_WAIT) -> StopReport:
    """Stop every process of `target`: `stop_signal`, up to `grace` seconds for all to exit, then SIGKILL."""
    return await _stop(lambda: select_group_members(snapshot_processes(), target),
                       _group_sender(target), stop_signal=stop_signal, grace=grace, kill_wait=kill_wait,
                       subject=f"process group {target.pgid}")


async def kill_group_now(target: GroupTarget, *, kill_wait: float = DEFAULT_KILL_WAIT) -> StopReport:
    """SIGKILL every process of `target` at once (the second Ctrl-C) and wait for them to die."""
    return await stop_group(target, stop_signal=signal.SIGKILL, grace=kill_wait, kill_wait=0.0)


async def stop_processes(identities: Iterable[ProcessIdentity], *, stop_signal: int, grace: float,
                         kill_wait: float = DEFAULT_KILL_WAIT) -> StopReport:
    """Stop individual processes and their descendants, without touching their process groups.

    For leftovers that are not group leaders (a stale process inside a shell's job),
    where killpg would also reach unrelated processes.
    """
    roots = tuple(identities)
    return await _stop(lambda: select_tree(snapshot_processes(), roots), _individual_sender,
                       stop_signal=stop_signal, grace=grace, kill_wait=kill_wait,
                       subject="pids " + ", ".join(str(root.pid) for root in roots))


Sender = Callable[[Members, int], set[int]]


def _group_sender(target: GroupTarget) -> Sender:
    """Signals the group with one killpg, escaped members one by one."""

    def send(members: Members, signal_number: int) -> set[int]:
        sent: set[int] = set()
        if members.grouped:
            if _killpg_safely(target, signal_number):
                sent.update(members.grouped)
            else:  # not allowed to signal the group as a whole: try each member
                sent.update(_individual_sender(Members(individual=members.grouped), signal_number))
        sent.update(_individual_sender(Members(individual=members.individual), signal_number))
        return sent

    return send


def _individual_sender(members: Members, signal_number: int) -> set[int]:
    return {pid for pid, identity in members.everyone.items() if signal_process(identity, signal_number)}


def _killpg_safely(target: GroupTarget, signal_number: int) -> bool:
    """killpg, unless the group's pid was reused or it holds another user's process (see identity.py)."""
    return signal_group(target.pgid, target.leader, signal_number)


async def _stop(scan: Scan, send: Sender, *, stop_signal: int, grace: float, kill_wait: float,
                subject: str) -> StopReport:
    started = time.monotonic()
    members = scan()
    if not members:
        return _report(started, stop_signal, subject, pid_reused=members.pid_reused)
    signalled = send(members, stop_signal)
    remaining = await _wait_out(scan, send, members, stop_signal, signalled, started + max(0.0, grace))
    resisted: Sequence[int] = ()
    if remaining and stop_signal != signal.SIGKILL:
        resisted = sorted(remaining.everyone)
        killed = send(remaining, signal.SIGKILL)
        remaining = await _wait_out(scan, send, remaining, signal.SIGKILL, killed,
                                    time.monotonic() + max(0.0, kill_wait))
    return _report(started, stop_signal, subject, signalled=signalled, resisted=resisted,
                   survivors=remaining.everyone, pid_reused=members.pid_reused)


async def _wait_out(scan: Scan, send: Sender, members: Members, signal_number: int,
                    signalled: set[int], deadline: float) -> Members:
    """Wait until no member is left or `deadline` passes; newcomers get `signal_number` once.

    Returns the members still running at the end (falsy when all are gone).
    """
    current = members
    while True:
        wake_at = min(deadline, time.monotonic() + RESCAN_INTERVAL)
        await wait_for_exits(current.everyone.values(), wake_at - time.monotonic())
        current = scan()
        newcomers = current.without(signalled)
        if newcomers:
            signalled.update(send(newcomers, signal_number))
        if not current or time.monotonic() >= deadline:
            return current


def _report(started: float, stop_signal: int, subject: str, *, signalled: Iterable[int] = (),
            resisted: Iterable[int] = (), survivors: Iterable[int] = (), pid_reused: bool = False) -> StopReport:
    elapsed = time.monotonic() - started
    report = StopReport(stop_signal=int(stop_signal), signalled=tuple(sorted(signalled)),
                        resisted=tuple(sorted(resisted)), survivors=tuple(sorted(survivors)),
                        elapsed=elapsed, summary="", pid_reused=pid_reused)
    return replace(report, summary=describe_stop(report, subject))


def describe_stop(report: StopReport, subject: str) -> str:
    """One line saying what a stop did, e.g. "3 processes stopped on SIGTERM in 0.04s"."""
    signal_name = _signal_name(report.stop_signal)
    if not report.signalled:
        if report.survivors:
            pids = ", ".join(map(str, report.survivors))
            return f"could not signal {subject}: pid {pids} still running (another user's?)"
        if report.pid_reused:
            return f"nothing to stop: {subject} is gone and its pid now belongs to another process, left alone"
        return f"nothing to stop: {subject} has no running process"
    count = _processes(len(report.signalled))
    if report.stop_signal == signal.SIGKILL:
        line = f"{count} killed with SIGKILL in {report.elapsed:.2f}s"
    elif report.resisted:
        pids = ", ".join(map(str, report.resisted))
        line = (f"{count} stopped in {report.elapsed:.2f}s; {_processes(len(report.resisted))} ignored "
                f"{signal_name} and needed SIGKILL (pid {pids})")
    else:
        line = f"{count} stopped on {signal_name} in {report.elapsed:.2f}s"
    if report.survivors:
        line += f"; still running after SIGKILL: pid {', '.join(map(str, report.survivors))}"
    return line


def _processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def _signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"

"""Stopping a stack from its run state alone: `robostack down`, and leftovers before `up`.

This works whether or not a supervisor is alive. A live supervisor is asked
to stop (SIGTERM) and given time to do it in order; whatever is still
recorded afterwards (the supervisor was SIGKILLed, or did not finish) is
stopped here, group by group, dependents first. Only identities recorded in
the run state are ever signalled, and only while their create time matches.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Callable

from launcher.process.exits import wait_for_exits
from launcher.process.identity import ProcessIdentity, is_alive, signal_process
from launcher.process.search import find_processes_carrying
from launcher.process.stop import GroupTarget, StopReport, stop_group, stop_processes
from launcher.supervise.lifecycle import RUN_TOKEN_VARIABLE
from launcher.state.events import read_events
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, StackLock, read_run_state, write_run_state

SUPERVISOR_MARGIN = 10.0  # beyond the services' own stop graces
ESCAPED_GRACE = 5.0  # for processes that left their service's group; their service's own grace is unknown


def live_supervisor(paths: StatePaths, state: RunState | None) -> ProcessIdentity | None:
    """The recorded supervisor, if it is still the same live process and still holds the stack's lock."""
    if state is None or state.supervisor_pid is None or state.supervisor_create_time is None:
        return None
    identity = ProcessIdentity(state.supervisor_pid, state.supervisor_create_time)
    if not is_alive(identity) or StackLock(paths).holder() is None:
        return None
    return identity


def recorded_groups(state: RunState) -> list[tuple[str, GroupTarget]]:
    """Every recorded service group, dependents first."""
    order = state.stop_order or list(reversed(list(state.services)))
    groups = []
    for name in order:
        record = state.services.get(name)
        if record is None or record.external or None in (record.pid, record.pgid, record.create_time):
            continue
        groups.append((name, GroupTarget(record.pgid, ProcessIdentity(record.pid, record.create_time))))
    return groups


async def stop_recorded_services(state: RunState, note: Callable[[str], None]) -> list[StopReport]:
    """Stop every group named in the run state, dependents first."""
    reports = []
    for name, target in recorded_groups(state):
        record = state.services[name]
        report = await stop_group(target, stop_signal=signal.Signals[record.stop_signal], grace=record.stop_grace)
        if report.signalled:
            note(f"{name}: {report.summary}")
        reports.append(report)
        record.state = "stopped"
    if state.run_token:
        reports.append(await stop_escaped(state.run_token, note))
    return reports


async def stop_escaped(run_token: str, note: Callable[[str], None]) -> StopReport:
    """Stop processes of this run that left their service's process group (setsid + orphaned)."""
    escaped = find_processes_carrying(RUN_TOKEN_VARIABLE, run_token)
    report = await stop_processes(escaped, stop_signal=signal.SIGTERM, grace=ESCAPED_GRACE)
    if report.signalled:
        note(f"stopped {len(report.signalled)} process(es) that had left their service's group: {report.summary}")
    return report


async def stop_supervisor(paths: StatePaths, state: RunState, note: Callable[[str], None]) -> bool:
    """Ask a live supervisor to stop the stack; SIGKILL it if it does not finish in time.

    Returns True if a supervisor was running. Progress is read from the event
    timeline so the user sees each service stop.
    """
    identity = live_supervisor(paths, state)
    if identity is None:
        return False
    _, offset = read_events(paths.events)
    signal_process(identity, signal.SIGTERM)
    budget = sum(r.stop_grace for r in state.services.values()) + SUPERVISOR_MARGIN
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while is_alive(identity) and loop.time() < deadline:
        offset = _relay_events(paths, offset, note)
        # Wake every 0.2 s only to relay progress; the wait itself ends at the exit.
        await wait_for_exits([identity], timeout=min(0.2, max(0.0, deadline - loop.time())))
    _relay_events(paths, offset, note)
    if is_alive(identity):
        note(f"supervisor (pid {identity.pid}) did not finish stopping within {budget:.0f}s; killing it")
        signal_process(identity, signal.SIGKILL)
        await wait_for_exits([identity], timeout=5.0)
    return True


def _relay_events(paths: StatePaths, offset: int, note: Callable[[str], None]) -> int:
    events, offset = read_events(paths.events, offset=offset)
    for event in events:
        if event.event in ("stopping", "stopped") and event.service:
            note(f"{event.service}: {event.event}" + (f" ({event.reason})" if event.reason else ""))
    return offset


async def take_down(paths: StatePaths, note: Callable[[str], None]) -> RunState | None:
    """The whole of `down`: supervisor first, then anything it left behind. Returns the final state."""
    state = read_run_state(paths)
    if state is None:
        return None
    await stop_supervisor(paths, state, note)
    state = read_run_state(paths) or state  # the supervisor may have written its final state
    await stop_recorded_services(state, note)
    if StackLock(paths).holder() is None:
        state.phase = "stopped"
        write_run_state(paths, state)
    return state

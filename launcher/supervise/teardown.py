"""Stopping a stack from its run state alone: `robostack down`, and leftovers before `up`.

This works whether or not a supervisor is alive. A live supervisor is asked to stop
(SIGTERM, unless it is already stopping) and given time to do it in order; whatever
is still recorded afterwards (the supervisor was SIGKILLed, or did not finish) is
stopped here, group by group, dependents first. Only identities recorded in the run
state (or carrying this run's token in their environment) are ever signalled, and
only while their create time matches.

A supervisor that holds the stack's lock but has not written its run state yet (an
`up` that just started, still stopping an earlier run's leftovers) is waited for, then
stopped like any other: `down` never reports a stack down that is coming up.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from typing import Callable

from launcher.errors import StateError
from launcher.gateway.ibc import IbcUnavailable, send_command
from launcher.hygiene.scan import foreign_listener
from launcher.logwriter.launch import WRITER_VARIABLE
from launcher.process.exits import wait_for_exits
from launcher.process.identity import ProcessIdentity, is_alive, signal_process
from launcher.process.membership import GroupTarget
from launcher.process.search import find_processes_carrying
from launcher.process.stop import StopReport, stop_group, stop_processes
from launcher.logwriter.reader import Follower
from launcher.state.events import parse_event_lines, timeline_follower
from launcher.state.interpret import (RUN_TOKEN_VARIABLE, live_supervisor, names_supervisor, reconcile_pending,
                                      recorded_groups)
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, StackLock, read_run_state, write_run_state
from launcher.state.transitions import ServiceState

SUPERVISOR_MARGIN = 10.0  # beyond the services' own stop graces
ESCAPED_GRACE = 5.0
WRITER_DRAIN = 5.0  # for log writers to write the last lines and end once their services are gone  # for processes that left their service's group; their service's own grace is unknown
STARTING_WAIT = 30.0  # for a starting supervisor to write its run state (it may be stopping leftovers)
LOCK_IDENTITY_WAIT = 2.0  # for a supervisor that holds the lock to write its pid into it
IBC_STOP_TIMEOUT = 5.0  # for IBC's answer to STOP
RELAY_INTERVAL = 0.2  # how often progress is read from the timeline while a supervisor stops

Note = Callable[[str], None]


@dataclass
class Takedown:
    """What `down` did: the final run state (None if there was none) and warnings (state not written)."""

    state: RunState | None
    warnings: list[str] = field(default_factory=list)


async def stop_recorded_services(state: RunState, note: Note) -> list[StopReport]:
    """Stop every group named in the run state, dependents first, then this run's escaped processes."""
    reconcile_pending(state)
    reports = []
    for name, target in recorded_groups(state):
        record = state.services[name]
        if record.ibc_address and is_alive(target.leader):
            await ask_ibc_to_stop(record.ibc_address, target, record.stop_grace, note)
        report = await stop_group(target, stop_signal=signal.Signals[record.stop_signal], grace=record.stop_grace)
        if report.signalled:
            note(f"{name}: {report.summary}")
        reports.append(report)
        record.state = ServiceState.STOPPED.value
    if state.run_token:
        reports.append(await stop_escaped(state.run_token, note))
    return reports


async def ask_ibc_to_stop(address: str, target: GroupTarget, grace: float, note: Note) -> None:
    """A Gateway under IBC: its STOP (a clean logout) first, then up to `grace` for it to end before any signal.

    Only to a command server inside the recorded Gateway's own tree (when it is on this machine):
    the port may now be another stack's Gateway's.
    """
    host, _, port = address.rpartition(":")
    holder = await asyncio.to_thread(foreign_listener, host, int(port), target)
    if holder is not None:
        note(f"IBC at {address}: STOP not sent, the port is held by {holder.describe()}, not by this "
             "Gateway's processes; stopping with signals")
        return
    try:
        reply = await send_command(host, int(port), "STOP", timeout=min(grace, IBC_STOP_TIMEOUT))
    except (IbcUnavailable, ValueError) as err:
        note(f"IBC at {address}: {err}; stopping with signals")
        return
    note(f"IBC at {address}: {reply.describe()}")
    if reply.ok:
        await wait_for_exits([target.leader], grace)


async def stop_escaped(run_token: str, note: Note) -> StopReport:
    """Stop processes of this run that left their service's group (setsid + orphaned), then wait for
    the run's log writers to write the last lines and end.

    A log writer is not an escaped process: it runs in a session of its own by design, ignores
    SIGTERM and ends when its pipe does, that is once its service and everything that inherited
    the service's output are gone. It is only waited for (bounded); one still running after
    WRITER_DRAIN (a process robostack cannot stop holds its pipe) is stopped like the rest.
    """
    escaped = find_processes_carrying(RUN_TOKEN_VARIABLE, run_token, marked=WRITER_VARIABLE)
    report = await stop_processes(escaped, stop_signal=signal.SIGTERM, grace=ESCAPED_GRACE)
    if report.signalled:
        note(f"stopped {len(report.signalled)} process(es) that had left their service's group: {report.summary}")
    writers = find_processes_carrying(RUN_TOKEN_VARIABLE, run_token, marked=WRITER_VARIABLE, marked_only=True)
    if writers:
        await wait_for_exits(writers, timeout=WRITER_DRAIN)
        left = [writer for writer in writers if is_alive(writer)]
        if left:
            stuck = await stop_processes(left, stop_signal=signal.SIGTERM, grace=0.0)
            note(f"{len(left)} log writer(s) still running {WRITER_DRAIN:g}s after their services stopped "
                 f"(something still holds their output): {stuck.summary}")
    return report


async def take_down(paths: StatePaths, note: Note) -> Takedown:
    """The whole of `down`: a starting supervisor waited for, the supervisor first, then what it left behind."""
    state = read_run_state(paths)
    starting = await _lock_holder(paths)
    if starting is not None and not names_supervisor(state, starting):
        state = await _wait_for_starting_supervisor(paths, starting, state, note)
    if state is None:
        return Takedown(None)
    await stop_supervisor(paths, state, note)
    state = read_run_state(paths) or state  # the supervisor may have written its final state
    await stop_recorded_services(state, note)
    result = Takedown(state)
    if StackLock(paths).holder() is None:
        state.phase = "stopped"
        try:
            write_run_state(paths, state)
        except StateError as err:
            result.warnings.append(f"everything is stopped, but the final run state was not saved: {err}")
    return result


async def _lock_holder(paths: StatePaths) -> ProcessIdentity | None:
    """The supervisor holding the stack's lock, if any; one that took it a moment ago and has not
    written who it is yet is given a moment to do so."""
    lock = StackLock(paths)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOCK_IDENTITY_WAIT
    while True:
        identity = lock.holder_identity()
        if identity is not None or lock.holder() is None or loop.time() >= deadline:
            return identity
        await asyncio.sleep(0.01)  # between its flock() and its write(): microseconds, bounded


async def _wait_for_starting_supervisor(paths: StatePaths, supervisor: ProcessIdentity, state: RunState | None,
                                        note: Note) -> RunState | None:
    """Wait (bounded) for the run state of a supervisor that holds the lock; stop it directly if none comes."""
    note(f"a supervisor (pid {supervisor.pid}) is starting and has not written its run state yet; waiting for it")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTING_WAIT
    while loop.time() < deadline and is_alive(supervisor):
        current = read_run_state(paths)
        if names_supervisor(current, supervisor):
            return current
        await wait_for_exits([supervisor], timeout=RELAY_INTERVAL)  # wakes at once if it exits
    if is_alive(supervisor):
        note(f"no run state from pid {supervisor.pid} within {STARTING_WAIT:g}s; stopping it directly")
        signal_process(supervisor, signal.SIGTERM)
        signal_process(supervisor, signal.SIGCONT)
        await wait_for_exits([supervisor], timeout=STARTING_WAIT)
    return read_run_state(paths) or state


async def stop_supervisor(paths: StatePaths, state: RunState, note: Note) -> bool:
    """Ask a live supervisor to stop the stack; SIGKILL it if it does not finish in time.

    Returns True if a supervisor was running. A supervisor already stopping is not
    signalled again (a second SIGTERM would mean "kill now"), only waited for.
    Progress is read from the event timeline so the user sees each service stop.
    """
    identity = live_supervisor(paths, state)
    if identity is None:
        return False
    timeline = timeline_follower(paths.events)  # from its end: `down` never reads the timeline's past
    if state.phase == "stopping":
        note(f"the supervisor (pid {identity.pid}) is already stopping the stack; waiting for it")
    else:
        signal_process(identity, signal.SIGTERM)
        signal_process(identity, signal.SIGCONT)  # a supervisor stopped with SIGSTOP could not act on it
    budget = sum(r.stop_grace for r in state.services.values()) + SUPERVISOR_MARGIN
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    try:
        while is_alive(identity) and loop.time() < deadline:
            _relay_events(timeline, note)
            # Wake every 0.2 s only to relay progress; the wait itself ends at the exit.
            await wait_for_exits([identity], timeout=min(RELAY_INTERVAL, max(0.0, deadline - loop.time())))
        _relay_events(timeline, note)
    finally:
        timeline.close()
    if is_alive(identity):
        note(f"supervisor (pid {identity.pid}) did not finish stopping within {budget:.0f}s; killing it")
        signal_process(identity, signal.SIGKILL)
        await wait_for_exits([identity], timeout=5.0)
    return True


def _relay_events(timeline: Follower, note: Note) -> None:
    for event in parse_event_lines(timeline.read_new()):
        if event.event in ("stopping", "stopped", "halted") and event.service:
            note(f"{event.service}: {event.event}" + (f" ({event.reason})" if event.reason else ""))

"""What a run state means now: is its supervisor alive, which groups does it name, what really runs.

Read by `status`, `down`, `doctor` and pre-flight alike (below both the supervisor
and hygiene), so they agree on one reading:

* the supervisor is alive only if the recorded process (pid *and* create time) still
  runs and the stack's lock is held;
* a service recorded in a running state whose process is gone is ``stopped``; one whose
  process runs while its supervisor is gone is ``orphaned``;
* a service recorded just before its spawn (``starting`` and no pid: the supervisor was
  killed between the two) is looked for by the run token and service name in its
  environment, and completed with what is found, so nothing of it is missed or misreported.
"""

from __future__ import annotations

import os

from launcher.process.identity import CLOCK_TICKS, ProcessIdentity, boot_time, is_alive
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, ServiceRecord, StackLock
from launcher.state.transitions import RUNNING, ServiceState, parse_state

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from launcher.process.membership import GroupTarget

# In every service's environment (launcher.supervise.lifecycle sets them); inherited by its descendants.
RUN_TOKEN_VARIABLE = "ROBOSTACK_RUN"
SERVICE_VARIABLE = "ROBOSTACK_SERVICE"


def live_supervisor(paths: StatePaths, state: RunState | None) -> ProcessIdentity | None:
    """The recorded supervisor, if it is still the same live process and still holds the stack's lock."""
    if state is None or state.supervisor_pid is None or state.supervisor_create_time is None:
        return None
    identity = ProcessIdentity(state.supervisor_pid, state.supervisor_create_time)
    if not is_alive(identity) or StackLock(paths).holder() is None:
        return None
    return identity


def names_supervisor(state: RunState | None, identity: ProcessIdentity) -> bool:
    """True if `state` was written by the supervisor `identity` (not by an earlier run)."""
    if state is None or state.supervisor_pid is None or state.supervisor_create_time is None:
        return False
    return identity.same_process(ProcessIdentity(state.supervisor_pid, state.supervisor_create_time))


def recorded_groups(state: RunState) -> list[tuple[str, GroupTarget]]:
    """Every recorded service group, dependents first."""
    from launcher.process.membership import GroupTarget  # here: `status` never needs the process table's types

    order = state.stop_order or list(reversed(list(state.services)))
    groups = []
    for name in order:
        record = state.services.get(name)
        if record is None or record.external or None in (record.pid, record.pgid, record.create_time):
            continue
        groups.append((name, GroupTarget(record.pgid, ProcessIdentity(record.pid, record.create_time))))
    return groups


def is_pending_spawn(record: ServiceRecord) -> bool:
    """Recorded as starting, but the supervisor never wrote its pid (it may have died right after the fork)."""
    return not record.external and record.pid is None and record.state == ServiceState.STARTING.value


def reconcile_pending(state: RunState) -> list[str]:
    """Complete pending-spawn records from the processes carrying this run's token and their name.

    Returns the names completed. The leader is the process heading its own process
    group (every service runs in its own session); failing that, the oldest found.
    """
    pending = [name for name, record in state.services.items() if is_pending_spawn(record)]
    if not pending or not state.run_token:
        return []
    from launcher.process.search import find_processes_with_environment  # here: only a pending spawn needs it

    completed = []
    for name in pending:
        record = state.services[name]
        found = find_processes_with_environment({RUN_TOKEN_VARIABLE: state.run_token, SERVICE_VARIABLE: name})
        leader = _group_leader(found)
        if leader is not None:
            record.pid, record.pgid, record.create_time = leader.pid, _pgid(leader.pid), leader.create_time
            completed.append(name)
    return completed


def _group_leader(found: list[ProcessIdentity]) -> ProcessIdentity | None:
    leaders = [identity for identity in found if _pgid(identity.pid) == identity.pid]
    candidates = leaders or sorted(found, key=lambda identity: identity.create_time)
    return candidates[0] if candidates else None


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def effective_state(state: RunState, supervisor_alive: bool) -> RunState:
    """Correct what a dead (or not answering) supervisor could not: live orphans, processes now gone."""
    if not supervisor_alive:
        reconcile_pending(state)
    for record in state.services.values():
        if record.external:
            if not supervisor_alive:
                record.state = ServiceState.EXTERNAL.value  # nobody probes it any more: its verdict is stale
            continue
        if parse_state(record.state) not in RUNNING:
            continue
        if record.pid is None or record.create_time is None:
            if not supervisor_alive:
                record.state = ServiceState.STOPPED.value  # recorded before its spawn, and nothing of it runs
            continue
        if not is_alive(ProcessIdentity(record.pid, record.create_time)):
            record.state = ServiceState.STOPPED.value
        elif not supervisor_alive:
            record.state = ServiceState.ORPHANED.value
    return state


def anything_left(state: RunState) -> bool:
    """True if a process of this run may still exist: a recorded group has a member, or a process carries the
    run's token. One pass over /proc (no psutil): `down` of a stopped stack answers this and nothing else."""
    groups = {target.pgid for _, target in recorded_groups(state)}
    needle = f"{RUN_TOKEN_VARIABLE}={state.run_token}".encode() if state.run_token else None
    # Only a process created after the run began can carry its token (an environment is fixed at exec, and
    # the token came from this run): older ones' environments are not read at all.
    born = ((state.started_at or 0.0) - boot_time() - 1.0) * CLOCK_TICKS
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if fields[0] != b"Z" and int(fields[2]) in groups:
                return True
            if needle is not None and fields[0] != b"Z" and int(fields[19]) >= born:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if needle in handle.read().split(b"\0"):
                        return True
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read (another user's: never ours to stop either)
    return False

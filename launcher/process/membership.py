"""Who belongs to a service: a pure selection over a snapshot of the process table.

A service's processes are its process group (one ``killpg`` reaches them all, even a
child forked a microsecond ago) plus descendants that left the group with ``setsid()``
or ``setpgid()``; those are signalled one by one. The selection is pure (snapshot in,
members out) so the pid-reuse rules are tested on values; :func:`snapshot_processes`
is the thin I/O that reads the real table.

The rules that keep strangers safe:

* If the pid equal to the group id exists with a create time other than the leader's,
  that pid was reused: the group we started is gone, and nothing in that group is ours.
* A group member older than the leader cannot be ours (it existed before we started).
  It is left alone, and since ``killpg`` would reach it, our members in that group are
  then signalled one by one instead.
* Another user's process is never a member, even when robostack runs as root: not in
  the group (whose other members are then signalled one by one, since killpg would
  reach it too), not as a descendant, and nothing below it is followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from launcher.process.identity import CREATE_TIME_TOLERANCE, ProcessIdentity, same_create_time


@dataclass(frozen=True)
class GroupTarget:
    """A service's process group as recorded at spawn: its group id and its leader.

    A descendant that ``setsid()``-ed away is found while it is still in the leader's
    tree; once orphaned it is no one's descendant, and only the run token in its
    environment finds it (``launcher.supervise.teardown.stop_escaped``).
    """

    pgid: int
    leader: ProcessIdentity


@dataclass(frozen=True)
class ProcessInfo:
    """One row of the process table, as much as membership needs."""

    pid: int
    ppid: int
    pgid: int
    create_time: float
    zombie: bool = False
    # Real uid (a row built by hand is the current user's); None: unreadable, treated as someone else's.
    uid: int | None = field(default_factory=os.getuid)

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.create_time)

    def owned_by(self, uid: int) -> bool:
        return self.uid == uid


@dataclass(frozen=True)
class Members:
    """Live processes to signal: `grouped` are reached by killpg, `individual` one by one."""

    grouped: Mapping[int, ProcessIdentity] = field(default_factory=dict)
    individual: Mapping[int, ProcessIdentity] = field(default_factory=dict)
    pid_reused: bool = False  # the group's pid now belongs to a stranger
    shared_group: bool = False  # the group also holds processes older than the leader: no killpg

    @property
    def everyone(self) -> dict[int, ProcessIdentity]:
        return {**self.grouped, **self.individual}

    def __bool__(self) -> bool:
        return bool(self.grouped or self.individual)

    def without(self, pids: Iterable[int]) -> "Members":
        """These members minus `pids`, all to be signalled one by one (no second killpg)."""
        excluded = set(pids)
        remaining = {pid: identity for pid, identity in self.everyone.items() if pid not in excluded}
        return Members(individual=remaining, pid_reused=self.pid_reused, shared_group=self.shared_group)


Snapshot = Mapping[int, ProcessInfo]


def snapshot_processes() -> dict[int, ProcessInfo]:
    """The current process table (pid, parent, group, create time, zombie or not)."""
    import psutil  # here, not at the top: `status` imports this module and never needs the table

    table: dict[int, ProcessInfo] = {}
    for process in psutil.process_iter(["ppid", "create_time", "status", "uids"]):
        info = process.info
        if info.get("create_time") is None or info.get("ppid") is None:
            continue  # vanished or unreadable while we iterated
        try:
            group = os.getpgid(process.pid)
        except OSError:
            continue
        uids = info.get("uids")
        table[process.pid] = ProcessInfo(process.pid, info["ppid"], group, info["create_time"],
                                         info.get("status") == psutil.STATUS_ZOMBIE, uids.real if uids else None)
    return table


def group_pid_reused(snapshot: Snapshot, target: GroupTarget) -> bool:
    """True if the pid equal to the group id belongs to a process that is not our leader.

    While any member of a group lives, the kernel will not hand its number to a new
    process, so a stranger holding that pid means our group emptied earlier.
    """
    holder = snapshot.get(target.pgid)
    if holder is None:
        return False
    if target.leader.pid == target.pgid:
        return not same_create_time(holder.create_time, target.leader.create_time)
    # A group's founder predates every process that joined it, our leader included.
    return holder.create_time > target.leader.create_time + CREATE_TIME_TOLERANCE


def select_group_members(snapshot: Snapshot, target: GroupTarget, *, uid: int | None = None) -> Members:
    """The live processes of `target`: its group, plus descendants that escaped into other groups.

    Only processes of `uid` (default: the current user) are members.
    """
    owner = os.getuid() if uid is None else uid
    reused = group_pid_reused(snapshot, target)
    born_after = target.leader.create_time - CREATE_TIME_TOLERANCE
    grouped: dict[int, ProcessIdentity] = {}
    shared = False
    if not reused:
        for info in snapshot.values():
            if info.pgid != target.pgid or info.zombie:
                continue
            if info.create_time >= born_after and info.owned_by(owner):
                grouped[info.pid] = info.identity
            else:
                shared = True  # an older process, or another user's: killpg would reach it too
    roots = list(grouped.values()) + [target.leader]
    tree = _live_tree(snapshot, roots, born_after, owner)
    individual = {pid: identity for pid, identity in tree.items() if pid not in grouped}
    if shared:  # killpg would reach the older processes too: signal ours one by one
        return Members(individual={**grouped, **individual}, shared_group=True)
    return Members(grouped=grouped, individual=individual, pid_reused=reused)


def select_tree(snapshot: Snapshot, roots: Iterable[ProcessIdentity], *, uid: int | None = None) -> Members:
    """`roots` that still run, with all their live descendants, each signalled one by one.

    Used for processes that are not group leaders (a stale leftover inside someone's
    shell job), where killpg would reach unrelated processes. Only processes of `uid`
    (default: the current user) are included.
    """
    owner = os.getuid() if uid is None else uid
    tree: dict[int, ProcessIdentity] = {}
    for root in roots:
        tree.update(_live_tree(snapshot, [root], root.create_time - CREATE_TIME_TOLERANCE, owner))
    return Members(individual=tree)


def _live_tree(snapshot: Snapshot, roots: Iterable[ProcessIdentity], born_after: float,
               owner: int) -> dict[int, ProcessIdentity]:
    """Live roots of `owner` whose identity still matches, and every such live descendant born after `born_after`.

    Another user's process is not followed: neither it nor anything below it is included.
    """
    children: dict[int, list[ProcessInfo]] = {}
    for info in snapshot.values():
        children.setdefault(info.ppid, []).append(info)
    found: dict[int, ProcessIdentity] = {}
    queue: list[ProcessInfo] = []
    for root in roots:
        info = snapshot.get(root.pid)
        # A zombie root is not signalled, but its children (re-parented or not yet) still are.
        if info is not None and same_create_time(info.create_time, root.create_time) and info.owned_by(owner):
            queue.append(info)
    seen: set[int] = set()
    while queue:
        info = queue.pop()
        if info.pid in seen:
            continue
        seen.add(info.pid)
        if not info.zombie:
            found[info.pid] = info.identity
        queue.extend(child for child in children.get(info.pid, ())
                     if child.create_time >= born_after and child.owned_by(owner))
    return found


def live_members(target: GroupTarget) -> list[ProcessIdentity]:
    """Every live process of `target` (group and escaped descendants), sorted by pid."""
    members = select_group_members(snapshot_processes(), target).everyone
    return [members[pid] for pid in sorted(members)]

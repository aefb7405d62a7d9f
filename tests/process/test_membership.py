"""The pure membership rules, on hand-made process tables."""

from __future__ import annotations

from launcher.process.identity import ProcessIdentity
from launcher.process.membership import (
    GroupTarget,
    ProcessInfo,
    select_group_members,
    select_tree,
)

T0 = 1_000_000.0
LEADER = ProcessIdentity(100, T0)


def table(*rows: ProcessInfo) -> dict[int, ProcessInfo]:
    return {row.pid: row for row in rows}


def test_group_and_escaped_descendants():
    snapshot = table(
        ProcessInfo(1, 0, 1, T0 - 1000),
        ProcessInfo(100, 1, 100, T0),               # leader
        ProcessInfo(101, 100, 100, T0 + 1),         # child in the group
        ProcessInfo(102, 101, 102, T0 + 2),         # grandchild that setsid()-ed away
        ProcessInfo(103, 102, 102, T0 + 3),         # its own child, also outside our group
        ProcessInfo(104, 100, 100, T0 + 4, zombie=True),
        ProcessInfo(200, 1, 200, T0 + 5),           # unrelated
    )
    members = select_group_members(snapshot, GroupTarget(100, LEADER))
    assert sorted(members.grouped) == [100, 101]
    assert sorted(members.individual) == [102, 103]
    assert not members.pid_reused and not members.shared_group


def test_reused_group_pid_means_the_group_is_gone():
    snapshot = table(
        ProcessInfo(100, 1, 100, T0 + 500),         # a stranger now has the leader's pid
        ProcessInfo(101, 100, 100, T0 + 501),       # and its child
    )
    members = select_group_members(snapshot, GroupTarget(100, LEADER))
    assert members.pid_reused
    assert not members


def test_member_older_than_the_leader_is_spared_and_killpg_is_avoided():
    snapshot = table(
        ProcessInfo(99, 1, 100, T0 - 5),            # older: in the group but not ours
        ProcessInfo(105, 1, 100, T0 + 1),           # ours (leader already gone)
    )
    members = select_group_members(snapshot, GroupTarget(100, LEADER))
    assert members.shared_group
    assert dict(members.grouped) == {}
    assert sorted(members.individual) == [105]


def test_select_tree_follows_descendants_of_live_roots_only():
    snapshot = table(
        ProcessInfo(10, 1, 5, T0),
        ProcessInfo(11, 10, 5, T0 + 1),
        ProcessInfo(12, 1, 5, T0 + 2),              # sibling in the same group: not part of the tree
    )
    members = select_tree(snapshot, [ProcessIdentity(10, T0), ProcessIdentity(13, T0)])
    assert sorted(members.individual) == [10, 11]
    assert not members.grouped

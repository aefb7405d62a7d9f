"""stop_group / kill_group_now / stop_processes against real process trees."""

from __future__ import annotations

import signal

import pytest

import launcher.process.identity as identity_module
from launcher.process.identity import ProcessIdentity, identify, is_alive
from launcher.process.membership import GroupTarget
from launcher.process.stop import kill_group_now, stop_group, stop_processes
from tests.helpers import alive, read_line_matching

GRACE = 0.5


@pytest.fixture(params=["pidfd", "polling"])
def exit_watching(request, monkeypatch):
    """Run a test with pidfds (event-driven) and with the fallback for kernels without them."""
    if request.param == "polling":
        monkeypatch.setattr(identity_module, "_PIDFDS_SUPPORTED", False)
    return request.param


def target_of(tree) -> GroupTarget:
    return GroupTarget(tree.leader.pid, tree.leader)


async def test_tree_ignoring_sigterm_is_killed_after_grace(tree, exit_watching):
    running = tree("--children", "2", "--grandchildren", "2", "--ignore-term", "--escape")
    assert len(running.pids) == 1 + 2 + 4 + 1

    report = await stop_group(target_of(running), stop_signal=signal.SIGTERM, grace=GRACE)

    assert alive(running.pids) == []
    assert report.survivors == ()
    assert set(report.signalled) == set(running.pids)
    assert set(report.resisted) == set(running.pids)  # every one ignored SIGTERM
    assert running.role("escaped")[0] in report.resisted  # found although it left the group
    assert report.elapsed >= GRACE  # SIGKILL only once the grace ran out
    assert "needed SIGKILL" in report.summary


async def test_well_behaved_tree_stops_on_sigterm_without_sigkill(tree, exit_watching):
    running = tree("--children", "2", "--grandchildren", "1", "--escape")

    report = await stop_group(target_of(running), stop_signal=signal.SIGTERM, grace=30.0)

    assert alive(running.pids) == []
    assert report.resisted == ()
    assert set(report.signalled) == set(running.pids)
    # Exits wake the wait: it must not have sat out the 30 s grace.
    assert report.elapsed < 30.0
    assert report.summary.startswith(f"{len(running.pids)} processes stopped on SIGTERM")


async def test_process_forked_after_the_stop_signal_is_stopped_too(tree):
    running = tree("--children", "1", "--grandchildren", "0", "--fork-on-term")

    report = await stop_group(target_of(running), stop_signal=signal.SIGTERM, grace=GRACE)

    late = int(read_line_matching(running.proc, r"^late child \d+").split()[-1])
    assert late in report.signalled
    assert late in report.resisted
    assert alive([*running.pids, late]) == []


async def test_pid_reuse_wrong_create_time_signals_nothing(processes):
    stranger = processes.python("-c", "import time; time.sleep(600)")
    real = identify(stranger.pid)
    recorded = ProcessIdentity(stranger.pid, real.create_time - 3600.0)  # "our" process, long gone

    report = await stop_group(GroupTarget(stranger.pid, recorded), stop_signal=signal.SIGTERM, grace=GRACE)

    assert report.pid_reused
    assert report.signalled == () and report.resisted == ()
    assert is_alive(real) and stranger.poll() is None
    assert "left alone" in report.summary

    now = await kill_group_now(GroupTarget(stranger.pid, recorded))
    assert now.signalled == () and is_alive(real)


# A group founder that starts an "older" process, then (a clock tick later) a "leader", and
# exits: the group then holds a process older than the leader, which must be left alone.
SHARED_GROUP_FOUNDER = """
import subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
older = subprocess.Popen(sleeper)
started = time.time()
while time.time() < started + 0.1:  # create times have 10 ms resolution: make them differ
    time.sleep(0.01)
leader = subprocess.Popen(sleeper)
print(older.pid, leader.pid, flush=True)
"""


async def test_group_member_older_than_the_leader_is_spared(processes):
    founder = processes.python("-c", SHARED_GROUP_FOUNDER)
    older_pid, leader_pid = map(int, read_line_matching(founder, r"^\d+ \d+$").split())
    older, leader = identify(older_pid), identify(leader_pid)
    founder.wait(timeout=30)  # the group's pid is now free; the group lives on in its two members

    report = await stop_group(GroupTarget(founder.pid, leader), stop_signal=signal.SIGTERM, grace=30.0)

    assert report.signalled == (leader.pid,)
    assert not is_alive(leader)
    assert is_alive(older), "a process older than the leader was signalled"


async def test_stop_of_a_group_that_is_already_gone(processes):
    finished = processes.python("-c", "pass")
    identity = identify(finished.pid)
    finished.wait(timeout=30)

    report = await stop_group(GroupTarget(finished.pid, identity), stop_signal=signal.SIGTERM, grace=GRACE)

    assert report.signalled == () and report.survivors == ()
    assert report.summary.startswith("nothing to stop")


async def test_kill_group_now_kills_at_once(tree):
    running = tree("--children", "2", "--grandchildren", "1", "--ignore-term", "--escape")

    report = await kill_group_now(target_of(running))

    assert alive(running.pids) == []
    assert set(report.signalled) == set(running.pids)
    assert report.resisted == () and report.survivors == ()
    assert "SIGKILL" in report.summary


async def test_stop_processes_leaves_the_rest_of_the_group_alone(tree):
    running = tree("--children", "2", "--grandchildren", "1")
    first_child, second_child = (running.identities[pid] for pid in running.role("child"))

    report = await stop_processes([first_child], stop_signal=signal.SIGTERM, grace=30.0)

    assert first_child.pid in report.signalled
    assert not is_alive(first_child)
    assert is_alive(second_child) and is_alive(running.leader)
    stopped_grandchildren = [pid for pid in report.signalled if pid != first_child.pid]
    assert len(stopped_grandchildren) == 1 and alive(stopped_grandchildren) == []

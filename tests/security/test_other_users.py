"""robostack never signals another user's process, even as root: recorded pids, stale matches, descendants.

The second Unix user is real (created with useradd when root, removed after); its
processes are real `sleep`s. Every test ends by checking the stranger's process is
still alive; the fixture kills it afterwards.
"""

from __future__ import annotations


import asyncio
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import psutil

from launcher.process.identity import ProcessIdentity, identify, signal_process
from launcher.process.membership import GroupTarget, ProcessInfo, select_group_members, select_tree
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, ServiceRecord, write_run_state
from launcher.supervise.teardown import stop_recorded_services
from tests.helpers import alive, log_lines, read_line_matching, wait_until
from tests.launcher.conftest import service_command
from tests.security.conftest import run_as, start_as

T0 = 1_700_000_000.0
ME = os.getuid()
STRANGER = ME + 4242


# -- pure: membership never includes another user's process ---------------------------------

def test_another_users_group_member_is_not_a_member_and_blocks_killpg():
    snapshot = {info.pid: info for info in (
        ProcessInfo(100, 1, 100, T0),
        ProcessInfo(101, 100, 100, T0 + 1),
        ProcessInfo(102, 100, 100, T0 + 2, uid=STRANGER),  # a child that switched to another user
    )}
    members = select_group_members(snapshot, GroupTarget(100, ProcessIdentity(100, T0)), uid=ME)
    assert sorted(members.everyone) == [100, 101]
    assert members.shared_group and not members.grouped  # ours one by one: killpg would reach 102


def test_a_stale_tree_stops_at_another_users_process():
    snapshot = {info.pid: info for info in (
        ProcessInfo(200, 1, 200, T0),
        ProcessInfo(201, 200, 200, T0 + 1, uid=STRANGER),
        ProcessInfo(202, 201, 200, T0 + 2),  # below the stranger: not followed either
        ProcessInfo(203, 200, 200, T0 + 3),
        ProcessInfo(204, 1, 204, T0 + 4, uid=None),  # unreadable owner: someone else's
    )}
    tree = select_tree(snapshot, [ProcessIdentity(200, T0), ProcessIdentity(204, T0 + 4)], uid=ME)
    assert sorted(tree.everyone) == [200, 203]


# -- as root, with a real second user ---------------------------------------------------------

def strangers_sleep(processes, user):
    proc = start_as(processes, user, ["sleep", "300"])
    wait_until(lambda: identify(proc.pid) and psutil.Process(proc.pid).uids().real == user.uid,
               what="the second user's sleep")
    return proc


def test_root_never_signals_a_recorded_pid_of_another_user(processes, second_user):
    victim = strangers_sleep(processes, second_user)
    identity = identify(victim.pid)
    assert signal_process(identity, signal.SIGTERM) is False
    assert alive([victim.pid]) == [victim.pid]


def test_a_forged_run_state_naming_another_users_process_stops_nothing(robostack, processes, second_user, tmp_path):
    victim = strangers_sleep(processes, second_user)
    identity = identify(victim.pid)
    stack = robostack(f"services:\n  web:\n    command: {service_command('--name', 'web')}\n")
    paths = StatePaths(stack.state_dir).ensure()
    write_run_state(paths, RunState(stack="forged", stack_file=str(stack.stack_file), run_id="forged",
                                    stop_order=["web"], services={"web": ServiceRecord(
                                        "web", state="healthy", pid=victim.pid, pgid=victim.pid,
                                        create_time=identity.create_time, stop_grace=1.0)}))

    result = stack.run("down")

    assert "Traceback" not in result.stderr
    assert alive([victim.pid]) == [victim.pid]
    assert victim.poll() is None


def test_preflight_spares_another_users_descendant_of_a_stale_match(robostack, processes, second_user, tmp_path):
    marker = "stale-" + os.urandom(5).hex()
    code = ("import subprocess, sys; "
            f"child = subprocess.Popen(['sleep', '300'], user={second_user.uid}, group={second_user.gid}, "
            "extra_groups=[]); print('ready', child.pid, flush=True); child.wait()")
    parent = processes.python("-c", code, marker)
    child_pid = int(read_line_matching(parent, r"^ready \d+").split()[1])
    stack = robostack(f"""services:
  web:
    command: {service_command('--name', 'web')}
    stop_grace: 2s
    stale: ['{marker}\\b']
""")
    result = stack.run("up", "--detach")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stale 'web' process pid {parent.pid}" in result.stdout
    assert parent.wait(timeout=30) is not None  # the stale match itself (ours) was stopped
    assert alive([child_pid]) == [child_pid]  # its child, running as the second user, was not
    assert stack.run("down").returncode == 0


def test_down_leaves_another_users_process_in_a_services_group(robostack, second_user, tmp_path):
    code = ("import subprocess, signal, sys; "
            f"child = subprocess.Popen(['sleep', '300'], user={second_user.uid}, group={second_user.gid}, "
            "extra_groups=[]); print('child', child.pid, flush=True); "
            "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); child.wait()")
    stack = robostack(f"""services:
  mixed:
    command: [{sys.executable!r}, -c, {code!r}]
    health: {{log: {{pattern: '^child \\d+'}}}}
    stop_grace: 2s
""")
    assert stack.run("up", "--detach").returncode == 0
    log = "\n".join(log_lines(stack.state_dir / "logs" / "mixed.log"))
    child_pid = int(next(line for line in log.splitlines() if line.startswith("child ")).split()[1])
    service_pid = stack.run_state()["services"]["mixed"]["pid"]
    assert os.getpgid(child_pid) == service_pid  # the stranger really is in the service's group

    result = stack.run("down")

    assert result.returncode == 0, result.stdout + result.stderr
    assert alive([service_pid]) == []
    assert alive([child_pid]) == [child_pid]


def test_a_user_with_a_forged_run_state_cannot_make_robostack_signal_roots_process(processes, second_user):
    victim = processes.start(["sleep", "300"])  # root's
    identity = identify(victim.pid)
    folder = tempfile.mkdtemp(prefix="rs-forged-", dir="/tmp")
    try:
        os.chown(folder, second_user.uid, second_user.gid)

        def as_the_user() -> tuple[bool, list[str]]:
            paths = StatePaths(Path(folder) / "state").ensure()
            state = RunState(stack="forged", stack_file="/nowhere/stack.yaml", run_id="forged", stop_order=["gw"],
                             services={"gw": ServiceRecord("gw", pid=identity.pid, pgid=identity.pid,
                                                           create_time=identity.create_time, stop_grace=0.5)})
            write_run_state(paths, state)
            notes: list[str] = []
            asyncio.run(stop_recorded_services(state, notes.append))
            return signal_process(identity, signal.SIGKILL), notes

        sent, notes = run_as(second_user, as_the_user)

        assert sent is False
        assert alive([victim.pid]) == [victim.pid] and victim.poll() is None
        assert not any("stopped" in note for note in notes), notes
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_status_as_another_user_on_roots_state_folder_is_refused_in_one_line(processes, second_user, tmp_path):
    folder = tempfile.mkdtemp(prefix="rs-roots-", dir="/tmp")  # root's, 0700
    try:
        def as_the_user() -> str:
            from launcher.errors import StateError

            try:
                StatePaths(Path(folder)).verify()
            except StateError as error:
                return f"{error.exit_code} {error}"
            return "accepted"

        answer = run_as(second_user, as_the_user)
        assert answer.startswith("6 state folder ") and "belongs to user root (uid 0)" in answer, answer
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""`status` and `down` tell the truth whatever instant the supervisor died, hung, or was still starting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil

from launcher.process.search import find_processes_carrying
from launcher.state.interpret import RUN_TOKEN_VARIABLE
from launcher.state.paths import StatePaths
from launcher.state.store import StackLock
from tests.helpers import REPO, free_port, read_line_matching, wait_until
from tests.launcher.conftest import service_command

STALLED_SUPERVISOR = Path(__file__).with_name("stalled_supervisor.py")


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_supervisor_killed_between_the_fork_and_saving_the_pid_leaves_nothing_misreported(robostack, processes):
    port = free_port()
    stack = robostack(f"services:\n  a:\n    command: {service_command('--port', str(port))}\n"
                      f"    health: {{tcp: {{port: {port}}}}}\n")
    supervisor = processes.python(str(STALLED_SUPERVISOR), str(stack.stack_file), str(stack.state_dir),
                                  env={"ROBOSTACK_STATE_DIR": str(stack.state_dir)})
    forked = int(read_line_matching(supervisor, r"forked a (\d+)").split()[-1])
    assert stack.run_state()["services"]["a"]["pid"] is None  # only the record written before the fork
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(timeout=30)
    status = stack.run("status", "--json")
    assert status.returncode == 5  # no supervisor
    service = json.loads(status.stdout)["services"][0]
    assert (service["state"], service["pid"]) == ("orphaned", forked)  # found by the run token, not "stopped"
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "a: 1 process stopped on SIGTERM" in down.stdout  # stopped as the service, in order, with its grace
    wait_until(lambda: gone(forked), what="the service forked before the supervisor died to be stopped")


def test_a_supervisor_that_does_not_answer_is_shown_as_not_responding(robostack):
    port = free_port()
    stack = robostack(f"services:\n  a:\n    command: {service_command('--port', str(port))}\n"
                      f"    health: {{tcp: {{port: {port}}}}}\n")
    assert stack.run("up", "--detach").returncode == 0
    supervisor = stack.run_state()["supervisor_pid"]
    os.kill(supervisor, signal.SIGSTOP)  # hung: its pid lives, it answers nothing
    try:
        table = stack.run("status")
        assert table.returncode == 1
        assert f"supervisor pid {supervisor}, not responding" in table.stdout
        assert f"supervisor (pid {supervisor}) not responding" in table.stdout
        down = stack.run("down")  # still stops it: SIGTERM, then SIGCONT so it can act on it
        assert down.returncode == 0, down.stdout + down.stderr
    finally:
        if psutil.pid_exists(supervisor):
            os.kill(supervisor, signal.SIGCONT)
    wait_until(lambda: gone(supervisor), what="the supervisor to exit")


def test_down_racing_a_fresh_up_waits_for_it_and_stops_it(robostack, tmp_path):
    """The new `up` holds the lock but is still stopping the previous run's leftover: its run state is not
    written yet. `down` must not say "stack is down" and let the stack come up behind it."""
    journal = tmp_path / "journal"
    port = free_port()
    stack = robostack(f"""services:
  slow:
    command: {service_command('--name', 'slow', '--journal', str(journal), '--journal-term', '--ignore-term',
                              '--port', str(port))}
    health: {{tcp: {{port: {port}}}}}
    stop_grace: 1s
""")
    assert stack.run("up", "--detach").returncode == 0
    first = stack.run_state()
    os.kill(first["supervisor_pid"], signal.SIGKILL)  # leaves `slow` running, recorded in run.json
    wait_until(lambda: gone(first["supervisor_pid"]), what="the first supervisor to die")
    up = subprocess.Popen(stack.argv("up", "--detach"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=stack.env, cwd=REPO)
    try:
        # The new supervisor has the lock and is waiting out the leftover's grace (it ignores SIGTERM).
        wait_until(lambda: journal.exists() and "term slow" in journal.read_text(), what="the leftover's SIGTERM")
        new_supervisor = StackLock(StatePaths(stack.state_dir)).holder()
        assert new_supervisor not in (None, first["supervisor_pid"])
        assert stack.run_state()["run_id"] == first["run_id"]  # not written yet
        down = stack.run("down")
        out, err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"a supervisor (pid {new_supervisor}) is starting" in down.stdout
    # Interrupted while starting (130), or it had just reported "up" (0) when `down` stopped it: either way
    # `down` returned only once the new run was stopped, never before it came up.
    assert up.returncode in (0, 130), out + err
    wait_until(lambda: gone(new_supervisor), what="the new supervisor to exit")
    assert StackLock(StatePaths(stack.state_dir)).holder() is None
    state = stack.run_state()
    assert state["run_id"] != first["run_id"]
    assert find_processes_carrying(RUN_TOKEN_VARIABLE, state["run_token"]) == []
    assert find_processes_carrying(RUN_TOKEN_VARIABLE, first["run_token"]) == []

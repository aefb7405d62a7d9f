"""A closed terminal, a dropped SSH session, a reader that went away: `up` in the foreground stops gracefully.

Each test runs the real CLI with a chain a <- b <- c whose services journal the SIGTERM
they receive, and checks the timeline: each service stopped, dependents first, none
killed, and no process of the run left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from typing import Iterator

import psutil
import pytest

from tests.helpers import REPO, processes_in_group, wait_for_log_line, wait_until
from tests.launcher.stacks import chain_stack


def assert_stopped_in_reverse_order_and_nothing_left(stack, journal, pgids: list[int]) -> None:
    events = stack.events()
    stops = [(e["service"], e["event"]) for e in events if e["event"] in ("stopping", "stopped") and e["service"]]
    assert stops == [("c", "stopping"), ("c", "stopped"), ("b", "stopping"), ("b", "stopped"),
                     ("a", "stopping"), ("a", "stopped")], stops
    assert not [e for e in events if "killed" in e.get("reason", "")]
    terms = [line.split()[1] for line in journal.read_text().splitlines() if line.startswith("term ")]
    assert terms == ["c", "b", "a"]  # each got its own SIGTERM, dependents first
    assert events[-1]["event"] == "supervisor-stopped"
    for pgid in pgids:
        assert processes_in_group(pgid) == []


def up_and_recorded(stack) -> tuple[int, list[int]]:
    """Wait until the last service is healthy (the timeline); the supervisor's pid and the services' groups."""
    wait_for_log_line(stack.state_dir / "events.jsonl", r'"service": "c", "event": "healthy"')
    state = stack.run_state()
    return state["supervisor_pid"], [record["pgid"] for record in state["services"].values()]


def wait_gone(pid: int) -> None:
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               what=f"pid {pid} to exit")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_killing_the_tmux_session_that_runs_up_stops_everything_in_reverse_order(robostack, tmp_path):
    journal = tmp_path / "journal"
    stack = robostack(chain_stack(journal))
    server = f"robostack-test-{uuid.uuid4().hex[:12]}"
    command = " ".join(["cd", str(REPO), "&&", "exec", *stack.argv("up")])
    env = dict(stack.env, TMUX="")  # a private server even if the tests run inside tmux
    try:
        subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "robo", "-x", "200", "-y", "50", command],
                       env=env, check=True, timeout=30)
        supervisor, pgids = up_and_recorded(stack)
        subprocess.run(["tmux", "-L", server, "kill-session", "-t", "robo"], env=env, check=True, timeout=30)
        wait_gone(supervisor)
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], env=env, capture_output=True, timeout=30)
    assert_stopped_in_reverse_order_and_nothing_left(stack, journal, pgids)


@contextlib.contextmanager
def foreground_up(stack, stdout) -> Iterator[subprocess.Popen]:
    """`robostack up` in the foreground of its own session, output to `stdout`; killed if the test fails."""
    up = subprocess.Popen(stack.argv("up"), stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=stack.env, cwd=REPO, start_new_session=True)
    try:
        yield up
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


def test_a_hangup_with_the_output_in_a_file_is_one_graceful_stop(robostack, tmp_path):
    """The kernel hangs up the foreground group and the shell forwards the hangup: two SIGHUPs, one stop."""
    journal = tmp_path / "journal"
    stack = robostack(chain_stack(journal))
    with open(tmp_path / "up.out", "w") as output, foreground_up(stack, output) as up:
        _, pgids = up_and_recorded(stack)
        up.send_signal(signal.SIGHUP)
        up.send_signal(signal.SIGHUP)
        assert up.wait(timeout=60) == 130
    assert_stopped_in_reverse_order_and_nothing_left(stack, journal, pgids)
    assert "stack 'stack0' stopped (received SIGHUP)" in (tmp_path / "up.out").read_text()


def test_a_reader_that_went_away_never_aborts_the_stop(robostack, tmp_path):
    """`robostack up | tee` and the tee dies: writes fail with EPIPE; progress goes on in supervisor.log."""
    journal = tmp_path / "journal"
    stack = robostack(chain_stack(journal))
    with foreground_up(stack, subprocess.PIPE) as up:
        _, pgids = up_and_recorded(stack)
        up.stdout.close()  # the reader is gone
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 130
    assert_stopped_in_reverse_order_and_nothing_left(stack, journal, pgids)
    log = (stack.state_dir / "supervisor.log").read_text()
    assert "terminal output failed (Broken pipe); progress continues in" in log
    assert log.rstrip().endswith("stopped (received SIGTERM)")

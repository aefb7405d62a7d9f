"""exec probe: real commands, their exit status, output, environment, and the group killed at the deadline."""

from __future__ import annotations

import sys

from launcher.probes.exec import command_argv, last_line
from launcher.probes.registry import PROBES
from launcher.stack.model import ExecCheck
from tests.helpers import alive, wait_until


async def test_exit_zero_is_healthy(context):
    result = await PROBES["exec"](ExecCheck(command=["true"]), 5.0, context)
    assert result.ok, result.detail
    assert result.detail == "true exited 0 (no output)"


async def test_nonzero_exit_shows_the_last_line_of_output(context):
    command = "sh -c 'echo checking port 4002; echo \"API not answering\" >&2; exit 3'"
    result = await PROBES["exec"](ExecCheck(command=command), 5.0, context)
    assert not result.ok
    assert result.detail == "sh exited 3: API not answering"
    assert result.facts["exit_code"] == 3


async def test_runs_in_the_service_folder_with_its_environment(context, tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_LAUNCHER", "inherited")
    context.env = {"PROBE_FLAG": "from-stack"}
    script = "import os; print(os.getcwd(), os.environ['PROBE_FLAG'], os.environ['FROM_LAUNCHER'])"
    result = await PROBES["exec"](ExecCheck(command=[sys.executable, "-c", script]), 10.0, context)
    assert result.ok, result.detail
    assert result.facts["last_line"] == f"{tmp_path} from-stack inherited"


async def test_deadline_kills_the_whole_group(context, tmp_path):
    pid_file = tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; echo waiting for gateway; sleep 60"]
    result = await PROBES["exec"](ExecCheck(command=command), 1.0, context)
    assert not result.ok
    assert result.detail == "sh still running after 1s, killed: waiting for gateway"
    assert result.facts["exit_code"] is None
    background = int(pid_file.read_text())
    wait_until(lambda: not alive([background]), timeout=10, what=f"background child {background} to be gone")


async def test_a_successful_check_leaves_no_background_process(context, tmp_path):
    pid_file = tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; echo ok"]
    result = await PROBES["exec"](ExecCheck(command=command), 10.0, context)
    assert result.ok, result.detail
    assert result.detail == "sh exited 0: ok"
    background = int(pid_file.read_text())
    wait_until(lambda: not alive([background]), timeout=10, what=f"background child {background} to be gone")


async def test_killed_by_a_signal(context):
    result = await PROBES["exec"](ExecCheck(command=["sh", "-c", "kill -TERM $$"]), 5.0, context)
    assert not result.ok
    assert result.detail == "sh killed by SIGTERM (no output)"


async def test_missing_command_and_missing_folder(context, tmp_path):
    result = await PROBES["exec"](ExecCheck(command="no-such-robostack-command --check"), 5.0, context)
    assert not result.ok
    assert result.detail == "command not found: no-such-robostack-command"
    context.cwd = tmp_path / "gone"
    result = await PROBES["exec"](ExecCheck(command=["true"]), 5.0, context)
    assert not result.ok
    assert result.detail == f"exec probe folder {tmp_path / 'gone'} does not exist"


def test_pure_parts():
    assert command_argv("curl -fsS 'http://127.0.0.1:8000/a b'") == ["curl", "-fsS", "http://127.0.0.1:8000/a b"]
    assert command_argv(["a", "b c"]) == ["a", "b c"]
    assert last_line(b"one\ntwo\n\n   \n") == "two"
    assert last_line(b"") == ""

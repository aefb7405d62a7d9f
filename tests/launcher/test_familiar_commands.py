"""The commands a docker compose user types from habit, through the real CLI: ps, ls, stop, start, wait, up --wait,
events -n/--since, --no-color and NO_COLOR, full width in a pipe, closed pipes, and `up trader`."""

from __future__ import annotations

import json
import os
import re
import subprocess

import yaml

from tests.helpers import REPO
from tests.launcher.conftest import service_command
from tests.launcher.test_logs_cli import run_on_a_terminal

WIDE = "w" * 300  # a ready line longer than any terminal


def pair(robostack, *, name: str = "habits"):
    """a <- b, both ready at once; b's ready line is wider than a terminal (its probe detail is too)."""
    return robostack(yaml.safe_dump({"name": name, "services": {
        "a": {"command": service_command("--name", "a", "--print-ready"), "health": {"log": {"pattern": "a is ready"}},
              "stop_grace": "2s"},
        "b": {"command": f"sh -c 'echo b is ready {WIDE}; exec sleep 600'", "depends_on": ["a"],
              "on_dependency_restart": "restart", "health": {"log": {"pattern": "b is ready"}}, "stop_grace": "2s"},
    }}))


def test_stop_start_wait_ps_and_events_as_a_compose_user_types_them(robostack):
    stack = pair(robostack)
    assert stack.run("wait").returncode == 5  # nothing runs yet: "not running", not a hang
    up = stack.run("up", "--wait")  # docker compose's `up --wait`: detach once healthy
    assert up.returncode == 0, up.stdout + up.stderr
    assert "stack 'habits' is up" in up.stdout
    assert stack.run("wait", "a", "b", "--timeout", "30s").returncode == 0

    ps, status = stack.run("ps"), stack.run("status")
    assert ps.returncode == status.returncode == 0
    assert ps.stdout.splitlines()[1] == status.stdout.splitlines()[1]  # the same table
    row = next(line for line in status.stdout.splitlines() if line.startswith("b "))
    assert len(row) > 200 and not row.endswith("…")  # piped: never cut to a width
    assert "waiting" not in status.stdout and "probe" in row  # the present: up, and its current probe

    stopped = stack.run("stop", "a")
    assert stopped.returncode == 0 and stopped.stdout.splitlines()[-1] == "a halted"
    states = {s["name"]: s for s in stack.status()["services"]}
    assert states["a"]["state"] == states["b"]["state"] == "halted"  # b follows a restart of a: stopped first
    assert states["a"]["pid"] and states["a"]["health"] is None  # no probe result for what runs no probe
    assert stack.run("status").returncode == 0  # halted on request is not a problem
    waited = stack.run("wait", "--timeout", "1s")
    assert waited.returncode == 1 and waited.stderr.startswith("robostack: a is halted: stopped by `robostack ")
    assert f"`robostack -f {stack.stack_file} stop`" in waited.stderr  # said the way the user named the stack

    started = stack.run("start", "a")
    assert started.returncode == 0 and started.stdout.splitlines()[-1] == "a started"
    assert stack.run("wait", "--timeout", "30s").returncode == 0
    assert {s["state"] for s in stack.status()["services"]} == {"healthy"}
    assert stack.run("stop", "nope").returncode == 2

    last = stack.run("events", "-n", "3", "--json")
    events = [json.loads(line) for line in last.stdout.splitlines()]
    assert len(events) == 3 and events == stack.events()[-3:]
    assert stack.run("events", "--since", "2h").stdout.count("\n") == len(stack.events())
    assert stack.run("events", "--since", "2099-01-01T00:00").stdout == ""
    assert stack.run("events", "--since", "yesterday-ish").returncode == 2


def test_ls_lists_every_stack_of_this_user(robostack):
    first, second = pair(robostack, name="first"), pair(robostack, name="second")
    second.state_dir = first.state_dir.parent / "xdg-state" / "robostack" / "second-folder"  # a default location
    assert first.run("up", "-d").returncode == 0
    listed = first.run("ls")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("first "))
    assert "running" in row and "2/2 up" in row and str(first.stack_file) in row
    as_json = [json.loads(line) for line in first.run("ls", "--json").stdout.splitlines()]
    assert {entry["name"]: entry["state"] for entry in as_json}["first"] == "running"
    assert first.run("down").returncode == 0
    assert "stopped" in next(line for line in first.run("ls").stdout.splitlines() if line.startswith("first "))


def test_colours_only_on_a_terminal_and_never_with_no_color(robostack):
    stack = pair(robostack)
    assert stack.run("up", "-d").returncode == 0
    coloured = run_on_a_terminal(stack, "status", environ={"COLUMNS": "100"})
    assert "\x1b[32mhealthy" in coloured
    row = next(line for line in coloured.splitlines() if line.startswith("b "))
    assert row.endswith("…") and len(row) < 200  # on a terminal the detail fits its width (colour codes aside)
    assert "\x1b[" not in run_on_a_terminal(stack, "--no-color", "status")
    assert "\x1b[" not in run_on_a_terminal(stack, "status", environ={"NO_COLOR": "1"})
    assert "\x1b[" not in run_on_a_terminal(stack, "--no-color", "logs", "-n", "2")
    assert "\x1b[" not in stack.run("status").stdout  # a pipe


def test_a_closed_pipe_changes_no_exit_code(robostack):
    stack = pair(robostack)
    env = {key: value for key, value in stack.env.items() if key != "COLUMNS"}
    command = " ".join(f"'{word}'" for word in stack.argv("up", "-d"))
    piped = subprocess.run(["bash", "-c", f"{command} | head -3; echo \"exit=${{PIPESTATUS[0]}}\""],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert piped.stdout.splitlines()[-1] == "exit=0", piped.stdout + piped.stderr  # the stack came up
    assert len(piped.stdout.splitlines()) == 4 and "Traceback" not in piped.stderr
    assert {s["state"] for s in stack.status()["services"]} == {"healthy"}
    status = " ".join(f"'{word}'" for word in stack.argv("status"))
    closed = subprocess.run(["bash", "-c", f"{status} | head -1; echo \"exit=${{PIPESTATUS[0]}}\""],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert closed.stdout.splitlines()[-1] == "exit=0" and closed.stderr == ""


def test_a_symbol_that_is_a_service_name_is_refused_with_a_hint(robostack):
    stack = pair(robostack)
    refused = stack.run("up", "AAPL,B")
    assert refused.returncode == 2
    assert refused.stderr.startswith("robostack: 'B' is the name of a service of this stack, not a symbol")
    assert f"-f {stack.stack_file} start b" in refused.stderr  # the hint names the stack file given
    assert not (stack.state_dir / "run.json").exists()  # nothing was started


def test_every_command_documents_its_exit_codes(robostack):
    stack = pair(robostack)
    for command in ("up", "down", "status", "ps", "ls", "logs", "events", "restart", "stop", "start", "wait",
                    "doctor", "config"):
        shown = stack.run(command, "--help")
        assert shown.returncode == 0 and "Exit codes:" in shown.stdout, command
        assert "A closed output (`| head`) never changes the exit code." in shown.stdout
    assert "5    the stack is not running" in stack.run("wait", "--help").stdout


def test_up_attach_shows_what_the_services_write_in_the_foreground(robostack):
    import signal

    from tests.helpers import read_line_matching

    stack = pair(robostack)
    up = stack.start("up", "--attach")
    try:
        read_line_matching(up, r"stack 'habits' is up")  # its own progress, and the services' own lines:
        for pattern in (r"^a\s+\| a is ready$", r"^b\s+\| b is ready w+$"):  # prefixed like `logs`
            if not any(re.search(pattern, line) for line in up._seen_lines):
                read_line_matching(up, pattern)
        os.killpg(up.pid, signal.SIGINT)
        assert up.wait(timeout=60) == 130
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


def test_suggested_commands_name_the_stack_file_the_way_the_user_did():
    from launcher.commands.context import CommandContext

    text = "see `robostack logs web`, then `robostack restart web`; `robostack -f other.yaml down` stays"
    assert CommandContext(None).suggest(text) == text
    assert CommandContext("my stacks/prod.yaml").suggest(text) == (
        "see `robostack -f 'my stacks/prod.yaml' logs web`, then `robostack -f 'my stacks/prod.yaml' restart web`; "
        "`robostack -f other.yaml down` stays")
    from_env = CommandContext("prod.yaml", file_from_environment=True)
    assert from_env.suggest("`robostack up`") == "`ROBOSTACK_FILE=prod.yaml robostack up`"
    assert from_env.command("start", "trader") == "ROBOSTACK_FILE=prod.yaml robostack start trader"

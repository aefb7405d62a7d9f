"""Pre-flight never stops what a stale pattern must not reach, nor another live stack's processes.

Every dangerous pattern here is unique to the test (a random marker) and would at worst
reach processes the test started itself; each test checks that they all still run.
"""

from __future__ import annotations

import os

import pytest

from launcher.hygiene.stale_check import ProcessRow, stale_pattern_problems
from launcher.state.paths import StatePaths
from launcher.state.registry import list_stacks, read_entry, remember
from launcher.state.store import RunState, write_run_state
from tests.helpers import alive, free_port, read_line_matching, wait_until
from tests.hygiene.conftest import stack_from
from tests.launcher.conftest import service_command

ME = os.getuid()


@pytest.fixture
def marker() -> str:
    return "mk" + os.urandom(6).hex()


# -- the judgement, on values ---------------------------------------------------------------

def judged(tmp_path, pattern: str, rows: list[ProcessRow], protected: set[int] = frozenset()):
    stack = stack_from(f"services:\n  svc:\n    command: prog\n    stale: ['{pattern}']\n", tmp_path)
    return stale_pattern_problems(stack, rows, uid=ME, protected=set(protected))


def test_a_precise_pattern_matching_one_leftover_is_fine(tmp_path):
    rows = [ProcessRow(10, "python -m services.gateway_sim --port 4002", "python", ME),
            ProcessRow(11, "bash", "bash", ME)]
    assert judged(tmp_path, r"gateway_sim\b.*--port[= ]4002\b", rows) == []


def test_matching_robostack_itself_or_its_shell_is_refused(tmp_path):
    rows = [ProcessRow(20, "python -m launcher -f /srv/x/stack.yaml up", "python", ME)]
    [(path, message)] = judged(tmp_path, "srv/x", rows, protected={20})
    assert path == ("services", "svc", "stale", 0)
    assert "matches robostack itself or the shell it runs in: pid 20 (python -m launcher" in message


def test_matching_any_shell_or_init_is_refused(tmp_path):
    rows = [ProcessRow(1, "/sbin/init bootx", "systemd", 0), ProcessRow(30, "-zsh tradebot", "zsh", ME)]
    [(_, message)] = judged(tmp_path, "tradebot|bootx", rows)
    assert "matches a shell, a login session or init: pid 1 (init bootx), pid 30 (-zsh tradebot)" in message


def test_matching_more_than_a_handful_is_refused_with_the_list(tmp_path):
    rows = [ProcessRow(100 + n, f"worker --pool p{n}", "worker", ME) for n in range(12)]
    rows.append(ProcessRow(500, "worker --pool stranger", "worker", ME + 1))  # not ours: never counted
    [(_, message)] = judged(tmp_path, "worker --pool", rows)
    assert "matches 12 processes, more than the 8" in message
    assert "pid 100 (worker --pool p0)" in message and "and 6 more" in message


# -- through the CLI; nothing the patterns match is ever signalled ---------------------------

def test_a_pattern_matching_robostack_itself_is_refused_with_file_line_and_field(robostack, marker):
    stack = robostack(f"services:\n  svc:\n    command: {service_command('--name', 'svc')}\n    stale: ['{marker}']\n",
                      name=f"{marker}.yaml")
    result = stack.run("up", "--detach")
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.startswith(f"robostack: {stack.stack_file}:4 services.svc.stale[0]: \"{marker}\" matches robostack "
                              "itself or the shell it runs in: pid ")
    assert "Traceback" not in result.stderr and "nothing was stopped" in message


def test_a_pattern_matching_many_processes_stops_none_of_them(robostack, processes, marker):
    sleepers = [processes.python("-c", "import time; print('up', flush=True); time.sleep(300)", marker)
                for _ in range(9)]
    for sleeper in sleepers:
        read_line_matching(sleeper, "^up$")
    stack = robostack(f"services:\n  svc:\n    command: {service_command('--name', 'svc')}\n    stale: ['{marker}']\n")

    for command in (("up", "--dry-run"), ("up", "--detach")):
        result = stack.run(*command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "matches 9 processes, more than the 8" in result.stderr and "Traceback" not in result.stderr
    assert alive([proc.pid for proc in sleepers]) == sorted(proc.pid for proc in sleepers)


def test_a_pattern_matching_a_shell_stops_nothing(robostack, processes, marker):
    shell = processes.start(["bash", "-c", "echo up; sleep 300; :", marker])
    read_line_matching(shell, "^up$")
    stack = robostack(f"services:\n  svc:\n    command: {service_command('--name', 'svc')}\n    stale: ['{marker}']\n")
    result = stack.run("up", "--detach")
    assert result.returncode == 2 and "matches a shell, a login session or init" in result.stderr, result.stderr
    assert shell.poll() is None


# -- another live stack is never a leftover -------------------------------------------------

def same_ports_stack(port: int, marker: str, tmp_path) -> str:
    return f"""services:
  web:
    command: {service_command('--name', 'web-' + marker, '--port', str(port))}
    ports: [{port}]
    health: {{tcp: {{port: {port}}}}}
    stop_grace: 2s
    stale: ['--name web-{marker}\\b']
"""


def two_stacks_first_up(robostack, marker: str, tmp_path):
    """Two stack files naming the same port and stale pattern; the first is up. Returns (first, second, run state)."""
    port = free_port()
    first = robostack(same_ports_stack(port, marker, tmp_path))
    second = robostack(same_ports_stack(port, marker, tmp_path))
    assert first.run("up", "--detach").returncode == 0
    return first, second, first.run_state()


def test_a_second_stack_on_the_same_ports_refuses_and_names_the_first(robostack, marker, tmp_path):
    first, second, state = two_stacks_first_up(robostack, marker, tmp_path)
    web_pid, supervisor = state["services"]["web"]["pid"], state["supervisor_pid"]

    result = second.run("up", "--detach")

    assert result.returncode == 4, result.stdout + result.stderr
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"matches pid {web_pid} (" in message
    assert (f"service 'web' of the running stack 'stack0' (stack file {first.stack_file}, supervisor pid "
            f"{supervisor})") in message
    assert f"robostack -f {first.stack_file} down" in message and f"ROBOSTACK_STATE_DIR={first.state_dir}" in message
    assert message.endswith("nothing was started")
    assert alive([web_pid]) == [web_pid]
    status = first.status()
    assert status["supervisor_pid"] == supervisor and status["services"][0]["state"] == "healthy"

    dry = second.run("up", "--dry-run")
    assert dry.returncode == 4 and "would refuse" in dry.stdout and f"pid {web_pid}" in dry.stdout
    assert first.run("down").returncode == 0


def test_a_stack_whose_supervisor_died_still_owns_its_services(robostack, marker, tmp_path):
    first, second, state = two_stacks_first_up(robostack, marker, tmp_path)
    os.kill(state["supervisor_pid"], 9)
    wait_until(lambda: not alive([state["supervisor_pid"]]), what="the first supervisor to die")

    result = second.run("up", "--detach")

    assert result.returncode == 4, result.stdout + result.stderr
    assert "whose supervisor is gone" in result.stderr and f"robostack -f {first.stack_file} down" in result.stderr
    assert alive([state["services"]["web"]["pid"]]) == [state["services"]["web"]["pid"]]
    assert first.run("down").returncode == 0


# -- the registry ---------------------------------------------------------------------------

def test_the_registry_finds_default_and_custom_state_folders(tmp_path):
    environ = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    default = StatePaths(tmp_path / "xdg" / "robostack" / "trader-0123abcd")
    default.root.mkdir(parents=True, mode=0o700)
    write_run_state(default, RunState(stack="robo", stack_file="/srv/robo/stack.yaml", run_id="r1", run_token="t1"))
    custom = StatePaths(tmp_path / "elsewhere" / "state").ensure()
    remember(custom.root, environ)
    remember(custom.root, environ)  # idempotent
    write_run_state(custom, RunState(stack="alt", stack_file="/srv/alt/stack.yaml", run_id="r2", run_token="t2"))
    gone = tmp_path / "gone"
    gone.mkdir()
    remember(gone, environ)
    gone.rmdir()

    entries = list_stacks(environ)

    assert [(entry.name, entry.custom, entry.run_token, entry.running) for entry in entries] == [
        ("robo", False, "t1", False), ("alt", True, "t2", False)]
    assert entries[1].stop_command() == f"ROBOSTACK_STATE_DIR={custom.root} robostack -f /srv/alt/stack.yaml down"
    assert len(os.listdir(tmp_path / "xdg" / "robostack" / "index")) == 1  # the vanished folder's entry dropped


def test_the_registry_lists_an_unusable_folder_with_its_problem(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 54321, 54321)
    entry = read_entry(folder, custom=True)
    assert entry.state is None and "belongs to uid 54321" in entry.problem


def test_up_records_a_custom_state_folder(robostack, tmp_path):
    stack = robostack(f"services:\n  svc:\n    command: {service_command('--name', 'svc')}\n")
    assert stack.run("up", "--detach").returncode == 0
    environ = {"XDG_STATE_HOME": stack.env["XDG_STATE_HOME"]}
    [entry] = list_stacks(environ)
    assert entry.state_dir == stack.state_dir and entry.running and entry.stack_file == str(stack.stack_file)
    assert stack.run("down").returncode == 0
    assert not read_entry(stack.state_dir, custom=True).running


def test_an_unwritable_index_never_stops_up(tmp_path):
    """As after `su`: HOME is someone else's. The folder is simply not indexed."""
    folder = StatePaths(tmp_path / "state").ensure()
    assert remember(folder.root, {"XDG_STATE_HOME": "/proc/1/no-such-folder"}) is False

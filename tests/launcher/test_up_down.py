"""`robostack up` / `down` on real processes: gating order, clean teardown, pid reuse, bad files."""

from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from tests.helpers import free_port, processes_in_group, read_line_matching, wait_until
from tests.launcher.conftest import service_command


def journal_entries(path) -> list[tuple[str, str]]:
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()]


def chain_stack(journal, ports, delays=(0.4, 0.3, 0.2)) -> str:
    services = []
    for index, name in enumerate("abc"):
        depends = f"\n    depends_on: [{'abc'[index - 1]}]" if index else ""
        services.append(f"""  {name}:
    command: {service_command('--name', name, '--journal', str(journal), '--ready-after', str(delays[index]),
                              '--port', str(ports[index]))}{depends}
    health: {{tcp: {{port: {ports[index]}}}}}
    stop_grace: 2s""")
    # File order deliberately differs from dependency order.
    return "services:\n" + "\n".join([services[2], services[0], services[1]]) + "\n"


def test_up_detach_gates_each_service_on_the_previous_ones_health(robostack, tmp_path):
    journal = tmp_path / "journal"
    ports = [free_port() for _ in range(3)]
    stack = robostack(chain_stack(journal, ports))
    result = stack.run("up", "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    # Returned only once all were healthy, and each started only after the previous one was ready.
    assert journal_entries(journal) == [("start", "a"), ("ready", "a"), ("start", "b"), ("ready", "b"),
                                        ("start", "c"), ("ready", "c")]
    status = stack.status()
    assert [(s["name"], s["state"]) for s in status["services"]] == [("a", "healthy"), ("b", "healthy"),
                                                                     ("c", "healthy")]
    assert status["supervisor_pid"] is not None
    assert stack.run("status").returncode == 0


def test_second_up_is_refused_naming_the_running_supervisor(robostack, tmp_path):
    port = free_port()
    stack = robostack(f"services:\n  a:\n    command: {service_command('--port', str(port))}\n"
                      f"    health: {{tcp: {{port: {port}}}}}\n")
    assert stack.run("up", "--detach").returncode == 0
    supervisor = stack.status()["supervisor_pid"]
    second = stack.run("up", "--detach")
    assert second.returncode == 3
    assert f"already running (supervisor pid {supervisor})" in second.stderr
    assert "Traceback" not in second.stderr


def stubborn_stack(grace: str = "1s") -> str:
    return (f"services:\n  stubborn:\n    command: {service_command('--ignore-term', '--grandchildren', '2', '--print-ready')}\n"
            f"    health: {{log: {{pattern: 'is ready'}}}}\n    stop_grace: {grace}\n")


def started_tree(stack) -> tuple[int, list[int]]:
    pgid = stack.run_state()["services"]["stubborn"]["pgid"]
    members = wait_until(lambda: [p.pid for p in processes_in_group(pgid)] if len(processes_in_group(pgid)) == 5 else None,
                         what="the service and its 4 descendants")
    return pgid, members


def test_down_stops_a_tree_that_ignores_sigterm(robostack):
    stack = robostack(stubborn_stack())
    assert stack.run("up", "--detach").returncode == 0
    pgid, members = started_tree(stack)
    result = stack.run("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SIGKILL" in result.stdout  # the report says what resisted
    assert processes_in_group(pgid) == []
    assert not [pid for pid in members if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_down_after_the_detached_supervisor_was_sigkilled(robostack):
    stack = robostack(stubborn_stack())
    assert stack.run("up", "--detach").returncode == 0
    pgid, _ = started_tree(stack)
    supervisor = stack.status()["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(supervisor) or psutil.Process(supervisor).status() == "zombie",
               what="the supervisor to die")
    assert len(processes_in_group(pgid)) == 5, "the services outlive their supervisor until `down`"
    status = stack.run("status", "--json")
    assert status.returncode == 5
    assert json.loads(status.stdout)["services"][0]["state"] == "orphaned"
    result = stack.run("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert processes_in_group(pgid) == []


def test_ctrl_c_in_the_foreground_stops_everything(robostack):
    stack = robostack(stubborn_stack())
    up = stack.start("up")
    read_line_matching(up, "is up")
    pgid, _ = started_tree(stack)
    up.send_signal(signal.SIGINT)
    assert up.wait(timeout=60) == 130  # stopped by a signal, every service stopped (the one exit-code rule)
    assert processes_in_group(pgid) == []


def test_second_ctrl_c_kills_without_waiting_for_the_grace(robostack):
    stack = robostack(stubborn_stack(grace="10m"))
    up = stack.start("up")
    read_line_matching(up, "is up")
    pgid, _ = started_tree(stack)
    up.send_signal(signal.SIGINT)
    read_line_matching(up, "stopping")
    up.send_signal(signal.SIGINT)
    up.wait(timeout=60)  # far less than the 10-minute grace
    assert processes_in_group(pgid) == []


def test_down_never_signals_a_process_whose_pid_was_reused(robostack, processes):
    stack = robostack(stubborn_stack())
    stranger = processes.python("-c", "import time; print('up', flush=True); time.sleep(600)")
    read_line_matching(stranger, "up")
    stack.state_dir.mkdir(mode=0o700)
    create_time = psutil.Process(stranger.pid).create_time()
    record = {"name": "stubborn", "state": "healthy", "pid": stranger.pid, "pgid": stranger.pid,
              "create_time": create_time - 1000.0}  # the recorded process started long before this one
    (stack.state_dir / "run.json").write_text(json.dumps(
        {"stack": "x", "stack_file": str(stack.stack_file), "run_id": "old", "services": {"stubborn": record},
         "stop_order": ["stubborn"]}))
    result = stack.run("down")
    assert result.returncode == 0, result.stderr
    assert stranger.poll() is None, "a process that merely reuses a recorded pid must survive"


def test_a_service_that_dies_during_start_fails_the_gate_and_stops_the_rest(robostack, tmp_path):
    journal = tmp_path / "journal"
    port = free_port()
    stack = robostack(f"""services:
  base:
    command: {service_command('--name', 'base', '--journal', str(journal), '--port', str(port))}
    health: {{tcp: {{port: {port}}}}}
  broken:
    command: {service_command('--name', 'broken', '--exit-after', '0', '--exit-code', '3')}
    depends_on: [base]
    health: {{tcp: {{port: {free_port()}}}}}
""")
    result = stack.run("up", "--detach")
    assert result.returncode == 1
    assert "broken: exited with code 3 before becoming healthy" in result.stderr
    assert "broken: exiting with code 3" in result.stderr  # the last lines of its log
    assert "Traceback" not in result.stderr
    base_pid = [int(line.split()[3]) for line in journal.read_text().splitlines() if line.startswith("start base")][0]
    wait_until(lambda: not psutil.pid_exists(base_pid) or psutil.Process(base_pid).status() == "zombie",
               what="base to be stopped after the failed gate")


BROKEN_FILES = {
    "unknown key": ("services:\n  a:\n    command: x\n    bogus: 1\n", 'stack.yaml:4 services.a: unknown key "bogus"'),
    "cycle": ("services:\n  a: {command: x, depends_on: [b]}\n  b: {command: x, depends_on: [a]}\n", "a -> b -> a"),
    "unknown dependency": ("services:\n  a: {command: x, depends_on: [nope]}\n", '"nope"'),
    "missing command": ("services:\n  a: {ports: [1]}\n", "needs a command"),
    "two probe kinds": ("services:\n  a:\n    command: x\n    health: {tcp: {port: 1}, http: {url: 'http://127.0.0.1:1/'}}\n",
                        "exactly one probe kind"),
    "bad port": ("services:\n  a: {command: x, ports: [70000]}\n", "70000"),
    "negative duration": ("services:\n  a: {command: x, stop_grace: -1}\n", "non-negative"),
    "bad duration": ("services:\n  a:\n    command: x\n    health:\n      tcp: {port: 1}\n      interval: fast\n",
                     'stack.yaml:6 services.a.health.interval: expected a duration'),
}


def run_cli_in_process(stack_file, state_dir, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`robostack -f STACK_FILE ARGS` in this process: (exit code, stderr)."""
    from launcher.cli import main

    monkeypatch.setenv("ROBOSTACK_STATE_DIR", str(state_dir))
    with pytest.raises(SystemExit) as exit_:
        main(["-f", str(stack_file), *args])
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_stack_files_are_refused_before_anything_starts(kind, tmp_path, monkeypatch, capsys):
    """In-process: the CLI entry, with its messages and exit codes, without starting an interpreter per case."""
    text, expected = BROKEN_FILES[kind]
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(text)
    for command in (["up", "--detach"], ["up"]):
        code, stderr = run_cli_in_process(stack_file, tmp_path / "state", monkeypatch, capsys, *command)
        assert code == 2, (command, stderr)
        assert expected in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert "Traceback" not in stderr
    assert not (tmp_path / "state" / "run.json").exists()


def test_a_broken_stack_file_exits_2_through_the_real_cli(robostack):
    """One real process per exit code: the same refusal as above, as a user's shell sees it."""
    text, expected = BROKEN_FILES["unknown key"]
    stack = robostack(text)
    result = stack.run("up")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (stack.state_dir / "run.json").exists()


def test_bad_symbols_are_a_usage_error(tmp_path, monkeypatch, capsys):
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text("services:\n  a: {command: x}\n")
    code, stderr = run_cli_in_process(stack_file, tmp_path / "state", monkeypatch, capsys, "up", "AAPL,,TSLA")
    assert code == 2
    assert "AAPL,,TSLA" in stderr and "empty symbol" in stderr


def test_down_finds_an_orphan_that_escaped_into_its_own_session(robostack, tmp_path):
    journal = tmp_path / "journal"
    port = free_port()
    stack = robostack(f"services:\n  sneaky:\n    command: {service_command('--escape', '--journal', str(journal), '--port', str(port))}\n"
                      f"    health: {{tcp: {{port: {port}}}}}\n")
    assert stack.run("up", "--detach").returncode == 0
    escaped = int(next(line.split()[3] for line in journal.read_text().splitlines() if line.startswith("escaped")))
    assert os.getpgid(escaped) != stack.run_state()["services"]["sneaky"]["pgid"]
    assert psutil.Process(escaped).ppid() != stack.run_state()["services"]["sneaky"]["pid"]
    os.kill(stack.status()["supervisor_pid"], signal.SIGKILL)
    result = stack.run("down")
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: not psutil.pid_exists(escaped) or psutil.Process(escaped).status() == psutil.STATUS_ZOMBIE,
               timeout=10, what="the escaped orphan to be stopped")

"""State files are input too: a damaged run.json, events.jsonl or lock is one line and a documented exit code.

Reproduces issue 11's "a damaged run.json ([], a string pid, an unknown signal) or
events.jsonl line crashes status/down/events": each reader now checks every field's type
and range and names the first bad one (exit 6); nothing it names is acted on.
"""

from __future__ import annotations

import json
import os

import pytest

from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_STATE, StateError
from launcher.state.paths import StatePaths
from launcher.state.store import StackLock, read_run_state
from tests.launcher.conftest import service_command
from tests.security.conftest import one_line

BASE = {"stack": "s", "stack_file": "/x/stack.yaml", "run_id": "r", "stop_order": ["web"]}


def with_web(**fields) -> str:
    return json.dumps({**BASE, "services": {"web": {"name": "web", "state": "healthy", **fields}}})


DAMAGED = {
    "a list": ("[]", "expected an object"),
    "a string pid": (with_web(pid="123", pgid=123, create_time=1.0), "services.web.pid: expected a process id"),
    "a list for services": (json.dumps({**BASE, "services": []}), "services: expected an object of services"),
    "an unknown signal": (with_web(stop_signal="SIG_BLOCK"), 'services.web.stop_signal: unknown signal "SIG_BLOCK"'),
    "a signal that stops nothing": (with_web(stop_signal="SIGSTOP"), "SIGSTOP cannot be a stop signal"),
    "a huge pid": (with_web(pid=10**30), "services.web.pid: expected a process id"),
    "NaN": (with_web(stop_grace=float("nan")), "services.web.stop_grace: expected a grace in seconds"),
    "Infinity": (json.dumps({**BASE, "services": {}, "started_at": float("inf")}), "started_at: expected a time"),
    "a boolean pid": (with_web(pid=True), "services.web.pid: expected a process id"),
    "an unknown state": (with_web(state="zombie-ish"), "services.web.state: expected one of"),
    "a stop order naming nobody": (json.dumps({**BASE, "services": {}}), "stop_order: expected names"),
    "a probe latency as text": (with_web(probe={"ok": True, "detail": "x", "latency": "fast", "at": 1.0}),
                                "services.web.probe.latency"),
    "deep nesting": ("[" * 100_000, "damaged"),
    "not JSON": ("{run", "damaged"),
}


@pytest.mark.parametrize("content, words", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_run_state_is_one_line_naming_the_field(tmp_path, content, words):
    paths = StatePaths(tmp_path / "state").ensure()
    paths.run_state.write_text(content)
    with pytest.raises(StateError) as raised:
        read_run_state(paths)
    message = str(raised.value)
    assert "\n" not in message and str(paths.run_state) in message and words in message, message


@pytest.fixture
def stack(robostack, tmp_path):
    made = robostack(f"""services:
  web:
    command: {service_command('--name', 'web', '--journal', str(tmp_path / 'journal'))}
    stop_grace: 2s
""")
    made.state_dir.mkdir(mode=0o700)
    return made


@pytest.mark.parametrize("command", [("status",), ("status", "--json"), ("down",), ("logs",), ("up", "--detach")])
def test_commands_refuse_a_run_state_with_a_string_pid_in_one_line(stack, tmp_path, command):
    (stack.state_dir / "run.json").write_text(DAMAGED["a string pid"][0])
    one_line(stack.run(*command), EXIT_STATE, "run.json is damaged", "services.web.pid")
    assert not (tmp_path / "journal").exists(), "nothing is started past a damaged run state"


@pytest.mark.parametrize("case", ["an unknown signal", "a huge pid", "NaN"])
def test_down_refuses_what_it_could_not_act_on_safely(stack, case):
    (stack.state_dir / "run.json").write_text(DAMAGED[case][0])
    one_line(stack.run("down"), EXIT_STATE, DAMAGED[case][1])


def test_commands_that_do_not_read_the_run_state_are_not_stopped_by_it(stack):
    (stack.state_dir / "run.json").write_text(DAMAGED["an unknown signal"][0])
    one_line(stack.run("restart", "web"), EXIT_NOT_RUNNING, "not running")
    assert stack.run("events").returncode == EXIT_OK


def test_damaged_timeline_lines_are_skipped_and_said_in_one_line(stack):
    good = {"time": "2026-01-05T10:00:00.000+00:00", "service": "web", "event": "healthy", "reason": "ok"}
    lines = [good, ["not", "an", "event"], {**good, "service": ["web"]}, 5, {**good, "time": 17},
             {**good, "event": {"x": 1}}, {**good, "reason": "again"}]
    text = "\n".join(json.dumps(line) for line in lines) + "\n" + "[" * 50_000 + "\n" + "{half a line\n"
    (stack.state_dir / "events.jsonl").write_text(text)

    for args in (("events",), ("events", "--json")):
        result = stack.run(*args)
        message = one_line(result, EXIT_STATE, "events.jsonl", "lines 2, 3, 4, 5, 6 and 2 more damaged", "skipped")
        assert message.startswith("robostack: ")
        shown = result.stdout.splitlines()
        assert len(shown) == 2 and "ok" in shown[0] and "again" in shown[1], result.stdout


@pytest.mark.parametrize("content", ["99999999999999999999999 1.5", "4242 nan", "4242 inf", "-5 1.0", "x y", ""])
def test_a_damaged_lock_names_no_process(tmp_path, content):
    import fcntl

    paths = StatePaths(tmp_path / "state").ensure()
    paths.lock.write_text(content)
    fd = os.open(paths.lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held, as by a live supervisor that wrote nonsense
    try:
        lock = StackLock(paths)
        assert lock.holder() in (-1, 4242)  # held, by someone whose identity cannot be trusted
        assert lock.holder_identity() is None
    finally:
        os.close(fd)


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detach"])
def test_a_supervisor_log_link_is_never_written_through(stack, tmp_path, detach):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (stack.state_dir / "supervisor.log").symlink_to(victim)

    result = stack.run("up", *(["--detach"] if detach else []), timeout=60)

    one_line(result, EXIT_STATE, "supervisor.log", "symbolic link")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "journal").exists()

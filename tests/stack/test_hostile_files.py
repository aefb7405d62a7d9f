"""Stack files written to break robostack (issue 11): each is refused at load, in plain words, naming the field.

Before, these passed validation and failed later (or never): SIG_BLOCK as stop signal,
`.inf`/`.nan` durations, a name with a final newline, a URL that is not one, status 999,
timeout 0, stale patterns that match every process; or crashed the loader: 5000 nested
brackets, a 5000-digit number, a FIFO given as the file, a 10 MB file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from launcher.errors import StackFileError
from launcher.stack.loader import find_stack_file, load_stack
from tests.helpers import REPO

SERVICE = "services:\n  svc:\n    command: prog\n"


def field_error(stack_files, text: str) -> str:
    return str(stack_files.error(text))


@pytest.mark.parametrize("name", ["SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK", "SIG_DFL", "SIG_IGN", "SIGNAL",
                                  "NSIG", "SIGRTMIN+1", "SIGTERM\\n", "_BLOCK"])
def test_only_real_signal_names_are_stop_signals(stack_files, name):
    message = field_error(stack_files, SERVICE + f'    stop_signal: "{name}"\n')
    assert message.startswith("stack.yaml:4 services.svc.stop_signal: unknown signal"), message


@pytest.mark.parametrize("name, reason", [("SIGKILL", "set stop_grace: 0s"), ("KILL", "set stop_grace: 0s"),
                                          ("SIGSTOP", "freezes"), ("SIGTSTP", "suspends"), ("SIGCONT", "resumes"),
                                          ("SIGCHLD", "ignored by default")])
def test_signals_that_cannot_end_a_service_are_refused_with_the_reason(stack_files, name, reason):
    message = field_error(stack_files, SERVICE + f"    stop_signal: {name}\n")
    assert message.startswith("stack.yaml:4 services.svc.stop_signal: SIG") and reason in message, message


@pytest.mark.parametrize("written, expected", [("term", "SIGTERM"), ("SIGINT", "SIGINT"), ("quit", "SIGQUIT"),
                                               ("SIGIOT", "SIGABRT"), ("SIGWINCH", "SIGWINCH")])
def test_real_signal_names_are_accepted_and_normalised(stack_files, written, expected):
    stack = stack_files.load(SERVICE + f"    stop_signal: {written}\n")
    assert stack.services["svc"].spec.stop_signal == expected


@pytest.mark.parametrize("setting, value, words", [
    ("startup_timeout", ".inf", "expected a finite duration"),
    ("stop_grace", ".nan", "expected a finite duration"),
    ("stop_grace", "-.inf", "expected a finite duration"),
    ("dependency_grace", "8d", "expected a duration (like 250ms"),
    ("startup_timeout", "169h", "at most a week"),
    ("startup_timeout", "0", "at least 1ms"),
    ("stop_grace", "1" * 5000, "(5000 characters)"),
])
def test_durations_are_finite_positive_and_bounded(stack_files, setting, value, words):
    message = field_error(stack_files, SERVICE + f"    {setting}: {value}\n")
    assert message.startswith(f"stack.yaml:4 services.svc.{setting}: ") and words in message, message
    assert len(message) < 300


@pytest.mark.parametrize("setting", ["interval: 0", "timeout: 0", "timeout: 1ms", "interval: .nan"])
def test_probe_timing_must_be_usable(stack_files, setting):
    message = field_error(stack_files, SERVICE + f"    health: {{tcp: {{port: 80}}, {setting}}}\n")
    assert f"services.svc.health.{setting.split(':')[0]}: expected a" in message, message


def test_restart_limits_are_bounded(stack_files):
    assert "max_restarts: expected a duration of at most a week" in field_error(
        stack_files, SERVICE + '    max_restarts: "5 within 9999h"\n')
    assert 'expected "N within DURATION"' in field_error(stack_files, SERVICE + f'    max_restarts: "{"9" * 5000} within 1m"\n')


def test_a_name_with_a_final_newline_is_not_a_name(stack_files):
    message = field_error(stack_files, 'services:\n  "svc\\n":\n    command: prog\n')
    assert message == ('stack.yaml:2 services: "svc\\n" is not a valid name (letters, digits, "_", "-" or ".", '
                       "starting with a letter or digit)")
    assert "\n" not in message


def test_probe_url_status_and_timeout_are_checked_at_load_and_all_listed(stack_files):
    message = field_error(stack_files, """
        services:
          web:
            command: prog
            health:
              http: {url: "not a url", status: 999}
              timeout: 0
          ws:
            command: prog
            health: {websocket: {url: "ws://127.0.0.1:70000/"}}
          remote:
            command: prog
            health: {http: {url: "http://example.com/healthz"}}
          spaced:
            command: prog
            health: {tcp: {port: 80, host: "127.0.0.1 "}}
        """)
    lines = message.splitlines()
    assert lines[0] == "stack.yaml:5 services.web.health.http.url: URL 'not a url' contains a space or a control character"
    assert lines[1] == "  stack.yaml:5 services.web.health.http.status: expected at most 599, got 999"
    assert lines[2] == "  stack.yaml:6 services.web.health.timeout: expected a duration of at least 10ms, got 0s"
    assert "services.ws.health.websocket.url: invalid URL 'ws://127.0.0.1:70000/': Port out of range" in lines[3]
    assert "services.remote.health.http.url: refusing to probe example.com: only loopback hosts" in lines[4]
    assert 'services.spaced.health.tcp.host: "127.0.0.1 " is not a host name or address' in lines[5]
    assert lines[-1] == "(6 problems)"


@pytest.mark.parametrize("pattern, what", [
    (".*", "every process"), ("", "every process"), ("x*", "every process"), ("bash", "a shell"),
    ("^-?bash$", "a shell"), ("sh", "a shell"), ("init", "init"), ("systemd", "init"), ("robostack", "robostack itself"),
    ("python", "robostack itself"), ("launcher", "robostack itself"), ("sshd", "a terminal or login session"),
])
def test_stale_patterns_that_match_everything_or_the_machine_are_refused(stack_files, pattern, what):
    message = field_error(stack_files, SERVICE + f"    stale: ['services\\.svc\\b', '{pattern}']\n")
    assert message.startswith(f'stack.yaml:4 services.svc.stale[1]: "{pattern}" would match {what}'), message


def test_a_precise_stale_pattern_is_accepted(stack_files):
    stack = stack_files.load(SERVICE + "    stale: ['services\\.gateway_sim\\b.*--port[= ]4002\\b']\n")
    assert stack.services["svc"].spec.stale == [r"services\.gateway_sim\b.*--port[= ]4002\b"]


def test_five_thousand_nested_brackets_are_one_line(stack_files):
    message = field_error(stack_files, "services: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message == "stack.yaml:1: nested more than 64 levels deep; a stack file needs only a few"


def test_a_number_too_long_to_read_is_one_line(stack_files):
    message = field_error(stack_files, SERVICE + f"    ports: [{'9' * 5000}]\n")
    assert message.startswith('stack.yaml:4 services.svc.ports[0]: cannot read the value "9999') and "too many digits" in message


def test_a_file_over_one_mebibyte_is_refused_before_parsing(stack_files):
    path = stack_files.root / "stack.yaml"
    with open(path, "w") as handle:
        handle.write(SERVICE + "    env: {BIG: '" + "x" * (10 * 1024 * 1024) + "'}\n")
    with pytest.raises(StackFileError, match=r"^stack.yaml: is larger than 1 MiB; a stack file is a few kilobytes$"):
        load_stack(Path("stack.yaml"), environ={})


def test_a_long_command_loads_and_splits_like_a_shell(stack_files):
    """800 KB of command: shlex took seconds (quadratic in a word's length); the words are the same (bench: loader)."""
    words = [f"'arg {i}'" if i % 3 == 0 else (f'"q\\"{i}"' if i % 3 == 1 else f"w\\ {i}") for i in range(90_000)]
    text = "prog " + " ".join(words)
    stack = stack_files.load(f"services:\n  svc:\n    command: '{text.replace(chr(39), chr(39) * 2)}'\n")
    argv = stack.services["svc"].argv
    assert len(argv) == 90_001 and argv[1] == "arg 0" and argv[2] == 'q"1' and argv[3] == "w 2"


def test_a_fifo_given_as_the_stack_file_is_named_as_one_and_never_blocks(stack_files):
    fifo = stack_files.root / "stack.yaml"
    os.mkfifo(fifo)
    with pytest.raises(StackFileError, match=r"is a FIFO \(named pipe\), not a regular file"):
        find_stack_file(None, {}, stack_files.root)
    errors: list[Exception] = []
    reader = threading.Thread(target=lambda: _load_into(errors, fifo), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "loading a FIFO blocked"
    assert "is a FIFO (named pipe), not a regular file" in str(errors[0])


def _load_into(errors: list, path) -> None:
    try:
        load_stack(path, environ={})
    except StackFileError as error:
        errors.append(error)


def test_a_fifo_env_file_is_refused(stack_files):
    os.mkfifo(stack_files.root / ".env")
    message = field_error(stack_files, "env_file: .env\n" + SERVICE)
    assert message == ".env: is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("text, words", [
    (SERVICE + "    stop_signal: SIG_BLOCK\n", "unknown signal"),
    ("services: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
    (SERVICE + "    stale: ['.*']\n", "would match every process"),
])
def test_the_cli_says_it_in_one_line_with_exit_2(tmp_path, text, words):
    (tmp_path / "stack.yaml").write_text(text)
    result = subprocess.run([sys.executable, "-m", "launcher", "-f", str(tmp_path / "stack.yaml"), "config"],
                            capture_output=True, text=True, cwd=REPO, timeout=60,
                            env=dict(os.environ, ROBOSTACK_STATE_DIR=str(tmp_path / "state")))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert words in result.stderr

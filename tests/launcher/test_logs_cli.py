"""`robostack logs` through the real CLI: merged by time, -t, --since/--until, prefixes, colours, pipes.

And a log disk that fills up under a running stack, as `doctor` reports it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest
import yaml

from launcher.logwriter.format import parse_stamp
from tests.helpers import REPO, log_lines, wait_until

TICKER = ("import sys, time\nname = sys.argv[1]\n"
          "print(name, 'wide', 'w' * 300, flush=True)\n"
          "for i in range(100000):\n    print(name, i, flush=True)\n    time.sleep(0.02)")
STAMPED = re.compile(r"^(\w+)\s+\| (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$")


def program_stack(robostack, tmp_path, programs: dict[str, tuple[str, list[str]]]):
    """A stack whose services run small Python programs written next to the stack file."""
    services = {}
    for name, (code, args) in programs.items():
        path = tmp_path / f"{name}.py"
        path.write_text(code)
        services[name] = {"command": ["python", str(path), *args]}
    return robostack(yaml.safe_dump({"services": services}))


@pytest.fixture
def tickers(robostack, tmp_path):
    stack = program_stack(robostack, tmp_path, {"alpha": (TICKER, ["alpha"]), "beta": (TICKER, ["beta"])})
    assert stack.run("up", "--detach").returncode == 0
    for name in ("alpha", "beta"):
        log = stack.state_dir / "logs" / f"{name}.log"
        wait_until(lambda log=log, name=name: log.exists() and sum(line.startswith(name) for line in log_lines(log)) > 25,
                   what=f"{name} to have written 25 lines")
    return stack


def test_lines_of_all_services_are_merged_by_the_time_they_were_received(tickers):
    result = tickers.run("logs", "-t", "-n", "20")
    assert result.returncode == 0, result.stderr
    rows = [STAMPED.match(line) for line in result.stdout.splitlines()]
    assert all(rows), result.stdout
    stamps = [row.group(2) for row in rows]
    assert stamps == sorted(stamps)  # one timeline, not one block per service
    services = [row.group(1) for row in rows]
    assert services.count("alpha") == 20 and services.count("beta") == 20
    switches = sum(1 for first, second in zip(services, services[1:]) if first != second)
    assert switches >= 4  # interleaved (both write every 20 ms), not grouped
    assert all(row.group(3).startswith(row.group(1) + " ") for row in rows)


def test_since_and_until_cut_the_timeline_at_a_time(tickers):
    rows = [STAMPED.match(line) for line in tickers.run("logs", "-t", "-n", "30", "alpha").stdout.splitlines()]
    middle = rows[15].group(2)
    until = tickers.run("logs", "-t", "--until", middle, "alpha").stdout.splitlines()
    since = tickers.run("logs", "-t", "--since", middle, "alpha").stdout.splitlines()
    assert until and all(STAMPED.match(line).group(2) <= middle for line in until)
    assert since and all(STAMPED.match(line).group(2) >= middle for line in since)
    assert STAMPED.match(until[-1]).group(2) == middle == STAMPED.match(since[0]).group(2)
    assert "alpha wide" in tickers.run("logs", "--since", "1h", "alpha").stdout  # every line of the last hour
    assert tickers.run("logs", "--since", "1h", "--until", "59m").stdout == ""  # nothing that old
    bad = tickers.run("logs", "--since", "yesterday")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("robostack: --since: expected a duration")


def test_no_prefix_no_colour_in_a_pipe_and_lines_never_cut(tickers):
    result = tickers.run("logs", "--no-log-prefix", "-n", "1000", "alpha")
    lines = result.stdout.splitlines()
    assert lines[1] == "alpha wide " + "w" * 300  # full width although COLUMNS is 200 and this is no terminal
    assert all(" | " not in line for line in lines) and "\x1b[" not in result.stdout
    assert all(parse_stamp(line.encode()) is None for line in lines)  # no stamp without -t


def run_on_a_terminal(stack, *args: str, environ: dict[str, str] | None = None) -> str:
    """Run a robostack command with a pseudo-terminal as its stdout; everything it printed."""
    controller, terminal = pty.openpty()
    env = {key: value for key, value in stack.env.items() if key != "NO_COLOR"}
    env.update(environ or {})
    process = subprocess.Popen(stack.argv(*args), stdout=terminal, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO once the command has exited and closed its side
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    return output.decode(errors="replace")


def test_colours_on_a_terminal_unless_no_color(tickers):
    assert "\x1b[36malpha | \x1b[0m" in run_on_a_terminal(tickers, "logs", "-n", "3")
    assert "\x1b[" not in run_on_a_terminal(tickers, "logs", "-n", "3", environ={"NO_COLOR": "1"})
    assert "\x1b[" not in run_on_a_terminal(tickers, "logs", "-n", "3", "--no-color")


def test_a_reader_that_stops_early_is_not_an_error(tickers):
    # More than a pipe's worth of output, into `head -1`: robostack sees a closed pipe.
    command = " ".join(map(repr, tickers.argv("logs", "-n", "100000"))) + " | head -1"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                            env=tickers.env, cwd=REPO, timeout=60)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.stdout.splitlines()[0].startswith(("alpha |", "beta  |"))


def test_doctor_reports_a_full_log_disk_while_the_service_runs_on(robostack, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    chatty = "import time\nwhile True:\n    print('x' * 100, flush=True)\n    time.sleep(0.0005)\n"
    stack = program_stack(robostack, tmp_path, {"chatty": (chatty, [])})
    logs = stack.state_dir / "logs"
    logs.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs", str(logs)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert stack.run("up", "--detach").returncode == 0
        status = logs / "chatty"
        wait_until(lambda: any(b'"failing"' in path.read_bytes() for path in status.glob("*.status")),
                   what="the log writer to report the full disk")
        result = stack.run("doctor", "--json")
        assert result.returncode == 1
        diagnosis = json.loads(result.stdout)["services"][0]
        assert diagnosis["verdict"] == "log-not-written", diagnosis
        assert "No space left on device" in diagnosis["detail"] and "df -h" in diagnosis["fix"]
        log_check = next(check for check in diagnosis["checks"] if check["name"] == "log")
        assert log_check["status"] == "fail"
    finally:
        stack.run("down", timeout=60)
        subprocess.run(["umount", str(logs)], capture_output=True)

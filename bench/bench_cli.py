"""The commands typed many times a day: wall time next to a bare interpreter's and `supervisorctl status`'s.

Same machine, same run, interleaved round-robin so a drifting machine affects every command alike:

* the floor: ``python -c pass`` (an interpreter that does nothing; the same interpreter and venv);
* robostack (the installed ``robostack`` script) against a running stack of three idle services:
  ``status``, ``ps``, ``status --json``, ``logs -n 20``, ``events -n 20``, ``ls``, ``wait``, ``--help``,
  ``--version``, and ``down`` of a stack that is already stopped (a second stack);
* ``supervisorctl status`` against supervisord running the same three services.

The target (issue 14) is at most 3 times the floor for status, ps, logs -n, down of a stopped stack,
--help and --version; the ratio column says where each stands.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench.core import PYTHON, Section, Settings, median, notes, ratio, run_measured, runs_note, seconds, spread
from bench.ledger import Ledger
from bench.managers import BenchError, Robostack, ServiceSpec, Supervisord

IDLE = ["sleep", "3600"]
COMMANDS = [("status",), ("ps",), ("status", "--json"), ("logs", "-n", "20"), ("events", "-n", "20"), ("ls",),
            ("wait",), ("--help",), ("--version",)]
TARGET = 3.0


def robostack_script() -> list[str]:
    """The `robostack` console script of this interpreter's venv (what a user types), else `python -m launcher`."""
    script = Path(PYTHON).with_name("robostack")
    return [str(script)] if script.exists() else [PYTHON, "-m", "launcher"]


def as_a_user(env: dict[str, str]) -> dict[str, str]:
    """`env` as a user's shell has it: compiled bytecode written and read (a test runner may turn that off)."""
    return {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict[str, str]) -> float:
    return run_measured(argv, env)[0]


def run(settings: Settings, ledger: Ledger) -> Section:
    runs = settings.runs(21)
    section = Section("cli", "CLI: each command's wall time next to a bare interpreter and `supervisorctl status`",
                      reproduce="python -m bench --only cli")
    workdir = ledger.temporary_directory("bench-cli-")
    services = [ServiceSpec(f"idle{number}", IDLE, stop_grace=1) for number in range(3)]
    running, stopped = Robostack(ledger, workdir / "running", services), Robostack(ledger, workdir / "stopped", services)
    running.up()
    stopped.up()
    if stopped.cli("down").returncode != 0:
        raise BenchError("could not stop the second stack")
    try:
        supervisord = Supervisord(ledger, workdir, services)
        supervisord.start()
        supervisorctl = [PYTHON, "-m", "supervisor.supervisorctl", "-c", str(supervisord.config), "status"]
        _wait_for_supervisord(supervisorctl, ledger.env())
    except BenchError as error:
        print(f"  supervisord: {error}", flush=True)
        supervisorctl = None
    env = as_a_user(ledger.env({"COLUMNS": "200", "ROBOSTACK_STATE_DIR": str(running.state_dir)}))
    stopped_env = as_a_user(ledger.env({"COLUMNS": "200", "ROBOSTACK_STATE_DIR": str(stopped.state_dir)}))
    robostack = robostack_script()
    measured: dict[str, list[float]] = {"floor": [], "supervisorctl": [], "down (stopped stack)": []}
    for command in COMMANDS:
        measured[" ".join(command)] = []
    for number in range(runs + 1):  # round-robin; the first round only warms up
        round_ = {"floor": timed([PYTHON, "-c", "pass"], env)}
        for command in COMMANDS:
            round_[" ".join(command)] = timed([*robostack, "-f", str(running.stack_file), *command], env)
        round_["down (stopped stack)"] = timed([*robostack, "-f", str(stopped.stack_file), "down"], stopped_env)
        if supervisorctl is not None:
            round_["supervisorctl"] = timed(supervisorctl, env)
        if number:
            for name, value in round_.items():
                measured[name].append(value)
    running.stop(60)
    if supervisorctl is not None:
        supervisord.stop(30)
    floor = median(measured["floor"])
    section.add("python -c pass (the floor)", seconds(floor), note=notes(runs_note(runs), spread(measured["floor"])))
    control = median(measured["supervisorctl"])
    section.add("supervisorctl status (3 programs)", seconds(control), f"floor {seconds(floor)}", ratio(control, floor),
                notes(runs_note(len(measured["supervisorctl"])), spread(measured["supervisorctl"])))
    for name in [" ".join(command) for command in COMMANDS] + ["down (stopped stack)"]:
        value = median(measured[name])
        target = "target: at most 3x the floor" if name.split()[0] in ("status", "ps", "logs", "down", "--help",
                                                                        "--version") else ""
        section.add(f"robostack {name}", seconds(value), f"floor {seconds(floor)}; supervisorctl {seconds(control)}",
                    ratio(value, floor), notes(target, spread(measured[name])))
    return section


def _wait_for_supervisord(supervisorctl: list[str], env: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(supervisorctl, env=env, capture_output=True, text=True, timeout=30)
        if result.stdout.count("RUNNING") == 3:
            return
        time.sleep(0.1)  # the bench waits for supervisord to start its programs; a bounded poll
    raise BenchError("supervisord did not start its programs within 60 s")

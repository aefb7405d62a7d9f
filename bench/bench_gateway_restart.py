"""A Gateway under IBC restarted two ways through the supervisor: softly (`robostack restart gateway`,
IBC's RESTART) against the baseline of a hard restart (the Gateway's process SIGKILLed, a new
process and a new login), in the same run on the same stack.

The simulator plays the login's phases in real seconds (Java start, the second factor approved on
"the phone", API initialisation) and a soft restart's (IBC's delay, the port refusing, the API back).
Per restart: the wall time until the Gateway is healthy again (`restart` returns then; for the kill,
its `restarted` event), whether the process is the same, and how many second-factor prompts it cost
(counted in the simulator's own log: the figure that decides whether an account gets locked).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.core import PYTHON, Section, Settings, median, notes, ratio, runs_note, seconds, spread
from bench.ledger import Ledger, free_port, wait_for
from bench.managers import BenchError, Robostack, ServiceSpec

PROMPT = "Second Factor Authentication initiated"
DEADLINE = 90.0
# The login's phases and the soft restart's, in real seconds (a real Gateway: ~20 s Java and IBC,
# the phone, 30-60 s of API initialisation; IBC's RESTART 1-2 minutes ahead).
JAVA_START, SECOND_FACTOR, API_DELAY = 1.0, 1.0, 0.5
RESTART_DELAY, RESTART_DURATION = 0.5, 1.0


def gateway_stack(ledger: Ledger, workdir: Path) -> Robostack:
    port, command_port = free_port(), free_port()
    argv = [PYTHON, "-m", "services.gateway_sim", "--port", str(port), "--state-file", "none", "--seed", "3",
            "--ibc-command-port", str(command_port), "--java-start", str(JAVA_START),
            "--second-factor", str(SECOND_FACTOR), "--api-delay", str(API_DELAY),
            "--restart-delay", str(RESTART_DELAY), "--restart-duration", str(RESTART_DURATION)]
    spec = ServiceSpec("gateway", argv, ports=[port, command_port], stop_grace=5.0,
                       health={"ib_api": {"port": port}, "interval": "200ms", "timeout": "2s", "retries": 2},
                       extra={"startup_timeout": "60s", "backoff": {"initial": "100ms"},
                              "ibc": {"command_port": command_port, "restart_timeout": "30s"},
                              "login_budget": "50 per day"})
    return Robostack(ledger, workdir, [spec])


def prompts(stack: Robostack) -> int:
    return stack.log_path("gateway").read_text(errors="replace").count(PROMPT)


def soft_restart(stack: Robostack) -> dict:
    pid, asked = stack.service_pid("gateway"), prompts(stack)
    started = time.monotonic()
    result = stack.cli("restart", "gateway", timeout=DEADLINE)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(f"robostack restart gateway exited {result.returncode}: {result.stderr[-300:]}")
    return {"seconds": took, "same process": stack.service_pid("gateway") == pid, "prompts": prompts(stack) - asked}


def hard_restart(stack: Robostack) -> dict:
    pid, asked = stack.service_pid("gateway"), prompts(stack)
    killed_at = time.time()
    os.killpg(pid, signal.SIGKILL)

    def restarted() -> dict | None:
        return next((event for event in stack.events() if event["service"] == "gateway"
                     and event["event"] == "restarted"
                     and datetime.fromisoformat(event["time"]).timestamp() >= killed_at), None)

    event = wait_for(restarted, timeout=DEADLINE, poll=0.2)
    if not event:
        raise BenchError(f"the Gateway was not healthy again within {DEADLINE:g} s of the kill")
    took = datetime.fromisoformat(event["time"]).timestamp() - killed_at
    return {"seconds": took, "same process": stack.service_pid("gateway") == pid, "prompts": prompts(stack) - asked}


def run(settings: Settings, ledger: Ledger) -> Section:
    runs = settings.runs(3)
    section = Section("gateway_restart", "Gateway under IBC: soft restart (IBC RESTART) against a hard one",
                      reproduce="python -m bench --only gateway_restart")
    soft, hard = [], []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-restart-") as directory:
        stack = gateway_stack(ledger, Path(directory))
        stack.up(timeout=DEADLINE)
        try:
            for _ in range(runs):  # interleaved: the machine's drift affects both alike
                soft.append(soft_restart(stack))
                hard.append(hard_restart(stack))
        finally:
            stack.stop(bound=60)
    soft_seconds, hard_seconds = [m["seconds"] for m in soft], [m["seconds"] for m in hard]
    section.add("restart until the Gateway is healthy again: soft (robostack restart gateway)",
                seconds(median(soft_seconds)), f"hard (SIGKILL, new login) {seconds(median(hard_seconds))}",
                ratio(median(soft_seconds), median(hard_seconds)),
                notes(runs_note(runs), spread(soft_seconds),
                      f"login phases: Java {JAVA_START:g} s, second factor {SECOND_FACTOR:g} s, "
                      f"API {API_DELAY:g} s; soft: IBC delay {RESTART_DELAY:g} s, port refusing {RESTART_DURATION:g} s"))
    section.add("second-factor prompts per restart: soft", f"{sum(m['prompts'] for m in soft) / runs:g}",
                f"hard {sum(m['prompts'] for m in hard) / runs:g}", "",
                "counted in the simulator's log (IBC's own line)")
    section.add("same Gateway process after the restart: soft", f"{sum(m['same process'] for m in soft)} of {runs}",
                f"hard {sum(m['same process'] for m in hard)} of {runs}")
    return section

"""The supervisor at rest: wakeups and system calls per second with the default stack up, before and after.

    python -m bench.bench_idle [--baseline REV] [--window SECONDS] [--rounds N]

The default stack (stack.yaml on private ports: Gateway simulator, WebSocket server,
ib_async trader) is brought up with `robostack up --detach` by two versions of the
launcher, side by side in the same run, round after round: the code of `--baseline`
(default: b333675, the last commit before issue 10's supervisor work; exported with
`git archive`) and the working tree. The services are the working tree's in both.

Once the stack has been up for a few seconds, the detached supervisor is measured:

* wakeups: its voluntary context switches (all threads, from /proc/PID/task/*/status)
  over the window: each is the process blocking (in epoll_wait, mostly) and being woken
  again; involuntary ones (preempted by other work on a loaded machine) are not wakeups;
* system calls: ``strace -f -c -p PID`` over a second window of the same length (strace
  itself costs context switches, so the two are never measured at once), with the
  run.json rewrites (``rename``) and ``fsync`` calls picked out.

Two stack files: the default one (probes every 1 s, 1 s and 2 s: 2.5 probes a second
asked for), and the same with every probe interval set to 1 h, which leaves only what
the supervisor does by itself (plus the trader's WATCHDOG=1 datagrams, which the notify
probe asks for). Prints a Markdown table; BENCHMARKS.md quotes one run of it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import tarfile
import time
from pathlib import Path

import yaml

from bench.core import PYTHON, REPO
from bench.default_stack import DefaultStack
from bench.ledger import Ledger

BASELINE = "b333675"
SETTLE = 5.0  # seconds after `up --detach` returns before measuring: start-up work is over


def export_tree(ledger: Ledger, revision: str) -> Path:
    """The launcher as of `revision`, in a temporary directory."""
    target = ledger.temporary_directory("robostack-idle-baseline-")
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target)
    return target


def stack_document(hourly: bool) -> dict:
    document = DefaultStack().robostack_document()
    if hourly:
        for service in document["services"].values():
            if "health" in service:
                service["health"]["interval"] = "1h"
    return document


def probes_per_second(document: dict) -> float:
    from launcher.stack.durations import parse_duration

    return sum(1.0 / parse_duration(service["health"].get("interval", "1s"))
               for service in document["services"].values() if "health" in service)


def wakeups_so_far(pid: int) -> int:
    """Voluntary context switches of every thread of `pid` since it started."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "status").read_text()
        total += sum(int(value) for value in re.findall(r"^voluntary_ctxt_switches:\s+(\d+)", text, re.MULTILINE))
    return total


def strace_counts(ledger: Ledger, pid: int, window: float, scratch: Path) -> dict[str, int]:
    """Calls per system call name over `window` seconds (strace -c), plus 'total'."""
    output = scratch / f"strace-{pid}-{time.monotonic_ns()}.txt"
    tracer = ledger.spawn(["strace", "-f", "-c", "-q", "-p", str(pid), "-o", str(output)])
    time.sleep(window)  # the measurement window itself, not a synchronisation
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    counts: dict[str, int] = {}
    for line in output.read_text().splitlines():
        words = line.split()  # % time, seconds, usecs/call, calls, [errors], syscall
        if len(words) >= 5 and words[0][0].isdigit() and words[3].isdigit() and words[-1] != "total":
            counts[words[-1]] = int(words[3])
    counts["total"] = sum(counts.values())
    return counts


def measure(ledger: Ledger, tree: Path, document: dict, window: float) -> dict[str, float]:
    workdir = ledger.temporary_directory("robostack-idle-")
    stack_file = workdir / "stack.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {"ROBOSTACK_STATE_DIR": str(workdir / "state")}  # `-m launcher` from `tree`: the cwd comes first
    command = [PYTHON, "-m", "launcher", "-f", str(stack_file)]
    up = ledger.run([*command, "up", "--detach"], timeout=180, cwd=tree, env=env)
    if up.returncode != 0:
        raise RuntimeError(f"up --detach failed in {tree}: {up.stderr[-500:]}")
    try:
        pid = json.loads((workdir / "state" / "run.json").read_text())["supervisor_pid"]
        time.sleep(SETTLE)  # let start-up work finish: the figure is the supervisor at rest
        before, started = wakeups_so_far(pid), time.monotonic()
        time.sleep(window)  # the measurement window
        wakeups = (wakeups_so_far(pid) - before) / (time.monotonic() - started)
        calls = strace_counts(ledger, pid, window, workdir)
    finally:
        ledger.run([*command, "down"], timeout=120, cwd=tree, env=env)
    return {"wakeups": wakeups, "syscalls": calls.get("total", 0) / window,
            "fsync": calls.get("fsync", 0) / window, "rename": calls.get("rename", 0) / window}


def _rate(value: float) -> str:
    """1 decimal from 1 a second on (8.6, 98.0), 2 below it (0.05)."""
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_idle", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision measured as 'before'")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per measurement window")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (each measures every version and stack)")
    args = parser.parse_args(argv)
    ledger = Ledger()
    try:
        trees = {f"before ({args.baseline})": export_tree(ledger, args.baseline), "after (working tree)": REPO}
        stacks = {"default stack.yaml": stack_document(False), "probe intervals 1h": stack_document(True)}
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_number in range(args.rounds):
            for stack_name, document in stacks.items():
                for version, tree in trees.items():
                    figures = measure(ledger, tree, document, args.window)
                    print(f"round {round_number + 1}: {version}, {stack_name}: {figures}", flush=True)
                    results.setdefault((stack_name, version), []).append(figures)
        print()
        print("| stack (probes asked for) | launcher | wakeups/s | syscalls/s | fsync/s | run.json rewrites/s |")
        print("| --- | --- | --- | --- | --- | --- |")
        for (stack_name, version), runs in results.items():
            rate = probes_per_second(stacks[stack_name])
            cells = [statistics.median(run[key] for run in runs) for key in ("wakeups", "syscalls", "fsync", "rename")]
            print(f"| {stack_name} ({rate:.2f}/s) | {version} | {_rate(cells[0])} | {_rate(cells[1])} | {cells[2]:.2f} "
                  f"| {cells[3]:.2f} |")
        print(f"\n{args.rounds} rounds, {args.window:g} s windows, medians; load average at the end: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        left = ledger.kill_all_generations()
        if left:
            print(f"cleaned up {len(left)} process(es) left running: {left}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Prints how long stop_group takes beyond the grace period (a measurement, never a test).

    .venv/bin/python -m bench.measure_stop [--rounds 10] [--grace 1.0]

For each round it spawns tests/process/tree.py with spawn_service (leader, 2 children,
4 grandchildren, one escaped grandchild) and stops it three ways:
  * the tree ignores SIGTERM: time beyond `grace` until every process is gone;
  * a well-behaved tree: time from the stop signal until every process is gone;
  * kill_group_now on a SIGTERM-ignoring tree.
Each figure is reported with pidfds (event-driven) and with the polling fallback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

import psutil

import launcher.process.identity as identity_module
from bench.core import REPO
from launcher.process.spawn import spawn_service
from launcher.process.stop import kill_group_now, stop_group

TREE = [sys.executable, str(REPO / "tests" / "process" / "tree.py"), "--children", "2", "--grandchildren", "2",
        "--escape"]


def alive(pids: Iterable[int]) -> list[int]:
    """The pids among `pids` that still exist and are not zombies."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.NoSuchProcess:
            continue
    return result


async def start_tree(log_path: Path, *extra: str):
    process = await spawn_service("tree", [*TREE, *extra], cwd=REPO, env={"PYTHONUNBUFFERED": "1"},
                                  log_path=log_path)
    deadline = time.monotonic() + 30
    while "tree ready" not in log_path.read_text():
        if time.monotonic() > deadline:
            raise SystemExit("tree did not start")
        await asyncio.sleep(0.005)
    return process


async def one_round(log_dir: Path, grace: float) -> dict[str, float]:
    figures = {}
    stubborn = await start_tree(log_dir / "stubborn.log", "--ignore-term")
    report = await stop_group(stubborn.target, stop_signal=signal.SIGTERM, grace=grace)
    assert not report.survivors and not alive(report.signalled), report.summary
    figures["beyond grace (ignores SIGTERM)"] = report.elapsed - grace
    await stubborn.wait()

    polite = await start_tree(log_dir / "polite.log")
    report = await stop_group(polite.target, stop_signal=signal.SIGTERM, grace=30.0)
    assert not report.resisted and not alive(report.signalled), report.summary
    figures["well-behaved stop"] = report.elapsed
    await polite.wait()

    killed = await start_tree(log_dir / "killed.log", "--ignore-term")
    report = await kill_group_now(killed.target)
    assert not alive(report.signalled), report.summary
    figures["kill_group_now"] = report.elapsed
    await killed.wait()
    return figures


async def measure(rounds: int, grace: float) -> dict[str, list[float]]:
    collected: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(rounds):
            round_directory = Path(tempfile.mkdtemp(dir=directory))  # a fresh log: "ready" means this tree
            for name, value in (await one_round(round_directory, grace)).items():
                collected.setdefault(name, []).append(value)
    return collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--grace", type=float, default=1.0)
    args = parser.parse_args()
    modes = [("pidfd", True), ("polling", False)]
    print(f"{args.rounds} rounds, grace {args.grace}s, tree of 8 processes (one escaped its group)")
    for mode, supported in modes:
        identity_module._PIDFDS_SUPPORTED = supported and identity_module._probe_pidfds()
        figures = asyncio.run(measure(args.rounds, args.grace))
        for name, values in figures.items():
            print(f"  {mode:8} {name:32} median {statistics.median(values) * 1000:7.1f} ms"
                  f"   max {max(values) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()

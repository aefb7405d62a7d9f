"""Stop time and survivors: a service tree that ignores SIGTERM, stopped by each manager.

The workload (``bench/workloads.py stubborn-tree``) is a leader with 2 children
and 2 grandchildren each (7 processes), all ignoring SIGTERM: a trader that
hangs in its shutdown and has forked helpers. Each manager is given 1 s of grace
before it may SIGKILL (robostack ``stop_grace: 1s``, supervisord
``stopwaitsecs=1``; honcho has no such setting). The stop:

* robostack: ``robostack down`` (wall time of the command);
* honcho: SIGINT to honcho (Ctrl-C), until honcho exits;
* supervisord: SIGTERM to supervisord (what ``supervisorctl shutdown`` asks for), until
  it exits; with its defaults, and with ``stopasgroup``/``killasgroup``.

Past the bound (60 s) a stop is reported as "did not finish". Then the tree's
processes still running are counted. honcho's runs are started first and wait out
their bound in the background while the other managers (and the next benchmarks)
are measured: they are idle meanwhile, and it keeps the suite under 5 minutes.
"""

from __future__ import annotations

import json
import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

from bench.core import PYTHON, WORKLOADS, Section, Settings, median, notes, runs_note, seconds, signed_seconds, spread
from bench.ledger import Ledger, alive, wait_for
from bench.managers import BenchError, Honcho, Manager, Robostack, ServiceSpec, Supervisord

GRACE = 1.0
TREE_SIZE = 7  # leader, 2 children, 4 grandchildren


@dataclass
class StopRun:
    seconds: float | None  # None: did not finish within the bound
    left: int  # tree processes still running after the stop (or at the bound)
    reported: float | None = None  # robostack: the group stop's own duration, from `down`'s output


ManagerFactory = Callable[[Ledger, Path, list[ServiceSpec]], Manager]

FACTORIES: dict[str, ManagerFactory] = {
    "robostack": Robostack,
    "supervisord (defaults)": Supervisord,
    "supervisord (stopasgroup, killasgroup)": lambda ledger, workdir, services: Supervisord(
        ledger, workdir, services, kill_as_group=True),
    "honcho": Honcho,
}


def tree_service(report: Path) -> ServiceSpec:
    argv = [PYTHON, WORKLOADS, "stubborn-tree", "--children", "2", "--grandchildren", "2", "--report", str(report)]
    return ServiceSpec("tree", argv, stop_grace=GRACE, extra={"restart": "no"})


def start_tree(factory: ManagerFactory, ledger: Ledger, root: Path) -> tuple[Manager, list[psutil.Process]]:
    """The tree running under a fresh manager; returns the manager and the tree's processes."""
    workdir = Path(tempfile.mkdtemp(prefix="tree-", dir=root))
    report = workdir / "tree.json"
    manager = factory(ledger, workdir, [tree_service(report)])
    manager.start()
    if isinstance(manager, Robostack):
        manager.wait_up()
    if not wait_for(report.exists, timeout=30):
        raise BenchError(f"{manager.name}: the process tree never reported ready")
    processes = [psutil.Process(pid) for pid in json.loads(report.read_text())["pids"]]
    if len(processes) != TREE_SIZE:
        raise BenchError(f"expected a tree of {TREE_SIZE} processes, got {len(processes)}")
    return manager, processes


def stop_one(started: tuple[Manager, list[psutil.Process]], bound: float) -> StopRun:
    manager, tree = started
    elapsed = manager.stop(bound)
    reported = manager.reported_stop_seconds() if isinstance(manager, Robostack) else None
    return StopRun(elapsed, len(alive(tree)), reported)


def stop_trials(factory: ManagerFactory, ledger: Ledger, root: Path, runs: int, bound: float) -> list[StopRun]:
    """Start a tree under a fresh manager and stop it, `runs` times in a row."""
    results = []
    for _ in range(runs):
        results.append(stop_one(start_tree(factory, ledger, root), bound))
        ledger.kill_everything()
    return results


def stop_in_background(ledger: Ledger, runs: int, bound: float) -> Callable[[], list[StopRun]]:
    """Start `runs` honcho trees and stop them all at once, waiting in threads; returns the waiter.

    honcho never kills a tree that ignores SIGTERM, so each of these stops waits out
    the whole bound. They are idle while they wait (the trees sleep, honcho polls its
    queue ten times a second), so the suite runs its next measurements meanwhile.
    """
    root = ledger.temporary_directory("bench-stop-honcho-")
    started = [start_tree(Honcho, ledger, root) for _ in range(runs)]
    pool = ThreadPoolExecutor(max_workers=runs)
    futures = [pool.submit(stop_one, trial, bound) for trial in started]
    pool.shutdown(wait=False)

    def finish() -> list[StopRun]:
        try:
            return [future.result() for future in futures]
        finally:
            ledger.kill_all_generations()

    return finish


def describe_time(measured: list[StopRun], bound: float) -> tuple[str, float]:
    finished = [run.seconds for run in measured if run.seconds is not None]
    if len(finished) < len(measured):
        text = f"did not finish within {bound:g} s ({len(measured) - len(finished)} of {len(measured)} runs)"
        return text, median(finished) if finished else float("nan")
    return seconds(median(finished)), median(finished)


def add_rows(section: Section, name: str, measured: list[StopRun], bound: float, note: str = "") -> None:
    text, value = describe_time(measured, bound)
    finished = [run.seconds for run in measured if run.seconds is not None]
    beyond = f"{signed_seconds(value - GRACE)} beyond the grace" if not math.isnan(value) else ""
    section.add(f"{name}: stop time", text, f"grace {GRACE:g} s", beyond,
                notes(runs_note(len(measured)), spread(finished), note))
    reported = [run.reported for run in measured if run.reported is not None]
    if reported:
        section.add(f"{name}: of which stopping the group, as `down` reports it", seconds(median(reported)),
                    f"grace {GRACE:g} s", f"{signed_seconds(median(reported) - GRACE)} beyond the grace",
                    "the rest: the command's start-up and the check that ports are free")
    section.add(f"{name}: tree processes left", f"{median([run.left for run in measured]):g} of {TREE_SIZE}",
                note="counted at the bound, still waiting" if len(finished) < len(measured) else "after the stop")


def run(settings: Settings, ledger: Ledger) -> Section:
    bound = settings.pick(60.0, 5.0)
    runs = settings.runs(3)
    section = Section("stop", f"Stop time and survivors: a {TREE_SIZE}-process tree ignoring SIGTERM, {GRACE:g} s grace",
                      reproduce="python -m bench --only stop")
    honcho = stop_in_background(ledger.child(), runs, bound)
    with tempfile.TemporaryDirectory(prefix="bench-stop-") as directory:
        for name, factory in FACTORIES.items():
            if factory is not Honcho:
                add_rows(section, name, stop_trials(factory, ledger, Path(directory), runs, bound), bound)
    section.defer(lambda: add_rows(section, "honcho", honcho(), bound,
                                   "runs side by side, in the background of the next benchmarks" if runs > 1 else ""))
    return section

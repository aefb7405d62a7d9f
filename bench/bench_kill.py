"""The manager itself SIGKILLed (OOM killer, `kill -9`, a closed terminal's cleanup): what is left?

The same 7-process tree as the stop benchmark runs under each manager; the
manager's own process gets SIGKILL, and one second later the tree's processes
still running are counted, plus the manager's own helper processes (honcho
forks one per service). For robostack this is by design: services run in their
own sessions and outlive the supervisor, and ``robostack down`` stops them from
the run state, so the table also gives what ``down`` leaves and how long it takes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psutil

from bench.bench_stop import FACTORIES, TREE_SIZE, start_tree
from bench.core import Section, Settings, median, notes, runs_note, seconds, spread
from bench.ledger import Ledger, alive
from bench.managers import Robostack

OBSERVATION = 1.0  # seconds between the SIGKILL and the count: time for anything that would die to die


def helpers_left(ledger: Ledger, tree: list[psutil.Process]) -> int:
    """Marked processes still running that are not the tree: the manager's own helpers."""
    tree_pids = {process.pid for process in tree}
    return len([process for process in ledger.survivors() if process.pid not in tree_pids])


def one_kill(name: str, ledger: Ledger, root: Path) -> dict[str, float]:
    manager, tree = start_tree(FACTORIES[name], ledger, root)
    manager.kill_manager()
    time.sleep(OBSERVATION)  # an observation window, not a synchronisation: we count what is still there after it
    figures = {"left": len(alive(tree)), "helpers": helpers_left(ledger, tree)}
    if isinstance(manager, Robostack):
        figures["down seconds"] = manager.stop(bound=60) or float("nan")
        figures["left after down"] = len(alive(tree))
    return figures


def run(settings: Settings, ledger: Ledger) -> Section:
    runs = settings.runs(3)
    section = Section("kill", f"Manager killed with SIGKILL: what is left of a {TREE_SIZE}-process tree",
                      reproduce="python -m bench --only kill")
    names = ["robostack", "supervisord (defaults)", "honcho"]
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as directory:
        for name in names:
            measured = []
            for _ in range(runs):
                measured.append(one_kill(name, ledger, Path(directory)))
                ledger.kill_everything()
            left = median([m["left"] for m in measured])
            helpers = median([m["helpers"] for m in measured])
            section.add(f"{name}: tree processes left {OBSERVATION:g} s after the SIGKILL", f"{left:g} of {TREE_SIZE}",
                        note=notes(runs_note(runs), f"plus {helpers:g} other process(es) of the manager (its helpers, shells)" if helpers else ""))
            if name == "robostack":
                downs = [m["down seconds"] for m in measured]
                section.add("robostack: then `robostack down`: tree processes left",
                            f"{median([m['left after down'] for m in measured]):g} of {TREE_SIZE}",
                            note=notes(f"down took {seconds(median(downs))}", spread(downs)))
    return section

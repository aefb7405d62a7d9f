"""What every benchmark shares: its settings, its figures, statistics and formatting.

A benchmark is a function ``run(settings, ledger) -> Section``. A :class:`Section`
holds :class:`Figure` rows: a measured value, the baseline it is compared with
(measured in the same run), and their ratio, already formatted for the table.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WORKLOADS = str(REPO / "bench" / "workloads.py")


def run_measured(argv: list[str], env: dict[str, str], *, deadline: float = 60.0) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, exit code) of one command, timed to the moment it exits.

    os.wait4 blocks until the exit: ``Popen.wait(timeout=...)`` polls with growing sleeps (up to
    50 ms late), which rounds a 40 ms command up to its polling steps. A timer kills the command's
    own session (it starts one) if it is still running at `deadline`.
    """
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    killer = threading.Timer(deadline, os.killpg, (process.pid, signal.SIGKILL))  # our child's own group
    killer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss * 1024, process.returncode


@dataclass(frozen=True)
class Settings:
    """How big and how often: the full suite, or the seconds-long smoke mode."""

    quick: bool = False

    def runs(self, full: int = 3) -> int:
        """How many times a measurement is repeated (its median is reported)."""
        return 1 if self.quick else full

    def pick(self, full, quick):
        """`full` in a full run, `quick` in smoke mode."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Figure:
    """One row of the results table; every field is already text."""

    name: str
    value: str
    baseline: str = ""
    ratio: str = ""
    note: str = ""


@dataclass
class Section:
    """One benchmark's results: its rows, what it printed, how to run it again."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    reproduce: str = ""
    seconds: float = 0.0  # how long the benchmark took
    transcript: str = ""  # verbatim output of an external script, if any
    pending: list[Callable[[], None]] = field(default_factory=list)  # measurements finishing in the background

    def defer(self, finish: Callable[[], None]) -> None:
        """`finish` waits for a background measurement and adds its figures; the runner calls it later."""
        self.pending.append(finish)

    def finish_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def add(self, name: str, value: str, baseline: str = "", ratio: str = "", note: str = "") -> Figure:
        figure = Figure(name, value, baseline, ratio, note)
        self.figures.append(figure)
        print(f"  {name}: {value}" + (f"  | baseline {baseline}" if baseline else "")
              + (f"  | {ratio}" if ratio else "") + (f"  ({note})" if note else ""), flush=True)
        return figure


def median(values: list[float]) -> float:
    """The median, or NaN for no values (a measurement that never finished)."""
    return statistics.median(values) if values else math.nan


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0.99 -> p99) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


def seconds(value: float) -> str:
    """'1.23 s', '45.6 ms', '12 µs' or 'n/a'."""
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 1:
        return f"{value:.2f} s"
    if abs(value) >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def signed_seconds(value: float) -> str:
    """'+1.23 s' or '-3.5 ms'."""
    if value is None or math.isnan(value):
        return "n/a"
    return ("-" if value < 0 else "+") + seconds(abs(value))


def ratio(value: float, baseline: float, unit: str = "x") -> str:
    """'1.04x' (value / baseline), or '' when either side is missing or zero."""
    if value is None or baseline is None or math.isnan(value) or math.isnan(baseline) or baseline == 0:
        return ""
    return f"{value / baseline:.2f}{unit}"


def spread(values: list[float]) -> str:
    """'range 1.10 s-1.32 s' over the runs (empty for a single run)."""
    finite = [value for value in values if not math.isnan(value)]
    if len(finite) < 2:
        return ""
    return f"range {seconds(min(finite))}-{seconds(max(finite))}"


def notes(*parts: str) -> str:
    """The non-empty parts, joined with commas."""
    return ", ".join(part for part in parts if part)


def runs_note(count: int) -> str:
    return f"median of {count} run{'s' if count != 1 else ''}"

"""Footprint: each manager's own CPU and memory while it supervises the default stack, idle.

Three copies of the default stack (stack.yaml, each on its own free ports) run at
once: under robostack (``up --detach``), under supervisord and under honcho. Once
ticks flow through each copy's WebSocket server, one window (60 s; ``--quick``: 3 s)
is measured for all three managers side by side:

* CPU: the CPU time the manager's own processes used in the window (user +
  system, including reaped children such as exec probes), as % of one core (the
  kernel counts in 10 ms ticks: about +-0.02 % over 60 s);
* memory: RSS summed over the manager's own processes, sampled every second
  (median), and PSS (shared pages split between the processes sharing them; honcho
  forks a helper per service, so its RSS sum counts shared pages several times).

A manager's own processes are its process and its descendants in its process group:
the services run in groups of their own under all three, so they are not counted.
Issue 6's target for robostack: idle CPU well under 1% of a core, RSS under 60 MB.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.core import Section, Settings, median, notes, ratio
from bench.default_stack import DefaultStack, check_runner
from bench.ledger import Ledger
from bench.managers import BenchError, Honcho, Manager, Robostack, Supervisord

RSS_TARGET_MB = 60.0
CPU_TARGET_PERCENT = 1.0


@dataclass
class Footprint:
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    rss: list[float] = field(default_factory=list)  # MB
    pss: list[float] = field(default_factory=list)  # MB


def own_processes(pid: int) -> list[psutil.Process]:
    """The manager and its descendants that share its process group (not the services)."""
    root = psutil.Process(pid)
    group = os.getpgid(pid)
    found = [root]
    for child in root.children(recursive=True):
        try:
            if os.getpgid(child.pid) == group:
                found.append(child)
        except ProcessLookupError:
            continue
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total


def sample_memory(processes: list[psutil.Process], footprint: Footprint) -> None:
    rss = pss = 0.0
    for process in processes:
        try:
            info = process.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
        except psutil.Error:
            continue
    footprint.rss.append(rss / 2**20)
    footprint.pss.append(pss / 2**20)


def start_copies(ledger: Ledger, root: Path) -> dict[str, tuple[Manager, DefaultStack]]:
    copies: dict[str, tuple[Manager, DefaultStack]] = {}
    stack = DefaultStack()
    robostack = Robostack(ledger, root / "robostack", [], document=stack.robostack_document())
    robostack.up()
    copies["robostack"] = (robostack, stack)
    for kind in (Supervisord, Honcho):
        stack = DefaultStack()
        manager = kind(ledger, root / kind.name, stack.specs())
        manager.start()
        copies[kind.name] = (manager, stack)
    for name, (_, stack) in copies.items():
        if not stack.wait_streaming():
            raise BenchError(f"the default stack under {name} never streamed ticks")
    return copies


def measure_window(copies: dict[str, tuple[Manager, DefaultStack]], window: float) -> dict[str, tuple[Footprint, float]]:
    processes = {name: own_processes(manager.manager_pid()) for name, (manager, _) in copies.items()}
    footprints = {name: Footprint(cpu_start=cpu_seconds(found)) for name, found in processes.items()}
    started = time.monotonic()
    deadline = started + window
    while True:
        for name, found in processes.items():
            sample_memory(found, footprints[name])
        if time.monotonic() >= deadline:
            break
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # the sampling period of the window
    elapsed = time.monotonic() - started
    for name, found in processes.items():
        footprints[name].cpu_end = cpu_seconds(found)
    return {name: (footprint, elapsed) for name, footprint in footprints.items()}


def run(settings: Settings, ledger: Ledger) -> Section:
    window = settings.pick(60.0, 3.0)
    section = Section("footprint", f"Footprint: each manager idle with the default stack up, {window:g} s window",
                      reproduce="python -m bench --only footprint")
    problem = check_runner(ledger)
    if problem:
        raise BenchError(f"services.runner_async cannot run here: {problem}")
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as directory:
        copies = start_copies(ledger, Path(directory))
        try:
            measured = measure_window(copies, window)
        finally:
            for manager, _ in copies.values():
                manager.stop(bound=30)
    add_rows(section, measured)
    return section


def add_rows(section: Section, measured: dict[str, tuple[Footprint, float]]) -> None:
    cpu = {name: (f.cpu_end - f.cpu_start) / elapsed * 100 for name, (f, elapsed) in measured.items()}
    rss = {name: median(f.rss) for name, (f, _) in measured.items()}
    pss = {name: median(f.pss) for name, (f, _) in measured.items()}
    samples = len(measured["robostack"][0].rss)
    for name in measured:
        target = ""
        if name == "robostack":
            target = f"target < {CPU_TARGET_PERCENT:g}%: {'met' if cpu[name] < CPU_TARGET_PERCENT else 'MISSED'}"
        section.add(f"{name}: idle CPU", f"{cpu[name]:.2f}% of a core",
                    f"supervisord {cpu['supervisord']:.2f}%" if name != "supervisord" else "",
                    ratio(cpu[name], cpu["supervisord"]) if name != "supervisord" else "", target)
        target = ""
        if name == "robostack":
            target = f"target RSS < {RSS_TARGET_MB:g} MB: {'met' if rss[name] < RSS_TARGET_MB else 'MISSED'}"
        section.add(f"{name}: memory, RSS (PSS)", f"{rss[name]:.1f} MB ({pss[name]:.1f} MB)",
                    f"supervisord {rss['supervisord']:.1f} MB" if name != "supervisord" else "",
                    ratio(rss[name], rss["supervisord"]) if name != "supervisord" else "",
                    notes(target, f"median of {samples} samples, max RSS {max(measured[name][0].rss):.1f} MB"))

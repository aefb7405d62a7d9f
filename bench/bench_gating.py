"""Gating: how long `up` takes for a 3-service chain beyond the time the services need.

A -> B -> C, each ``bench/workloads.py ready-after D`` (it listens on its port, and
sends READY=1 when ``NOTIFY_SOCKET`` is set, D seconds after it starts). The critical
path is 3 x D. Measured, medians over the runs:

* the services alone: the bench starts each one as soon as the previous one's port
  accepts (polled every 2 ms): the true limit, with interpreter start-up included;
* robostack ``up --detach`` with ``tcp`` probes at the default ``interval`` (1 s; the
  gate probes at 50 ms and backs off to the interval), and with ``notify`` probes
  (woken by READY=1): wall time of the command, and the supervisor's own gating span
  (first ``starting`` to last ``healthy`` event);
* a START_TRADER.sh-style script: ``cmd &`` then ``sleep D``, three times, given
  the exact delays (no margin); and whether C was actually ready when it returned.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.core import (PYTHON, WORKLOADS, Section, Settings, median, notes, ratio, runs_note, seconds, signed_seconds,
                        spread)
from bench.ledger import Ledger, free_port, port_accepts, wait_for
from bench.managers import BenchError, Robostack, ServiceSpec

NAMES = ("a", "b", "c")


def chain(delay: float, ports: list[int], probe: str) -> list[ServiceSpec]:
    specs = []
    for index, (name, port) in enumerate(zip(NAMES, ports)):
        argv = [PYTHON, WORKLOADS, "ready-after", "--seconds", str(delay), "--port", str(port)]
        health = {"tcp": {"port": port}} if probe == "tcp" else {"notify": {}}
        specs.append(ServiceSpec(name, argv, depends_on=list(NAMES[:index][-1:]), health=health, ports=[port],
                                 extra={"restart": "no"}))
    return specs


def services_alone(ledger: Ledger, delay: float) -> float:
    """Start each service once the previous one accepts connections: the limit."""
    started = time.monotonic()
    for port in [free_port() for _ in NAMES]:
        ledger.spawn([PYTHON, WORKLOADS, "ready-after", "--seconds", str(delay), "--port", str(port)])
        if not wait_for(lambda port=port: port_accepts(port), timeout=30, poll=0.002):
            raise BenchError(f"a ready-after service never listened on port {port}")
    return time.monotonic() - started


def robostack_up(ledger: Ledger, delay: float, probe: str, root: Path) -> dict[str, float]:
    """The wall time of `up --detach`, and where it went, from the supervisor's events."""
    workdir = Path(tempfile.mkdtemp(prefix=f"gating-{probe}-", dir=root))
    manager = Robostack(ledger, workdir, chain(delay, [free_port() for _ in NAMES], probe))
    try:
        invoked = time.time()
        wall = manager.up()
        returned = time.time()
        events = manager.events()
    finally:
        manager.stop(bound=60)
    def moments(*names: str) -> list[float]:
        return [datetime.fromisoformat(e["time"]).timestamp() for e in events if e["event"] in names]

    supervisor, starts, healthy = moments("supervisor-started"), moments("starting"), moments("healthy")
    if not (supervisor and starts and healthy):
        raise BenchError(f"robostack's events lack supervisor-started/starting/healthy: {events}")
    return {"wall": wall, "span": max(healthy) - min(starts), "to supervisor": supervisor[0] - invoked,
            "before first start": min(starts) - supervisor[0], "after last healthy": returned - max(healthy)}


def fixed_sleep_script(ledger: Ledger, delay: float, root: Path) -> tuple[float, bool]:
    """(wall time of the script, whether the last service was ready when it returned)."""
    ports = [free_port() for _ in NAMES]
    lines = ["#!/bin/bash", "# START_TRADER.sh style: start in the background, sleep, hope."]
    for port in ports:
        lines += [f"{PYTHON} {WORKLOADS} ready-after --seconds {delay} --port {port} >/dev/null 2>&1 &", f"sleep {delay}"]
    script = Path(tempfile.mkdtemp(prefix="gating-script-", dir=root)) / "start.sh"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    started = time.monotonic()
    ledger.spawn([str(script)]).wait(timeout=60)
    wall = time.monotonic() - started
    return wall, port_accepts(ports[-1])


def run(settings: Settings, ledger: Ledger) -> Section:
    delay = settings.pick(0.5, 0.2)
    runs = settings.runs(3)
    critical = len(NAMES) * delay
    section = Section("gating", f"Gating: a 3-service chain, each ready {delay:g} s after it starts "
                      f"(critical path {critical:g} s)", reproduce="python -m bench --only gating")
    alone, tcp, notify, script, script_ready = [], [], [], [], 0
    with tempfile.TemporaryDirectory(prefix="bench-gating-") as directory:
        root = Path(directory)
        for _ in range(runs):  # round-robin, so drift on the machine affects every variant alike
            alone.append(services_alone(ledger, delay))
            ledger.kill_everything()
            tcp.append(robostack_up(ledger, delay, "tcp", root))
            notify.append(robostack_up(ledger, delay, "notify", root))
            wall, ready = fixed_sleep_script(ledger, delay, root)
            script.append(wall)
            script_ready += ready
            ledger.kill_everything()
    add_rows(section, critical, runs, alone, tcp, notify, script, script_ready)
    return section


def add_rows(section: Section, critical: float, runs: int, alone: list[float], tcp: list[dict[str, float]],
             notify: list[dict[str, float]], script: list[float], script_ready: int) -> None:
    base = f"critical path {seconds(critical)}"
    limit = median(alone)
    section.add("services alone, each started once the previous accepts", seconds(limit), base, ratio(limit, critical),
                notes(f"{signed_seconds(limit - critical)}: interpreter start-ups", runs_note(runs), spread(alone)))
    for label, measured in (("tcp probes, interval 1s", tcp), ("notify probes (READY=1)", notify)):
        figure = {key: median([m[key] for m in measured]) for key in measured[0]}
        walls = [m["wall"] for m in measured]
        section.add(f"robostack up --detach, {label}: wall time", seconds(figure["wall"]), base,
                    ratio(figure["wall"], critical),
                    notes(f"gating overhead {signed_seconds(figure['wall'] - critical)}", runs_note(runs), spread(walls)))
        section.add(f"robostack, {label}: supervisor's gating span", seconds(figure["span"]),
                    f"services alone {seconds(limit)}", ratio(figure["span"], limit),
                    notes(f"{signed_seconds(figure['span'] - limit)} over the limit",
                          spread([m["span"] for m in measured])))
        section.add(f"robostack, {label}: outside the gating span", seconds(figure["wall"] - figure["span"]),
                    note=f"command to supervisor started {seconds(figure['to supervisor'])}, then to the first start "
                         f"{seconds(figure['before first start'])} (pre-flight), last healthy to return "
                         f"{seconds(figure['after last healthy'])}")
    section.add("START_TRADER.sh-style script, sleeps of exactly the delays", seconds(median(script)), base,
                ratio(median(script), critical),
                notes(f"last service ready when it returned: {script_ready} of {runs} runs", spread(script)))

"""The Gateway monitor against the per-probe handshake: connections made, and how soon a farm outage shows.

Two measurements against the Gateway simulator, each with its same-run baseline:

* **Connections**: N liveness verdicts on a healthy Gateway, one after another, from the
  monitor (:class:`launcher.probes.gateway_monitor.GatewayMonitor`) and from the ``ib_api``
  probe the supervisor runs today. The connections are counted by the simulator itself (its
  ``conn N ... accepted`` lines), then given per minute at the default ``interval: 1s``
  (60 verdicts a minute).
* **Farm outage to verdict**: the simulator breaks its data farms K times
  (``--farm-outage``); the time from its own ``condition farms-broken`` line (a wall-clock
  timestamp, ms) to the moment the monitor's condition says ``farms-broken``, and to the first
  ``ib_api`` probe with ``session: true`` (the only probe that can see 2103: in a new
  session's greeting) run every second, as the supervisor would.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.core import PYTHON, Section, Settings, median, notes, ratio, seconds
from bench.ledger import Ledger, free_port, port_accepts, wait_for
from bench.managers import BenchError
from launcher.probes.base import ProbeContext, run_probe
from launcher.probes.gateway_monitor import GatewayMonitor
from launcher.stack.model import Health

INTERVAL = 1.0  # the default liveness interval the per-minute figures are given at
OUTAGE_EVERY = 3.0  # seconds between the simulator's farm outages
OUTAGE_LENGTH = 1.5
_BROKEN = re.compile(r"^(\S+ \S+) gateway_sim: condition farms-broken")


def start_simulator(ledger: Ledger, log: Path, *args: str) -> tuple[int, subprocess.Popen]:
    port = free_port()
    with open(log, "wb") as output:
        process = ledger.spawn([PYTHON, "-m", "services.gateway_sim", "--port", str(port), "--seed", "1",
                                "--state-file", "none", *args], stdout=output)
    if not wait_for(lambda: port_accepts(port), timeout=30, poll=0.02):
        raise BenchError(f"the gateway simulator never listened: {log.read_text(errors='replace')[-300:]}")
    return port, process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def accepted(log: Path) -> int:
    return len(re.findall(r"conn \d+ from \S+ accepted", log.read_text(errors="replace")))


async def monitor_verdicts(port: int, count: int) -> int:
    """Failed verdicts among ``count`` from one monitor."""
    monitor = GatewayMonitor(Health(ib_api={"port": port}))
    failed = 0
    for _ in range(count):
        failed += not (await monitor.verdict()).ok
    await monitor.close()
    return failed


async def probe_verdicts(port: int, count: int) -> int:
    health, context, failed = Health(ib_api={"port": port}), ProbeContext("bench"), 0
    for _ in range(count):
        failed += not (await run_probe(health, context)).ok
    return failed


def connections(settings: Settings, ledger: Ledger, directory: Path) -> tuple[float, float, int, int]:
    """(monitor, probe) connections per verdict, and failures of each."""
    count = settings.pick(600, 30)
    results = []
    for name, verdicts in (("monitor", monitor_verdicts), ("probe", probe_verdicts)):
        log = directory / f"{name}.log"
        port, process = start_simulator(ledger, log)
        before = wait_for(lambda: accepted(log), timeout=10)  # the readiness check's own connection
        failed = asyncio.run(verdicts(port, count))
        wait_for(lambda: accepted(log) > before and "disconnected" in log.read_text(errors="replace"), timeout=10)
        results.append(((accepted(log) - before) / count, failed))
        stop(process)
    (monitor, monitor_failed), (probe, probe_failed) = results
    return monitor, probe, monitor_failed, probe_failed


async def outage_latencies(port: int, log: Path, outages: int) -> tuple[list[float], list[float]]:
    """Per outage: seconds until the monitor's condition said so, and until a session probe did."""
    monitor_seen: list[float] = []
    probe_seen: list[float] = []
    monitor = GatewayMonitor(Health(ib_api={"port": port}, interval=INTERVAL))
    await monitor.start()
    session = Health(ib_api={"port": port, "session": True, "client_id": 901}, interval=INTERVAL)
    context = ProbeContext("bench")
    stop = time.monotonic() + 2 + outages * OUTAGE_EVERY

    async def watch_monitor() -> None:
        broken = False
        while time.monotonic() < stop:
            now_broken = monitor.condition().state == "farms-broken"
            if now_broken and not broken:
                monitor_seen.append(time.time())
            broken = now_broken
            await asyncio.sleep(0.001)  # polling the monitor's state; the notice itself arrives on its own

    async def probe_every_interval() -> None:
        broken = False
        while time.monotonic() < stop:
            result = await run_probe(session, context)
            now_broken = 2103 in result.facts.get("error_codes", [])
            if now_broken and not broken:
                probe_seen.append(time.time())
            broken = now_broken
            await asyncio.sleep(INTERVAL)  # the supervisor's pacing between probes

    await asyncio.gather(watch_monitor(), probe_every_interval())
    await monitor.close()
    starts = [datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
              for match in map(_BROKEN.match, log.read_text(errors="replace").splitlines()) if match]
    return _delays(starts, monitor_seen), _delays(starts, probe_seen)


def _delays(starts: list[float], seen: list[float]) -> list[float]:
    """For each outage start, the first sighting after it (and before the next outage)."""
    delays = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else float("inf")
        first = next((when for when in seen if start - 0.01 <= when < end), None)
        if first is not None:
            delays.append(max(0.0, first - start))
    return delays


def run(settings: Settings, ledger: Ledger) -> Section:
    count = settings.pick(600, 30)
    outages = settings.pick(10, 2)
    section = Section("monitor", "Gateway monitor: connections and farm-outage detection",
                      reproduce="python -m bench --only monitor")
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as folder:
        directory = Path(folder)
        monitor, probe, monitor_failed, probe_failed = connections(settings, ledger, directory)
        section.add("new API connections per minute to a healthy Gateway (interval 1s)",
                    f"{monitor * 60:.2f}", f"ib_api probe {probe * 60:.0f}", ratio(monitor, probe),
                    notes(f"{count:,} verdicts each, counted by the simulator",
                          f"{monitor_failed + probe_failed} failed" if monitor_failed + probe_failed else ""))
        log = directory / "outages.log"
        args = [arg for n in range(outages) for arg in ("--farm-outage", f"{1 + n * OUTAGE_EVERY:g}:{OUTAGE_LENGTH:g}")]
        port, process = start_simulator(ledger, log, *args)
        by_monitor, by_probe = asyncio.run(outage_latencies(port, log, outages))
        stop(process)
    section.add("farm outage to the monitor's condition: median", seconds(median(by_monitor)),
                f"session probe every 1s {seconds(median(by_probe))}", ratio(median(by_monitor), median(by_probe)),
                notes(f"{len(by_monitor)} of {outages} outages seen by the monitor, {len(by_probe)} by the probe",
                      f"worst {seconds(max(by_monitor))} vs {seconds(max(by_probe))}" if by_monitor and by_probe
                      else ""))
    return section

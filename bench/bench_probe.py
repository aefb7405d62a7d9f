"""Probe cost: the ib_api probe against the Gateway simulator, and the sockets it leaves.

A simulator runs on a free loopback port. In this process, N probes run one after
another through ``launcher.probes.base.run_probe`` (what the supervisor calls):

* ``ib_api`` (the TWS handshake, answered with the server version; then closed);
* ``ib_api`` with ``session: true`` (also startApi, nextValidId and managedAccounts);
* the baseline: a ``tcp`` probe of the same port (connect and close).

Each kind first runs 10 untimed probes (imports, first connections).

Each figure is the median and p99 of the wall time per probe. After the ib_api
probes, every socket on the simulator's port (both sides, from psutil) is counted
by state: ESTABLISHED, CLOSE_WAIT or FIN_WAIT2 ones would be leaks; TIME_WAIT is the
kernel's, harmless, and gone within a minute.
"""

from __future__ import annotations

import asyncio
import collections
import tempfile
import time
from pathlib import Path

import psutil

from bench.core import PYTHON, Section, Settings, median, notes, percentile, ratio, seconds
from bench.ledger import Ledger, free_port, port_accepts, wait_for
from bench.managers import BenchError
from launcher.probes.base import ProbeContext, run_probe
from launcher.stack.model import Health


WARM_UP = 10  # untimed probes first: imports, caches


async def time_probes(health: Health, count: int) -> tuple[list[float], int]:
    """Per-probe wall times, and how many failed (after a few untimed ones)."""
    context = ProbeContext(service_name="bench")
    for _ in range(WARM_UP):
        await run_probe(health, context)
    durations, failures = [], 0
    for _ in range(count):
        started = time.perf_counter()
        result = await run_probe(health, context)
        durations.append(time.perf_counter() - started)
        failures += not result.ok
    return durations, failures


def sockets_on(port: int) -> collections.Counter:
    """(side, state) of every TCP socket with `port` on either end (listening sockets excluded).

    The side is "server" for the simulator's end (local port == `port`), "probe" for ours.
    """
    states = collections.Counter()
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN:
            continue
        if connection.laddr and connection.laddr.port == port:
            states["server", connection.status] += 1
        elif connection.raddr and connection.raddr.port == port:
            states["probe", connection.status] += 1
    return states


def start_simulator(ledger: Ledger, log: Path) -> int:
    port = free_port()
    with open(log, "wb") as output:
        ledger.spawn([PYTHON, "-m", "services.gateway_sim", "--port", str(port), "--seed", "1"], stdout=output)
    if not wait_for(lambda: port_accepts(port), timeout=30, poll=0.02):
        raise BenchError(f"the gateway simulator never listened: {log.read_text(errors='replace')[-300:]}")
    return port


def run(settings: Settings, ledger: Ledger) -> Section:
    count = settings.pick(1000, 50)
    sessions = settings.pick(200, 20)
    section = Section("probe", f"Probe cost: {count:,} ib_api probes against the simulator",
                      reproduce="python -m bench --only probe")
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as directory:
        port = start_simulator(ledger, Path(directory) / "gateway.log")
        handshake, failed = asyncio.run(time_probes(Health(ib_api={"port": port}), count))
        left = sockets_on(port)
        session, session_failed = asyncio.run(time_probes(Health(ib_api={"port": port, "session": True}), sessions))
        baseline, _ = asyncio.run(time_probes(Health(tcp={"port": port}), count))
    base = median(baseline)
    base_text = f"tcp probe {seconds(base)}"
    section.add("ib_api probe (handshake): median", seconds(median(handshake)), base_text, ratio(median(handshake), base),
                notes(f"{count:,} probes", f"{failed} failed" if failed else ""))
    section.add("ib_api probe (handshake): p99", seconds(percentile(handshake, 0.99)),
                f"tcp probe p99 {seconds(percentile(baseline, 0.99))}",
                ratio(percentile(handshake, 0.99), percentile(baseline, 0.99)))
    section.add("ib_api probe (session: startApi, nextValidId): median", seconds(median(session)), base_text,
                ratio(median(session), base), notes(f"{sessions:,} probes, p99 {seconds(percentile(session, 0.99))}",
                                                   f"{session_failed} failed" if session_failed else ""))
    leaks = sum(number for (_, state), number in left.items()
                if state in (psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT, psutil.CONN_FIN_WAIT2))
    every = ", ".join(f"{side} side {state}: {number}" for (side, state), number in sorted(left.items())) or "none"
    section.add(f"sockets left after {count + WARM_UP:,} ib_api probes (ESTABLISHED, CLOSE_WAIT, FIN_WAIT2)", str(leaks),
                note=f"all sockets on the port: {every} (TIME_WAIT is the kernel's, gone within 60 s)")
    return section

"""The benchmark scripts other engineers wrote, run as they are, their figures picked out.

* ``bench/bench_gateway_sim.py``: the simulator's handshake -> nextValidId latency and
  tick throughput (it measures its own baselines);
* ``bench/bench_ticks.py``: ticks end to end, simulator -> trader -> WebSocket server ->
  subscribers, against a bare ib_async client and a WebSocket-only path;
* ``bench/measure_stop.py``: ``stop_group`` itself (no CLI), pidfds vs polling.

Each runs as a child process (marked by the ledger, so its leftovers are found);
its output goes verbatim into BENCHMARKS.md and the key lines into the table.
"""

from __future__ import annotations

import re
import subprocess

from bench.core import PYTHON, Section, Settings
from bench.ledger import Ledger
from bench.managers import BenchError


def run_script(ledger: Ledger, module: str, arguments: list[str], timeout: float) -> str:
    try:
        result = ledger.run([PYTHON, "-m", module, *arguments], timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{module} did not finish within {timeout:g} s") from error
    if result.returncode != 0:
        raise BenchError(f"{module} exited {result.returncode}: {(result.stderr or result.stdout)[-400:]}")
    return result.stdout


def command_line(module: str, arguments: list[str]) -> str:
    return " ".join(["python -m", module, *arguments])


def run_gateway_sim(settings: Settings, ledger: Ledger) -> Section:
    arguments = settings.pick(["--rounds", "200", "--seconds", "1"], ["--rounds", "20", "--seconds", "0.3"])
    output = run_script(ledger, "bench.bench_gateway_sim", arguments, timeout=120)
    section = Section("gateway_sim", "Gateway simulator (bench/bench_gateway_sim.py)",
                      reproduce=command_line("bench.bench_gateway_sim", arguments), transcript=output)
    latency = re.search(r"nextValidId:\s+median ([\d.]+) ms, p99 ([\d.]+) ms\s+\(([\d.]+)x baseline\)", output)
    baseline = re.search(r"server version \(baseline\): median ([\d.]+) ms, p99 ([\d.]+) ms", output)
    if latency and baseline:
        section.add("handshake -> nextValidId, median", f"{latency[1]} ms", f"handshake -> server version {baseline[1]} ms",
                    f"{latency[3]}x", f"p99 {latency[2]} ms (baseline p99 {baseline[2]} ms)")
    for title, block in re.findall(r"-- (paced|flat out)[^\n]*\n((?:tick messages[^\n]*\n)+)", output):
        for clients, total, share in re.findall(r"to\s+(\d+) client\(s\):\s+([\d,]+) total.*?\((\d+)% of", block):
            section.add(f"tick messages/s, {title}, {clients} client(s)", total, note=f"{share}% of the rate asked for")
    return section


def run_orders(settings: Settings, ledger: Ledger) -> Section:
    arguments = settings.pick([], ["--quick"])
    output = run_script(ledger, "bench.bench_orders", arguments, timeout=600)
    section = Section("orders", "Paper orders on the Gateway simulator (bench/bench_orders.py)",
                      reproduce=command_line("bench.bench_orders", arguments), transcript=output)
    baseline = re.search(r"\(baseline\): median ([\d.]+ ms), p99 ([\d.]+ ms)", output)
    for what in ("first orderStatus", "Filled"):
        found = re.search(rf"placeOrder -> {what}: median ([\d.]+ ms), p99 ([\d.]+ ms) \(([\d.]+x)", output)
        if found and baseline:
            section.add(f"placeOrder -> {what}, median", found[1], f"reqCurrentTime round trip {baseline[1]}",
                        found[3], f"p99 {found[2]} (baseline p99 {baseline[2]})")
    fills = re.search(r"fills per second to one client: ([\d,]+)", output)
    if fills:
        section.add("fills per second to one client", fills[1])
    memory = re.search(r"RSS after ([\d,]+) orders: ([\d.]+ MiB) \(baseline after connecting: ([\d.]+ MiB)", output)
    if memory:
        section.add(f"simulator RSS after {memory[1]} orders", memory[2], f"after connecting {memory[3]}")
    return section


def run_ticks(settings: Settings, ledger: Ledger) -> Section:
    arguments = settings.pick(["--seconds", "2"], ["--quick"])
    output = run_script(ledger, "bench.bench_ticks", arguments, timeout=180)
    section = Section("ticks", "Ticks end to end (bench/bench_ticks.py)",
                      reproduce=command_line("bench.bench_ticks", arguments), transcript=output)
    per_subscriber = re.search(r"per subscriber: ([\d,]+) ticks/s = ([\d.]+) x the direct stream", output)
    direct = re.search(r"ib_async straight from the simulator: ([\d,]+)", output)
    if per_subscriber and direct:
        section.add("ticks/s at each subscriber", per_subscriber[1], f"bare ib_async client {direct[1]}/s",
                    f"{per_subscriber[2]}x")
    latency = re.search(r"trader receipt -> subscriber: p50 ([\d.]+ ms), p99 ([\d.]+ ms)", output)
    websocket_only = re.search(r"at the same rate: p50 ([\d.]+ ms), p99 ([\d.]+ ms)", output)
    ratios = re.search(r"ratio p50 ([\d.]+x), p99 ([\d.]+x)", output)
    if latency and websocket_only and ratios:
        section.add("latency trader -> subscriber, p50", latency[1], f"WebSocket-only path {websocket_only[1]}", ratios[1])
        section.add("latency trader -> subscriber, p99", latency[2], f"WebSocket-only path {websocket_only[2]}", ratios[2])
    return section


def run_stop_group(settings: Settings, ledger: Ledger) -> Section:
    arguments = settings.pick(["--rounds", "3", "--grace", "0.5"], ["--rounds", "1", "--grace", "0.2"])
    output = run_script(ledger, "bench.measure_stop", arguments, timeout=120)
    section = Section("stop_group", "stop_group internals (bench/measure_stop.py)",
                      reproduce=command_line("bench.measure_stop", arguments), transcript=output)
    for mode, what, value, worst in re.findall(r"^\s+(pidfd|polling)\s+(.+?)\s+median\s+([\d.]+) ms\s+max\s+([\d.]+) ms",
                                               output, flags=re.MULTILINE):
        section.add(f"{what} ({mode})", f"{value} ms", note=f"max {worst} ms")
    return section

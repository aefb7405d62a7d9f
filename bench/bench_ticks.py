"""Benchmark ticks end to end: simulator -> trader -> WebSocket server -> 10 subscribers.

Run ``python bench/bench_ticks.py`` (``--quick`` for a few-second smoke run). It starts
real processes on free loopback ports and prints, all measured in this one run:

* baseline: ticker updates per second that a bare ``ib_async`` client gets straight
  from the simulator (the most the trader could forward);
* end to end: tick messages per second at each of N subscribers, as a ratio of that
  baseline, and the total delivered to all subscribers;
* latency from the trader's receipt of a tick (the event's ``time``) to a subscriber
  (p50, p99), next to a baseline: the same number of messages per second published
  straight into a fresh WebSocket server, measured the same way;
* the server's counters (relayed, dropped) afterwards.

A measurement, not a test: it prints figures and never asserts on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

SYMBOLS = ("AAPL", "NVDA", "TSLA")


# -- processes ------------------------------------------------------------------------------

class Processes:
    """Services started in their own sessions; every group is killed at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, *args: str, ready: str, env: dict | None = None) -> tuple[subprocess.Popen, re.Match]:
        """Start ``python -m ARGS``; return once a stdout line matches `ready`."""
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True)
        self.started.append(proc)
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            match = re.search(ready, line)
            if match:
                threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
                return proc, match
            if time.monotonic() > deadline:
                break
        raise SystemExit(f"{args[1]} did not print {ready!r} (exit {proc.poll()})")

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def start_websocket_server(processes: Processes) -> int:
    _, match = processes.start("services.websocket_server", "--port", "0", "--queue-size", "100000",
                               ready=r"listening on ws://127\.0\.0\.1:(\d+)")
    return int(match.group(1))


def server_counters(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return json.loads(response.read())


# -- measurements ---------------------------------------------------------------------------

@dataclass
class Delivery:
    """What the subscribers saw during one measurement window."""

    counts: list[int]
    latencies: list[float] = field(default_factory=list)  # seconds
    seconds: float = 0.0

    def per_subscriber_rate(self) -> float:
        return sum(self.counts) / len(self.counts) / self.seconds if self.counts else math.nan

    def total_rate(self) -> float:
        return sum(self.counts) / self.seconds


async def direct_update_rate(sim_port: int, seconds: float) -> float:
    """Ticker updates per second a bare ib_async client receives from the simulator."""
    from ib_async import IB, Stock

    ib = IB()
    await ib.connectAsync("127.0.0.1", sim_port, clientId=77, timeout=30)
    contracts = await ib.qualifyContractsAsync(*[Stock(symbol, "SMART", "USD") for symbol in SYMBOLS])
    updates = 0

    def count(tickers) -> None:
        nonlocal updates
        updates += len(tickers)

    for contract in contracts:
        ib.reqMktData(contract)
    await asyncio.sleep(1.0)  # warm-up: let the stream settle before counting
    ib.pendingTickersEvent += count
    started = time.perf_counter()
    await asyncio.sleep(seconds)  # the measurement window
    elapsed = time.perf_counter() - started
    ib.pendingTickersEvent -= count
    ib.disconnect()
    return updates / elapsed


async def subscribe_and_count(ws_port: int, subscribers: int, seconds: float, *,
                              while_measuring=None) -> Delivery:
    """Connect `subscribers` clients, count tick messages for `seconds`, sample latencies."""
    from websockets.asyncio.client import connect

    clients = [await connect(f"ws://127.0.0.1:{ws_port}/", max_queue=None) for _ in range(subscribers)]
    for client in clients:
        await client.send(json.dumps({"subscribe": ["tick"]}))
        await client.recv()  # the subscription's acknowledgement
    delivery = Delivery(counts=[0] * subscribers)
    measuring = asyncio.Event()

    async def read(index: int, client) -> None:
        async for message in client:
            if not measuring.is_set():
                continue
            arrived = time.time()
            delivery.counts[index] += 1
            stamp = json.loads(message)["time"]
            delivery.latencies.append(arrived - datetime.fromisoformat(stamp).timestamp())

    readers = [asyncio.create_task(read(index, client)) for index, client in enumerate(clients)]
    await asyncio.sleep(1.0)  # warm-up
    measuring.set()
    started = time.perf_counter()
    producer = asyncio.create_task(while_measuring(seconds)) if while_measuring else None
    await asyncio.sleep(seconds)  # the measurement window
    delivery.seconds = time.perf_counter() - started
    measuring.clear()
    if producer:
        await producer
    for client in clients:
        await client.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return delivery


async def publish_at(ws_port: int, rate: float, seconds: float) -> None:
    """Publish stamped ticks at `rate` per second for `seconds` (the WebSocket-only baseline).

    Like the trader fed by the simulator, it sends one tick per symbol per market step,
    the steps evenly spaced, so both paths see the same traffic pattern.
    """
    from websockets.asyncio.client import connect

    step = len(SYMBOLS) / rate
    async with connect(f"ws://127.0.0.1:{ws_port}/publish", compression=None) as publisher:
        started = time.perf_counter()
        steps = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            while steps * step <= elapsed:
                for symbol in SYMBOLS:
                    await publisher.send(json.dumps({
                        "type": "tick", "symbol": symbol, "bid": 100.0, "ask": 100.01, "last": 100.0,
                        "time": datetime.now(timezone.utc).isoformat(timespec="microseconds")}, separators=(",", ":")))
                steps += 1
            await asyncio.sleep(max(0.0, steps * step - (time.perf_counter() - started)))  # pacing to the next step


# -- report ---------------------------------------------------------------------------------

def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def milliseconds(value: float) -> str:
    return f"{value * 1000:.2f} ms"


async def run(arguments: argparse.Namespace) -> None:
    processes = Processes()
    try:
        _, match = processes.start("services.gateway_sim", "--port", "0", "--seed", "1",
                                   "--tick-interval", str(arguments.tick_interval),
                                   ready=r"listening on 127\.0\.0\.1:(\d+)")
        sim_port = int(match.group(1))
        print(f"bench_ticks: {len(SYMBOLS)} symbols, simulator tick interval {arguments.tick_interval}s, "
              f"{arguments.subscribers} subscribers, {arguments.seconds:g}s windows", flush=True)

        direct = await direct_update_rate(sim_port, arguments.seconds)
        print(f"  baseline  ib_async straight from the simulator: {direct:,.0f} ticker updates/s", flush=True)

        ws_port = start_websocket_server(processes)
        processes.start("services.runner_async", "--symbols", ",".join(SYMBOLS), "--port", str(sim_port),
                        "--client-id", "10", "--ws-url", f"ws://127.0.0.1:{ws_port}/publish",
                        ready=r"ready: streaming")
        end_to_end = await subscribe_and_count(ws_port, arguments.subscribers, arguments.seconds)
        per_subscriber = end_to_end.per_subscriber_rate()
        print(f"  end to end, per subscriber: {per_subscriber:,.0f} ticks/s "
              f"= {per_subscriber / direct:.3f} x the direct stream", flush=True)
        print(f"  end to end, all {arguments.subscribers} subscribers: {end_to_end.total_rate():,.0f} messages/s",
              flush=True)
        counters = server_counters(ws_port)
        print(f"  server counters: {counters['events_relayed']:,} relayed, {counters['events_dropped']:,} dropped, "
              f"{counters['subscribers_evicted']} subscribers evicted", flush=True)

        baseline_port = start_websocket_server(processes)
        ws_only = await subscribe_and_count(
            baseline_port, arguments.subscribers, arguments.seconds,
            while_measuring=lambda window: publish_at(baseline_port, per_subscriber, window))
        p50, p99 = percentile(end_to_end.latencies, 0.50), percentile(end_to_end.latencies, 0.99)
        base50, base99 = percentile(ws_only.latencies, 0.50), percentile(ws_only.latencies, 0.99)
        print(f"  latency trader receipt -> subscriber: p50 {milliseconds(p50)}, p99 {milliseconds(p99)} "
              f"({len(end_to_end.latencies):,} samples)", flush=True)
        print(f"  baseline  publisher -> WebSocket server -> subscriber at the same rate: p50 {milliseconds(base50)}, "
              f"p99 {milliseconds(base99)} ({len(ws_only.latencies):,} samples)", flush=True)
        print(f"  ratio p50 {p50 / base50:.2f}x, p99 {p99 / base99:.2f}x the WebSocket-only path", flush=True)
    finally:
        processes.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window (default 10)")
    parser.add_argument("--subscribers", type=int, default=10, help="WebSocket subscribers (default 10)")
    parser.add_argument("--tick-interval", type=float, default=0.002,
                        help="simulator seconds between market steps (default 0.002)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2-second windows")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.seconds = 2.0
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()

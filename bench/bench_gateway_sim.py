"""Benchmark the Gateway simulator: API start-up latency and sustained tick throughput.

Run ``python -m bench.bench_gateway_sim`` (or ``python bench/bench_gateway_sim.py``).
It starts a real simulator process on a free loopback port and prints:

* handshake -> nextValidId latency (median, p99) over sequential raw-socket
  clients, next to a same-run baseline: the handshake -> server-version round
  trip on the same connections;
* sustained tick messages per second to 1 client and to 10 clients, each
  subscribed to AAPL, NVDA and TSLA, next to the rate the tick interval asks
  for, and the 10-client total as a ratio of the 1-client figure.

A measurement, not a test: it prints figures and never asserts on them.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

from ibproto.wire import FrameDecoder, build_handshake, encode_message, split_fields  # noqa: E402

SYMBOLS = ("AAPL", "NVDA", "TSLA")
MESSAGES_PER_STEP = 4  # bid, ask, last (tickPrice) and volume (tickSize) per symbol per market step


def start_simulator(tick_interval: float, *extra: str) -> tuple[subprocess.Popen, int]:
    """A simulator process on a free port; returns once it says it is listening."""
    proc = subprocess.Popen([sys.executable, "-m", "services.gateway_sim", "--port", "0", "--seed", "1",
                             "--tick-interval", str(tick_interval), *extra], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            _drain_in_background(proc)
            return proc, int(match.group(1))
    raise SystemExit(f"simulator exited ({proc.wait()}) before listening")


def _drain_in_background(proc: subprocess.Popen) -> None:
    """Keep reading the simulator's log so it never blocks on a full pipe."""
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()


def stop_simulator(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


# --- latency --------------------------------------------------------------------------------

def read_messages(sock: socket.socket, decoder: FrameDecoder, pending: list[list[str]]) -> list[str]:
    while not pending:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("simulator closed a benchmark connection")
        pending.extend(split_fields(p) for p in decoder.feed(data))
    return pending.pop(0)


def one_startup(port: int, client_id: int) -> tuple[float, float]:
    """Seconds from sending the handshake to (server version reply, nextValidId)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder, pending = FrameDecoder(), []
        started = time.perf_counter()
        sock.sendall(build_handshake())
        read_messages(sock, decoder, pending)
        version_reply = time.perf_counter()
        sock.sendall(encode_message(71, 2, client_id, ""))
        while read_messages(sock, decoder, pending)[0] != "9":
            pass
        next_valid_id = time.perf_counter()
    return version_reply - started, next_valid_id - started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_latency(port: int, rounds: int) -> None:
    for client_id in range(20):  # warm-up: imports, caches, the first connections
        one_startup(port, 10_000 + client_id)
    round_trips, startups = zip(*(one_startup(port, client_id) for client_id in range(rounds)))
    base, full = statistics.median(round_trips), statistics.median(startups)
    print(f"handshake -> server version (baseline): median {base * 1e3:.3f} ms, "
          f"p99 {percentile(round_trips, 0.99) * 1e3:.3f} ms  ({rounds} connections)")
    print(f"handshake -> nextValidId:               median {full * 1e3:.3f} ms, "
          f"p99 {percentile(startups, 0.99) * 1e3:.3f} ms  ({full / base:.2f}x baseline)")


# --- throughput -----------------------------------------------------------------------------

class CountingClient(asyncio.Protocol):
    """Starts the API, subscribes to SYMBOLS, then counts every message it receives."""

    def __init__(self, client_id: int):
        self.client_id = client_id
        self.decoder = FrameDecoder()
        self.messages = 0
        self.ticks = 0
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._handshaken = False

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(build_handshake())

    def data_received(self, data: bytes) -> None:
        for payload in self.decoder.feed(data):
            if not self._handshaken:
                self._handshaken = True
                self._subscribe()
                continue
            self.messages += 1
            if payload[:2] in (b"1\x00", b"2\x00"):
                self.ticks += 1
                if not self.ready.done():
                    self.ready.set_result(None)

    def _subscribe(self) -> None:
        self.transport.write(encode_message(71, 2, self.client_id, ""))
        for request_id, symbol in enumerate(SYMBOLS, start=1):
            self.transport.write(encode_message(1, 11, request_id, 0, symbol, "STK", "", 0.0, "", "", "SMART", "",
                                                "USD", "", "", 0, "", 0, 0, ""))


async def measure_throughput(port: int, clients: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    protocols = []
    for client_id in range(clients):
        _, protocol = await loop.create_connection(lambda c=client_id: CountingClient(c), "127.0.0.1", port)
        protocols.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(p.ready for p in protocols)), 30)
    await asyncio.sleep(0.5)  # warm-up: let every subscription reach a steady stream
    before = sum(p.ticks for p in protocols)
    started = loop.time()
    await asyncio.sleep(seconds)  # the measurement window
    rate = (sum(p.ticks for p in protocols) - before) / (loop.time() - started)
    for protocol in protocols:
        protocol.transport.close()
    return rate


def throughput_table(tick_interval: float, seconds: float, title: str) -> None:
    print(f"-- {title}: tick interval {tick_interval:g}s, {len(SYMBOLS)} symbols per client, "
          f"{seconds:g}s window")
    asked_per_client = len(SYMBOLS) * MESSAGES_PER_STEP / tick_interval
    results = {}
    for clients in (1, 10):
        proc, port = start_simulator(tick_interval)
        try:
            results[clients] = asyncio.run(measure_throughput(port, clients, seconds))
        finally:
            stop_simulator(proc)
        asked = asked_per_client * clients
        print(f"tick messages/s to {clients:>2} client(s): {results[clients]:>10,.0f} total, "
              f"{results[clients] / clients:>9,.0f} per client  ({results[clients] / asked:.0%} of the "
              f"{asked:,.0f}/s the interval asks for)")
    print(f"10 clients vs 1 client (same run): {results[10] / results[1]:.2f}x the total message rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="connections for the latency figures")
    parser.add_argument("--seconds", type=float, default=3.0, help="measurement window per throughput run")
    parser.add_argument("--tick-interval", type=float, default=0.001,
                        help="tick interval of the paced throughput run (default 0.001)")
    args = parser.parse_args()

    proc, port = start_simulator(0.25)
    try:
        measure_latency(port, args.rounds)
    finally:
        stop_simulator(proc)
    throughput_table(args.tick_interval, args.seconds, "paced (does it keep the asked-for rate?)")
    # Below the event loop's 1 ms timer resolution the market steps as fast as it can, so the
    # figures are the simulator's capacity (and the bench client's, which shares the machine).
    throughput_table(0.0001, args.seconds, "flat out (capacity)")


if __name__ == "__main__":
    main()

"""Benchmark the simulator's paper execution: order round trip, fills per second, memory after 10,000 orders.

Run ``python -m bench.bench_orders`` (``--quick`` for a smoke run). It starts a real simulator on
a free loopback port (its own state file in a temporary folder) and, on one raw-socket client at
server version 178, measures:

* placeOrder (market, 1 share) -> first orderStatus, and -> the Filled orderStatus: median and
  p99 over sequential orders, next to a same-run baseline: reqCurrentTime -> currentTime on the
  same connection (the simulator's floor for any request);
* fills per second to one client: a burst of market orders sent at once (buys and sells
  alternating, so the position stays small), counted until every Filled status arrived;
* the simulator's resident memory after 10,000 filled orders, next to its memory right after
  the client connected (same run).

A measurement, not a test: it prints figures and never asserts on them.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench.bench_gateway_sim import start_simulator, stop_simulator  # noqa: E402
from ibproto.wire import FrameDecoder, build_handshake, encode_message, split_fields  # noqa: E402


def order_fields(order_id: int, action: str) -> list[str]:
    """The fields ib_async sends for a 1-share market order on AAPL at version 178."""
    from ib_async import MarketOrder, Stock
    from ib_async.client import Client

    class Capture:
        sent = b""

        def sendMsg(self, data: bytes) -> None:
            Capture.sent += data

    class Quiet:
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    client = Client(Quiet())
    client.conn, client.connState, client._serverVersion = Capture(), Client.CONNECTED, 178
    client.placeOrder(order_id, Stock("AAPL", "SMART", "USD"), MarketOrder(action, 1))
    return split_fields(FrameDecoder().feed(Capture.sent)[0])


class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.frames = FrameDecoder()
        self.queue: list[list[str]] = []
        self.sock.sendall(build_handshake() + encode_message(71, 2, 1, ""))
        self.next_id = int(self.until(lambda m: m[0] == "9")[2])
        self.template = order_fields(self.next_id, "BUY")

    def order(self, action: str) -> bytes:
        fields = list(self.template)
        fields[1] = str(self.next_id)
        fields[fields.index("BUY") if "BUY" in fields else fields.index("SELL")] = action
        self.next_id += 1
        return encode_message(*fields)

    def read(self) -> list[str]:
        while not self.queue:
            data = self.sock.recv(1 << 20)
            if not data:
                raise SystemExit("the simulator closed the connection")
            self.queue.extend(split_fields(p) for p in self.frames.feed(data))
        return self.queue.pop(0)

    def until(self, wanted) -> list[str]:
        while True:
            message = self.read()
            if wanted(message):
                return message


def p(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(fraction * len(ordered))) - 1)]


def round_trips(client: Client, count: int) -> None:
    first, filled, baseline = [], [], []
    for index in range(count):
        started = time.perf_counter()
        client.sock.sendall(encode_message(49, 1))
        client.until(lambda m: m[0] == "49")
        baseline.append(time.perf_counter() - started)
        order_id = str(client.next_id)
        started = time.perf_counter()
        client.sock.sendall(client.order("BUY" if index % 2 == 0 else "SELL"))
        client.until(lambda m: m[0] == "3" and m[1] == order_id)
        first.append(time.perf_counter() - started)
        client.until(lambda m: m[0] == "3" and m[1] == order_id and m[2] == "Filled")
        filled.append(time.perf_counter() - started)
    ms = lambda v: f"{v * 1e3:.2f} ms"  # noqa: E731
    base = statistics.median(baseline)
    print(f"reqCurrentTime -> currentTime (baseline): median {ms(base)}, p99 {ms(p(baseline, 0.99))}")
    print(f"placeOrder -> first orderStatus: median {ms(statistics.median(first))}, p99 {ms(p(first, 0.99))} "
          f"({statistics.median(first) / base:.2f}x baseline)")
    print(f"placeOrder -> Filled: median {ms(statistics.median(filled))}, p99 {ms(p(filled, 0.99))} "
          f"({statistics.median(filled) / base:.2f}x baseline)")


def burst(client: Client, count: int) -> float:
    first_id = client.next_id
    payload = b"".join(client.order("BUY" if k % 2 == 0 else "SELL") for k in range(count))
    started = time.perf_counter()
    client.sock.sendall(payload)
    done = set()
    while len(done) < count:
        message = client.read()
        if message[0] == "3" and message[2] == "Filled" and int(message[1]) >= first_id:
            done.add(message[1])
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds' smoke run")
    args = parser.parse_args(argv)
    sequential, fills, total = (50, 200, 1000) if args.quick else (500, 2000, 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as folder:
        proc, port = start_simulator(0.25, "--state-file", str(Path(folder) / "state.json"))
        try:
            client = Client(port)
            memory = psutil.Process(proc.pid)
            rss_start = memory.memory_info().rss
            print(f"-- {sequential} sequential orders (market, 1 share, AAPL), server version 178")
            round_trips(client, sequential)
            print(f"-- a burst of {fills} market orders to one client")
            print(f"fills per second to one client: {burst(client, fills):,.0f}")
            placed = sequential + fills
            while placed < total:
                chunk = min(2000, total - placed)
                burst(client, chunk)
                placed += chunk
            rss_end = memory.memory_info().rss
            print(f"-- memory after {placed:,} filled orders")
            print(f"simulator RSS after {placed:,} orders: {rss_end / 2**20:.1f} MiB "
                  f"(baseline after connecting: {rss_start / 2**20:.1f} MiB, +{(rss_end - rss_start) / 2**20:.1f} MiB)")
        finally:
            stop_simulator(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

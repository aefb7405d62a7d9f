"""Recovery: the default stack up under robostack, the Gateway simulator SIGKILLed.

Each run brings up a fresh copy of the default stack (its own ports and state
directory, so every kill is a first restart with the stack file's own backoff),
subscribes to the WebSocket server, waits for ticks, then SIGKILLs the simulator
and measures from the kill:

* until robostack has the simulator healthy again (its ``restarted`` event), of
  which the backoff delay the restart policy chose (its ``restarting`` event);
* until a tick from the new simulator reaches the subscriber (the first tick whose
  ``time``, stamped by the trader on receipt, is after the kill): the trader must
  reconnect by itself, so its pid is checked to be the same before and after.

Baseline: the simulator's own cold start, measured in the same run: from spawning
it to the first answered TWS handshake on its port.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from websockets.sync.client import connect

from bench.core import PYTHON, Section, Settings, median, notes, ratio, runs_note, seconds, spread
from bench.default_stack import DefaultStack, check_runner
from bench.ledger import Ledger, free_port, wait_for
from bench.managers import BenchError, Robostack

DEADLINE = 60.0


class Subscriber:
    """A WebSocket subscriber on its own thread, remembering when each tick arrived."""

    def __init__(self, url: str):
        self.url = url
        self.ticks: list[tuple[float, float]] = []  # (arrival wall time, the tick's own time)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with connect(self.url, open_timeout=5) as websocket:
                    while not self.stopping.is_set():
                        self._take(websocket.recv(timeout=1))
            except TimeoutError:
                continue
            except OSError:
                self.stopping.wait(0.05)  # the server is away: retry (bounded by stop())
            except Exception:  # noqa: BLE001 - a closed connection: subscribe again
                self.stopping.wait(0.05)

    def _take(self, message: str | bytes) -> None:
        arrived = time.time()
        event = json.loads(message)
        if event.get("type") == "tick":
            self.ticks.append((arrived, datetime.fromisoformat(event["time"]).timestamp()))

    def first_tick_after(self, moment: float) -> float | None:
        return next((arrived for arrived, stamped in list(self.ticks) if stamped > moment), None)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def event_time(events: list[dict], name: str, after: float) -> dict | None:
    for event in events:
        if (event["service"] == "gateway" and event["event"] == name
                and datetime.fromisoformat(event["time"]).timestamp() >= after):
            return event
    return None


def one_recovery(ledger: Ledger, root: Path) -> dict[str, float]:
    stack = DefaultStack()
    manager = Robostack(ledger, Path(tempfile.mkdtemp(prefix="recovery-", dir=root)), [],
                        document=stack.robostack_document())
    manager.up()
    subscriber = Subscriber(stack.websocket_url())
    try:
        if not wait_for(lambda: subscriber.ticks, timeout=DEADLINE, poll=0.01):
            raise BenchError("no tick reached the subscriber before the kill")
        trader_before, gateway = manager.service_pid("trader"), manager.service_pid("gateway")
        killed_at = time.time()
        os.kill(gateway, signal.SIGKILL)
        ticks_at = wait_for(lambda: subscriber.first_tick_after(killed_at), timeout=DEADLINE, poll=0.005)
        events = manager.events()
        restarted, restarting = event_time(events, "restarted", killed_at), event_time(events, "restarting", killed_at)
        same_trader = manager.service_pid("trader") == trader_before
    finally:
        subscriber.stop()
        manager.stop(bound=60)
    if restarted is None or ticks_at is None:
        raise BenchError(f"no recovery within {DEADLINE:g} s (restarted: {restarted is not None})")
    return {"healthy": datetime.fromisoformat(restarted["time"]).timestamp() - killed_at,
            "ticks": ticks_at - killed_at, "backoff": float(restarting["delay"]) if restarting else float("nan"),
            "same trader": float(same_trader)}


def simulator_cold_start(ledger: Ledger) -> float:
    """Seconds from spawning a simulator to its first answered TWS handshake."""
    from launcher.probes.ib_api import diagnose_ib_api

    port = free_port()
    started = time.monotonic()
    ledger.spawn([PYTHON, "-m", "services.gateway_sim", "--port", str(port), "--seed", "7"])

    def answered() -> bool:
        return asyncio.run(diagnose_ib_api("127.0.0.1", port, timeout=1)).verdict == "ok"

    if not wait_for(answered, timeout=30, poll=0.005):
        raise BenchError("the simulator never answered a handshake")
    return time.monotonic() - started


def run(settings: Settings, ledger: Ledger) -> Section:
    runs = settings.runs(3)
    section = Section("recovery", "Recovery: default stack, Gateway simulator SIGKILLed (robostack)",
                      reproduce="python -m bench --only recovery")
    problem = check_runner(ledger)
    if problem:
        raise BenchError(f"services.runner_async cannot run here: {problem}")
    measured, cold = [], []
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as directory:
        for _ in range(runs):
            cold.append(simulator_cold_start(ledger))
            ledger.kill_everything()
            measured.append(one_recovery(ledger, Path(directory)))
            ledger.kill_everything()
    base = median(cold)
    backoff = median([m["backoff"] for m in measured])
    healthy, ticks = [m["healthy"] for m in measured], [m["ticks"] for m in measured]
    section.add("kill -> simulator healthy again (restarted event)", seconds(median(healthy)),
                f"simulator cold start {seconds(base)}", ratio(median(healthy), base),
                notes(f"includes the policy's backoff of {seconds(backoff)}", runs_note(runs), spread(healthy)))
    section.add("kill -> healthy, minus the backoff delay", seconds(median(healthy) - backoff),
                f"simulator cold start {seconds(base)}", ratio(median(healthy) - backoff, base))
    section.add("kill -> ticks reach a WebSocket subscriber again", seconds(median(ticks)),
                f"simulator cold start {seconds(base)}", ratio(median(ticks), base), spread(ticks))
    kept = sum(m["same trader"] for m in measured)
    section.add("trader reconnected by itself (same pid)", f"{kept:g} of {runs} runs")
    return section

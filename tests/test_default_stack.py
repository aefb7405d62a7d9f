"""The default stack.yaml end to end, through the real CLI, on its real ports (4002, 8765).

Gateway simulator -> WebSocket server -> trader: ticks for every symbol reach a real
WebSocket subscriber; the stack survives the Gateway being SIGKILLed (restarted by the
supervisor, the trader reconnects by itself); `down` leaves no process and no CLOSE_WAIT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from websockets.asyncio.client import connect

from tests.helpers import REPO, fixed_ports_held, kill_group, port_accepts, socket_states, wait_until

SYMBOLS = ("AAPL", "NVDA", "TSLA")
PORTS = (4002, 8765)


class DefaultStack:
    def __init__(self, state_dir):
        self.env = dict(os.environ, ROBOSTACK_STATE_DIR=str(state_dir), COLUMNS="200")

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "launcher", "-f", str(REPO / "stack.yaml"), *args],
                              capture_output=True, text=True, env=self.env, cwd=REPO, timeout=timeout)

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)

    def service(self, name: str) -> dict:
        return next(s for s in self.status()["services"] if s["name"] == name)


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory):
    with fixed_ports_held():
        yield from _default_stack(tmp_path_factory)


def _default_stack(tmp_path_factory):
    busy = [port for port in PORTS if port_accepts(port)]
    if busy:
        pytest.fail(f"the default stack's ports {busy} are already in use on this machine")
    stack = DefaultStack(tmp_path_factory.mktemp("default-stack-state"))
    result = stack.run("up", ",".join(SYMBOLS), "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    yield stack
    status = stack.status()
    stack.run("down")
    for record in status["services"]:
        if record["pid"]:
            kill_group(record["pid"])


async def ticks_for_every_symbol(timeout: float = 60) -> set[str]:
    """Subscribe like any client would, and collect symbols until all three have ticked."""
    seen: set[str] = set()

    async def collect() -> None:
        async with connect("ws://127.0.0.1:8765/") as websocket:
            await websocket.send(json.dumps({"subscribe": ["tick"]}))
            while seen != set(SYMBOLS):
                event = json.loads(await websocket.recv())
                if event.get("type") == "tick":
                    assert set(event) >= {"symbol", "bid", "ask", "last", "time"}
                    seen.add(event["symbol"])

    await asyncio.wait_for(collect(), timeout)
    return seen


def test_up_brings_every_service_up_healthy(default_stack):
    status = default_stack.status()
    assert [(s["name"], s["state"]) for s in status["services"]] == [
        ("gateway", "healthy"), ("websocket", "healthy"), ("trader", "healthy")]
    assert status["symbols"] == list(SYMBOLS)


def test_ticks_for_all_symbols_reach_a_websocket_subscriber(default_stack):
    assert asyncio.run(ticks_for_every_symbol()) == set(SYMBOLS)


def test_gateway_killed_is_restarted_and_the_trader_reconnects_by_itself(default_stack):
    gateway = default_stack.service("gateway")
    trader_pid = default_stack.service("trader")["pid"]
    os.killpg(gateway["pid"], signal.SIGKILL)
    wait_until(lambda: (s := default_stack.service("gateway"))["pid"] != gateway["pid"] and s["state"] == "healthy",
               timeout=60, what="the gateway to be restarted and healthy")
    assert asyncio.run(ticks_for_every_symbol()) == set(SYMBOLS)
    trader = default_stack.service("trader")
    assert trader["pid"] == trader_pid, "the trader reconnects by itself; it is not restarted"
    assert trader["restarts"] == 0
    assert default_stack.service("gateway")["restarts"] == 1


def test_down_leaves_no_process_and_no_close_wait(default_stack):
    pids = [s["pid"] for s in default_stack.status()["services"]]
    result = default_stack.run("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    for port in PORTS:
        assert not port_accepts(port)
        assert "CLOSE_WAIT" not in socket_states(port)

"""examples/gateway-week-stack.yaml through the real CLI on its real ports (4002, 8765, 7462).

The simulator plays a Gateway under IBC on a compressed day: `up` rides out its login (Java,
the second factor, API initialisation), the trader streams, and during the day's farm outage
the trader says why it is not ready; `down` stops it all (IBC's command server included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, fixed_ports_held, kill_group, port_accepts, wait_for_log_line

PORTS = (4002, 8765, 7462)
STACK = REPO / "examples" / "gateway-week-stack.yaml"


@pytest.fixture
def rehearsal(tmp_path):
    with fixed_ports_held():
        busy = [port for port in PORTS if port_accepts(port)]
        if busy:
            pytest.fail(f"the rehearsal stack's ports {busy} are already in use on this machine")
        env = dict(os.environ, ROBOSTACK_STATE_DIR=str(tmp_path / "state"), COLUMNS="200")

        def run(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "launcher", "-f", str(STACK), *args], capture_output=True,
                                  text=True, env=env, cwd=REPO, timeout=timeout)

        run.state_dir = tmp_path / "state"
        yield run
        status = run("status", "--json")
        run("down")
        for record in json.loads(status.stdout or '{"services": []}')["services"]:
            if record.get("pid"):
                kill_group(record["pid"])


def test_the_rehearsal_comes_up_through_the_login_and_the_trader_follows_the_farms(rehearsal):
    up = rehearsal("up", "AAPL", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    gateway_log = rehearsal.state_dir / "logs" / "gateway.log"
    text = gateway_log.read_text()
    assert "IBC: Second Factor Authentication initiated" in text and "state ready: API answering" in text
    status = json.loads(rehearsal("status", "--json").stdout)
    assert {s["name"]: s["state"] for s in status["services"]} == {"gateway": "healthy", "websocket": "healthy",
                                                                   "trader": "healthy"}
    wait_for_log_line(rehearsal.state_dir / "logs" / "trader.log",
                      r"not ready: no ticks for \d+s while subscribed \(the Gateway says: market data farm usfarm "
                      r"broken since", timeout=90)
    wait_for_log_line(rehearsal.state_dir / "logs" / "trader.log", r"ready: ticks flowing again", timeout=60)
    down = rehearsal("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(port_accepts(port) for port in PORTS)

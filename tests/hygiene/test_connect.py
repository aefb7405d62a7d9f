"""Doctor's bare TCP connect leaves no socket behind, even on a Gateway that never closes its side."""

from __future__ import annotations

import asyncio
import gc
import os

import psutil

from launcher.hygiene.connect import tcp_connect
from tests.helpers import free_port, wait_until

LINGERING = {psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT, psutil.CONN_FIN_WAIT1, psutil.CONN_FIN_WAIT2,
             psutil.CONN_LAST_ACK, psutil.CONN_CLOSING}


def leftovers(port: int) -> list[str]:
    """Open or half-closed sockets on either side, and TIME_WAIT on the server's side."""
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        local = conn.laddr.port if conn.laddr else None
        remote = conn.raddr.port if conn.raddr else None
        if port in (local, remote) and conn.status in LINGERING:
            found.append(f"{conn.status} {local}->{remote}")
        elif local == port and conn.status == psutil.CONN_TIME_WAIT:
            found.append(f"TIME_WAIT on the server side {local}->{remote}")
    return found


async def test_connects_to_a_close_wait_gateway_leave_nothing_and_no_descriptors(gateway_sim):
    sim = gateway_sim("--fault", "close-wait")
    await tcp_connect("127.0.0.1", sim.port, timeout=5)  # warm up the loop's lazily created resources
    gc.collect()  # close what earlier tests left to the garbage collector, so it cannot vanish mid-test
    descriptors = len(os.listdir("/proc/self/fd"))

    results = await asyncio.gather(*(tcp_connect("127.0.0.1", sim.port, timeout=10) for _ in range(50)))

    assert all(result.ok and result.seconds >= 0 for result in results)
    # The last RST may still be in flight when the call returns; a real leftover never goes away.
    wait_until(lambda: not leftovers(sim.port), timeout=10, what=f"no sockets left on {sim.port}: {leftovers(sim.port)}")
    assert len(os.listdir("/proc/self/fd")) <= descriptors  # no growth
    assert sim.proc.poll() is None


async def test_a_healthy_server_closes_with_us_and_a_free_port_is_refused(gateway_sim):
    sim = gateway_sim()
    for _ in range(100):
        assert (await tcp_connect("127.0.0.1", sim.port, timeout=10)).ok
    wait_until(lambda: not leftovers(sim.port), timeout=10, what=f"no sockets left on {sim.port}: {leftovers(sim.port)}")
    refused = await tcp_connect("127.0.0.1", free_port(), timeout=2)
    assert not refused.ok and refused.error.startswith("connection refused on 127.0.0.1:")

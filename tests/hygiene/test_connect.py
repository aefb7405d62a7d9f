"""Doctor's bare TCP connect leaves no socket behind, even on a Gateway that never closes its side."""

from __future__ import annotations

import asyncio
import gc
import os


from launcher.hygiene.connect import tcp_connect
from tests.helpers import free_port, leftover_sockets, wait_until

async def test_connects_to_a_close_wait_gateway_leave_nothing_and_no_descriptors(gateway_sim):
    sim = gateway_sim("--fault", "close-wait")
    await tcp_connect("127.0.0.1", sim.port, timeout=5)  # warm up the loop's lazily created resources
    gc.collect()  # close what earlier tests left to the garbage collector, so it cannot vanish mid-test
    descriptors = len(os.listdir("/proc/self/fd"))

    results = await asyncio.gather(*(tcp_connect("127.0.0.1", sim.port, timeout=10) for _ in range(50)))

    assert all(result.ok and result.seconds >= 0 for result in results)
    # The last RST may still be in flight when the call returns; a real leftover never goes away.
    wait_until(lambda: not leftover_sockets(sim.port), timeout=10, what=f"no sockets left on {sim.port}: {leftover_sockets(sim.port)}")
    assert len(os.listdir("/proc/self/fd")) <= descriptors  # no growth
    assert sim.proc.poll() is None


async def test_a_healthy_server_closes_with_us_and_a_free_port_is_refused(gateway_sim):
    sim = gateway_sim()
    for _ in range(100):
        assert (await tcp_connect("127.0.0.1", sim.port, timeout=10)).ok
    wait_until(lambda: not leftover_sockets(sim.port), timeout=10, what=f"no sockets left on {sim.port}: {leftover_sockets(sim.port)}")
    refused = await tcp_connect("127.0.0.1", free_port(), timeout=2)
    assert not refused.ok and refused.error.startswith("connection refused on 127.0.0.1:")

"""settled_scan: a CLOSE_WAIT that clears within the settle window is not a zombie; the seeds' kind is."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from launcher.hygiene.scan import settled_scan
from tests.helpers import free_port, read_line_matching, wait_until
from tests.hygiene.conftest import close_wait_sockets, make_close_wait

# Closes its side of a connection the client closed only when told (SIGUSR1): a slow but healthy server.
SLOW_CLOSER = """
import signal, socket, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(4)
print("listening", flush=True)
connection, _ = server.accept()
while connection.recv(1024):
    pass
print("client closed", flush=True)
signal.sigwait({signal.SIGUSR1})
connection.close()
print("closed", flush=True)
signal.sigwait({signal.SIGUSR1})
"""


async def test_a_close_wait_that_clears_within_the_window_is_not_counted(processes):
    port = free_port()
    server = processes.python("-c", SLOW_CLOSER, str(port))
    read_line_matching(server, "listening")
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    read_line_matching(server, "client closed")
    assert close_wait_sockets(port, server.pid) == 1  # it stays until the server is told to close

    scanning = asyncio.create_task(settled_scan([port], settle=30.0))
    await asyncio.sleep(0)  # let the scan take its first look, which sees the CLOSE_WAIT
    os.kill(server.pid, signal.SIGUSR1)
    scan = await asyncio.wait_for(scanning, 60)

    read_line_matching(server, "closed")
    assert [count for count in scan.zombie_counts() if count.pid == server.pid] == []


async def test_a_close_wait_that_persists_is_counted_with_its_owner(gateway_sim):
    sim = gateway_sim("--fault", "close-wait")
    make_close_wait(sim.port, sim.pid, count=2)

    scan = await settled_scan([sim.port])

    owned = [count for count in scan.zombie_counts() if count.pid == sim.pid]
    assert [(count.port, count.close_wait) for count in owned] == [(sim.port, 2)]
    assert scan.listeners()[sim.port][0].pid == sim.pid
    wait_until(lambda: close_wait_sockets(sim.port, sim.pid) == 2, what="the zombies still there")

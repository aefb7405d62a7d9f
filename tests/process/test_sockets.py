"""Socket inspection against real sockets on 127.0.0.1, plus the pure helpers on values."""

from __future__ import annotations

import os
import socket
from collections import namedtuple

from launcher.process.sockets import (
    CLOSE_WAIT,
    ESTABLISHED,
    FIN_WAIT_2,
    LISTEN,
    Endpoint,
    SocketRecord,
    ZombieCount,
    listeners_on_port,
    records_for_ports,
    sockets_on_ports,
    summarise_zombies,
    zombie_sockets,
)
from tests.helpers import free_port, read_line_matching, wait_until

# Accepts every connection and never closes one: the Gateway's fault from the seeds.
HOARDER = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("listening", flush=True)
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
    print("accepted", len(held), flush=True)
"""


def start_hoarder(processes, port: int):
    proc = processes.python("-c", HOARDER, str(port), "robostack-test-hoarder")
    read_line_matching(proc, r"^listening$")
    return proc


def test_listener_is_found_with_its_pid_and_command(processes, port):
    hoarder = start_hoarder(processes, port)

    listeners = listeners_on_port(port)

    assert len(listeners) == 1
    listener = listeners[0]
    assert listener.pid == hoarder.pid
    assert listener.status == LISTEN and listener.side == "server"
    assert listener.local == Endpoint("127.0.0.1", port)
    assert "robostack-test-hoarder" in listener.command
    assert listeners_on_port(free_port()) == []


def test_close_wait_on_the_server_side_and_fin_wait_2_on_the_client_side(processes, port):
    hoarder = start_hoarder(processes, port)
    closed = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    half_closed = socket.create_connection(("127.0.0.1", port), timeout=10)
    read_line_matching(hoarder, r"^accepted 4$")
    for client in closed:
        client.close()  # the client's socket is orphaned: FIN_WAIT_2 owned by no process
    half_closed.shutdown(socket.SHUT_WR)  # still open here: FIN_WAIT_2 owned by this process
    try:
        def four_close_waits():
            zombies = zombie_sockets([port])
            servers = [record for record in zombies if record.side == "server"]
            clients = [record for record in zombies if record.side == "client"]
            return (zombies, servers, clients) if len(servers) == 4 and len(clients) == 4 else None

        zombies, servers, clients = wait_until(four_close_waits, what="4 CLOSE_WAIT and 4 FIN_WAIT_2 sockets")

        assert all(record.status == CLOSE_WAIT and record.pid == hoarder.pid for record in servers)
        assert all(record.local.port == port and "robostack-test-hoarder" in record.command for record in servers)
        assert all(record.status == FIN_WAIT_2 and record.remote.port == port for record in clients)
        owners = sorted((record.pid for record in clients), key=lambda pid: pid or 0)
        assert owners == [None, None, None, os.getpid()]

        summary = summarise_zombies(zombies)
        assert summary[(port, hoarder.pid)].close_wait == 4
        assert summary[(port, hoarder.pid)].fin_wait_2 == 0
        assert summary[(port, None)].fin_wait_2 == 3
        assert summary[(port, os.getpid())].fin_wait_2 == 1

        everything = sockets_on_ports([port])
        assert any(record.status == LISTEN for record in everything)
        assert not any(record.status == LISTEN for record in zombies)
    finally:
        half_closed.close()


def test_established_connection_is_not_a_zombie(processes, port):
    start_hoarder(processes, port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        records = wait_until(lambda: [r for r in sockets_on_ports([port]) if r.status == ESTABLISHED and
                                      r.side == "client" and r.local.port == client.getsockname()[1]],
                             what="the client's ESTABLISHED socket")
        assert records[0].pid == os.getpid()
        assert zombie_sockets([port]) == []


Connection = namedtuple("Connection", "fd family type laddr raddr status pid")


def test_records_for_ports_assigns_sides_and_skips_other_ports():
    connections = [
        Connection(3, 2, 1, ("127.0.0.1", 4002), (), LISTEN, 10),
        Connection(4, 2, 1, ("127.0.0.1", 4002), ("127.0.0.1", 50000), CLOSE_WAIT, 10),
        Connection(-1, 2, 1, ("127.0.0.1", 50000), ("127.0.0.1", 4002), FIN_WAIT_2, None),
        Connection(5, 2, 1, ("127.0.0.1", 8080), ("127.0.0.1", 50001), ESTABLISHED, 11),
        Connection(6, 10, 1, ("::1", 4002), ("::1", 50002), CLOSE_WAIT, 12),
    ]
    records = records_for_ports(connections, [4002], command_of=lambda pid: f"cmd-{pid}")

    assert [(r.side, r.status, r.pid, r.command) for r in records] == [
        ("client", FIN_WAIT_2, None, None),
        ("server", CLOSE_WAIT, 10, "cmd-10"),
        ("server", CLOSE_WAIT, 12, "cmd-12"),
        ("server", LISTEN, 10, "cmd-10"),
    ]
    assert str(records[2].local) == "[::1]:4002"
    assert records[3].remote is None


def test_summarise_zombies_counts_per_port_and_owner_and_ignores_the_rest():
    def record(port, status, pid, side):
        return SocketRecord(port, Endpoint("127.0.0.1", port), Endpoint("127.0.0.1", 1), status, pid, "gw", side)

    records = [record(4002, CLOSE_WAIT, 7, "server"), record(4002, CLOSE_WAIT, 7, "server"),
               record(4002, FIN_WAIT_2, None, "client"), record(4002, ESTABLISHED, 7, "server"),
               record(4002, CLOSE_WAIT, 8, "client"),  # CLOSE_WAIT on the client side is not the fault
               record(4001, CLOSE_WAIT, 7, "server")]

    summary = summarise_zombies(records)

    assert summary == {
        (4002, 7): ZombieCount(4002, 7, "gw", close_wait=2, fin_wait_2=0),
        (4002, None): ZombieCount(4002, None, "gw", close_wait=0, fin_wait_2=1),
        (4001, 7): ZombieCount(4001, 7, "gw", close_wait=1, fin_wait_2=0),
    }
    assert summary[(4002, 7)].total == 2

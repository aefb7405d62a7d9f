"""ib_api probe and diagnosis against the real Gateway simulator, healthy and in each fault mode.

Every test also checks what the probe left behind on the simulator's port: no
socket in ESTABLISHED / CLOSE_WAIT / FIN_WAIT on either side, and no TIME_WAIT on
the simulator's side (the probe closes first, so TIME_WAIT lands on its own port).
"""

from __future__ import annotations

import gc
import os
import time

import psutil
from ib_async import IB

from launcher.probes.ib_api import API_SILENT, CLIENT_ID_IN_USE, NOT_LISTENING, OK, VERSION_MISMATCH, diagnose_ib_api
from launcher.probes.registry import PROBES
from launcher.stack.model import IbApiCheck
from tests.helpers import free_port, leftover_sockets, wait_until

def assert_nothing_left(port: int) -> None:
    # The last ACK of a close may still be in flight when the probe returns; anything
    # real (TIME_WAIT lasts 60 s, CLOSE_WAIT forever) is still there at the deadline.
    wait_until(lambda: not leftover_sockets(port), timeout=10, what=f"no leftover sockets on {port}: {leftover_sockets(port)}")


def open_descriptors() -> int:
    gc.collect()  # what earlier tests left to the garbage collector must not close mid-count
    return len(os.listdir("/proc/self/fd"))


async def test_healthy_simulator(gateway_sim, context):
    sim = gateway_sim()
    result = await PROBES["ib_api"](IbApiCheck(port=sim.port), 5.0, context)
    assert result.ok, result.detail
    assert result.detail.startswith("server version 178 in ")
    assert result.facts["verdict"] == OK and result.facts["connection_time"]
    assert result.facts["peer_answered_close"] is True  # the simulator closed after our FIN
    assert_nothing_left(sim.port)


async def test_healthy_session_sees_next_valid_id_accounts_and_farm_notices(gateway_sim):
    sim = gateway_sim("--account", "DU7654321")
    diagnosis = await diagnose_ib_api("127.0.0.1", sim.port, timeout=5.0, session=True, client_id=999)
    assert diagnosis.verdict == OK, diagnosis.failure
    assert diagnosis.next_valid_id is not None and diagnosis.accounts == ["DU7654321"]
    assert {code for code, _, _ in diagnosis.errors} >= {2104, 2106, 2158}
    assert all(meaning for _, _, meaning in diagnosis.errors)
    assert diagnosis.handshake_seconds is not None and diagnosis.session_seconds is not None
    assert_nothing_left(sim.port)


async def test_silent_api_is_not_healthy(gateway_sim, context):
    sim = gateway_sim("--fault", "silent")
    result = await PROBES["ib_api"](IbApiCheck(port=sim.port), 0.5, context)
    assert not result.ok
    assert result.detail == "TCP accepted, no handshake answer within 500ms (0 bytes received)"
    assert result.facts["verdict"] == API_SILENT and result.facts["tcp_connected"] and result.facts["handshake_sent"]
    assert_nothing_left(sim.port)


async def test_close_wait_gateway_keeps_no_socket_of_ours(gateway_sim):
    sim = gateway_sim("--fault", "close-wait")
    diagnosis = await diagnose_ib_api("127.0.0.1", sim.port, timeout=0.5)
    assert diagnosis.verdict == API_SILENT
    assert diagnosis.peer_answered_close is False  # it never closed its side: we reset instead
    assert_nothing_left(sim.port)
    assert sim.proc.poll() is None


async def test_api_still_initialising_then_ready(gateway_sim):
    initialising = gateway_sim("--api-delay", "120")
    diagnosis = await diagnose_ib_api("127.0.0.1", initialising.port, timeout=0.5)
    assert diagnosis.verdict == API_SILENT and diagnosis.bytes_received == 0
    assert_nothing_left(initialising.port)
    soon = gateway_sim("--api-delay", "1")
    diagnosis = await diagnose_ib_api("127.0.0.1", soon.port, timeout=30.0)
    assert diagnosis.verdict == OK, diagnosis.failure
    assert_nothing_left(soon.port)


async def test_nothing_listening(context):
    port = free_port()
    result = await PROBES["ib_api"](IbApiCheck(port=port), 2.0, context)
    assert not result.ok
    assert result.detail == f"connection refused on 127.0.0.1:{port} (nothing listening)"
    assert result.facts["verdict"] == NOT_LISTENING and not result.facts["tcp_connected"]


async def test_untrusted_client_is_closed_without_a_byte(gateway_sim):
    sim = gateway_sim("--trusted-ips", "10.9.8.7")
    diagnosis = await diagnose_ib_api("127.0.0.1", sim.port, timeout=5.0)
    assert diagnosis.verdict == VERSION_MISMATCH and diagnosis.closed_by_peer
    assert "Trusted IPs" in diagnosis.failure
    assert_nothing_left(sim.port)


async def test_client_id_in_use_and_the_trader_keeps_its_connection(gateway_sim, context):
    sim = gateway_sim()
    squatter, trader = IB(), IB()
    await squatter.connectAsync("127.0.0.1", sim.port, clientId=999, timeout=20)
    await trader.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=20)
    try:
        result = await PROBES["ib_api"](IbApiCheck(port=sim.port, session=True), 5.0, context)
        assert not result.ok
        assert result.facts["verdict"] == CLIENT_ID_IN_USE and 326 in result.facts["error_codes"]
        assert result.detail == "client id 999 is already in use (error 326); the probe needs its own id"
        own_id = await PROBES["ib_api"](IbApiCheck(port=sim.port, session=True, client_id=998), 5.0, context)
        assert own_id.ok, own_id.detail
        # Probing never disturbs the trader's own connection.
        assert trader.isConnected() and squatter.isConnected()
        assert await trader.reqCurrentTimeAsync()
    finally:
        squatter.disconnect()
        trader.disconnect()


async def test_a_thousand_probes_leave_nothing_behind(gateway_sim):
    sim = gateway_sim()
    simulator = psutil.Process(sim.pid)
    await diagnose_ib_api("127.0.0.1", sim.port, timeout=5.0, session=True)  # warm up lazily created loop resources
    descriptors_before, simulator_fds_before = open_descriptors(), simulator.num_fds()
    started = time.monotonic()
    verdicts = []
    for number in range(1000):
        diagnosis = await diagnose_ib_api("127.0.0.1", sim.port, timeout=5.0, session=number % 4 == 0)
        verdicts.append(diagnosis.verdict)
    elapsed = time.monotonic() - started
    descriptors_after = open_descriptors()
    client_time_wait = sum(1 for c in psutil.net_connections(kind="tcp")
                           if c.raddr and c.raddr.port == sim.port and c.status == psutil.CONN_TIME_WAIT)
    print(f"\n1000 ib_api probes (250 with a session) in {elapsed:.2f}s; fds in the probing process "
          f"{descriptors_before} -> {descriptors_after}; simulator fds {simulator_fds_before} -> "
          f"{simulator.num_fds()}; leftovers {leftover_sockets(sim.port)}; TIME_WAIT on the probe's side {client_time_wait}")
    assert verdicts.count(OK) == 1000
    assert descriptors_after <= descriptors_before  # no growth
    assert_nothing_left(sim.port)


async def test_another_service_on_the_port_is_a_protocol_error(http_server):
    port = int(http_server.rsplit(":", 1)[1])
    # The stdlib server waits for a newline our handshake never sends, and answers
    # "HTTP/1.0 400" once our FIN ends the request; the probe reads that while closing.
    diagnosis = await diagnose_ib_api("127.0.0.1", port, timeout=0.5)
    assert diagnosis.verdict == "protocol-error"
    assert diagnosis.bytes_received > 0 and "exceeds" in diagnosis.failure  # "HTTP" read as a length prefix
    assert_nothing_left(port)

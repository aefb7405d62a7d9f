"""Each fault mode, shown at the socket level: what bytes arrive, what TCP states the kernel reports."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ibproto.wire import build_handshake
from tests.gateway_sim.support import FAST_TICKS, ClosedByServer, WireClient, is_tick, log_line, log_mark
from tests.helpers import DEFAULT_DEADLINE, socket_states, wait_until


def test_silent_reads_the_handshake_and_sends_zero_bytes(gateway_sim):
    sim = gateway_sim("--fault", "silent")
    client = WireClient(sim.port)
    client.send(build_handshake())
    # The simulator has read and decoded the handshake and chosen not to answer it.
    log_line(sim.proc, r"conn 1 handshake v157\.\.178 received; not answering \(--fault silent\)")
    assert client.nothing_pending()
    client.send_message(71, 2, 1, "")  # startApi goes unanswered too
    client.close()
    log_line(sim.proc, r"conn 1 disconnected: closed by client")
    # silent still closes its own side: no CLOSE_WAIT piles up.
    wait_until(lambda: "CLOSE_WAIT" not in socket_states(sim.port, pid=sim.pid), what="no CLOSE_WAIT")


def test_close_wait_leaves_sockets_in_close_wait_on_the_simulator_side(gateway_sim):
    sim = gateway_sim("--fault", "close-wait")
    clients = [WireClient(sim.port) for _ in range(3)]
    for number, client in enumerate(clients, start=1):
        client.send(build_handshake())
        log_line(sim.proc, rf"conn {number} handshake v157\.\.178 received; not answering")
        assert client.nothing_pending()
    client_ports = {c.local_port for c in clients}
    for client in clients:
        client.close()

    def close_wait_on_simulator() -> list:
        import psutil

        return [conn for conn in psutil.Process(sim.pid).net_connections(kind="tcp")
                if conn.status == "CLOSE_WAIT" and conn.raddr and conn.raddr.port in client_ports]

    stuck = wait_until(lambda: len(close_wait_on_simulator()) == 3 and close_wait_on_simulator(),
                       what="3 CLOSE_WAIT sockets owned by the simulator")
    assert {conn.laddr.port for conn in stuck} == {sim.port}
    assert socket_states(sim.port, pid=sim.pid).count("CLOSE_WAIT") == 3
    log_line(sim.proc, r"conn 3 closed by client; never closing our side \(--fault close-wait\)")
    # SIGTERM still closes them and exits cleanly.
    os.kill(sim.pid, signal.SIGTERM)
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0


def test_api_delay_answers_no_earlier_than_the_delay(processes, port):
    from tests.helpers import read_line_matching

    delay = 1.5
    launched = time.monotonic()
    proc = processes.python("-m", "services.gateway_sim", "--port", str(port), "--api-delay", str(delay))
    read_line_matching(proc, rf"listening on 127\.0\.0\.1:{port}")
    client = WireClient(port)  # TCP is accepted at once
    client.send(build_handshake())
    log_line(proc, r"conn 1 API not ready yet: holding the answer")
    reply = client.read_message()
    answered = time.monotonic()
    assert reply[0] == "178"
    assert answered - launched >= delay
    client.start_api(1)  # and the API works normally afterwards
    client.close()


def test_crash_after_exits_abruptly_and_clients_see_the_connection_drop(gateway_sim):
    sim = gateway_sim("--fault", "crash-after", "1")
    client = WireClient(sim.port)
    client.connect_api(1)
    status = sim.proc.wait(timeout=DEFAULT_DEADLINE)
    assert status == 1
    log_line(sim.proc, r"fault crash-after 1s: crashing now")
    assert "stopped" not in " ".join(sim.proc._seen_lines)  # no orderly shutdown
    with pytest.raises(ClosedByServer):
        client.read_until(lambda message: False)


def test_hang_after_keeps_sockets_open_but_answers_nothing(gateway_sim):
    sim = gateway_sim(*FAST_TICKS, "--fault", "hang-after", "1")
    streaming = WireClient(sim.port)
    streaming.connect_api(1)
    streaming.subscribe(1, "AAPL")
    streaming.read_until(is_tick)
    log_line(sim.proc, r"fault hang-after 1s: API hung")
    streaming.drain()  # ticks sent before the hang
    mark = log_mark(sim.proc)
    streaming.send_message(49, 1)  # reqCurrentTime
    log_line(sim.proc, r"conn 1 hung API ignored \d+ bytes", after=mark)
    assert streaming.nothing_pending()  # no answer, no more ticks

    newcomer = WireClient(sim.port)  # TCP still accepts
    newcomer.send(build_handshake())
    log_line(sim.proc, r"conn 2 hung API ignored \d+ bytes")
    assert newcomer.nothing_pending()
    assert socket_states(sim.port, pid=sim.pid).count("ESTABLISHED") >= 2

    newcomer.close()  # a hung Gateway never processes the close
    log_line(sim.proc, r"conn 2 closed by client; hung API keeps its side open")
    wait_until(lambda: "CLOSE_WAIT" in socket_states(sim.port, pid=sim.pid), what="CLOSE_WAIT on the simulator")
    assert sim.proc.poll() is None
    streaming.close()


def test_untrusted_ip_is_closed_without_a_byte(gateway_sim):
    sim = gateway_sim("--trusted-ips", "10.9.8.7,192.168.0.0/16")
    client = WireClient(sim.port)
    client.send(build_handshake())
    assert client.bytes_until_closed() == b""
    log_line(sim.proc, r"conn 1 from 127\.0\.0\.1:\d+ refused: 127\.0\.0\.1 is not a trusted IP; closed without a byte")


def test_default_trusts_only_127_0_0_1(gateway_sim):
    sim = gateway_sim()
    outsider = WireClient(sim.port, source="127.0.0.2")  # loopback, but not the trusted address
    outsider.send(build_handshake())
    assert outsider.bytes_until_closed() == b""
    log_line(sim.proc, r"conn 1 from 127\.0\.0\.2:\d+ refused: 127\.0\.0\.2 is not a trusted IP")
    with WireClient(sim.port) as insider:
        assert insider.handshake().server_version == 178


def test_max_clients_refuses_the_extra_client(gateway_sim):
    sim = gateway_sim("--max-clients", "2")
    first, second, third = WireClient(sim.port), WireClient(sim.port), WireClient(sim.port)
    first.connect_api(1)
    second.connect_api(2)
    third.handshake()
    third.send_message(71, 2, 3, "")
    assert third.bytes_until_closed() == b""
    log_line(sim.proc, r"conn 3 client id 3 refused: maximum of 2 clients connected; closing")
    second.close()
    log_line(sim.proc, r"conn 2 disconnected")
    with WireClient(sim.port) as fourth:
        fourth.connect_api(4)  # room again


def test_sigterm_closes_every_client_and_exits_zero(gateway_sim):
    sim = gateway_sim(*FAST_TICKS)
    clients = [WireClient(sim.port) for _ in range(3)]
    for client_id, client in enumerate(clients, start=1):
        client.connect_api(client_id)
        client.subscribe(1, "TSLA")
        client.read_until(is_tick)
    os.kill(sim.pid, signal.SIGTERM)
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0
    for client in clients:
        with pytest.raises(ClosedByServer):
            client.read_until(lambda message: False)
    log_line(sim.proc, r"SIGTERM received: closing 3 connection\(s\) and exiting")
    log_line(sim.proc, r"gateway_sim: stopped$")


def test_sigint_exits_zero_too(gateway_sim):
    sim = gateway_sim()
    with WireClient(sim.port) as client:
        client.connect_api(1)
        os.kill(sim.pid, signal.SIGINT)
        assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0


def test_sigterm_during_api_delay_still_exits_zero(gateway_sim):
    sim = gateway_sim("--api-delay", "600")
    client = WireClient(sim.port)
    client.send(build_handshake())
    log_line(sim.proc, r"conn 1 API not ready yet: holding the answer")
    os.kill(sim.pid, signal.SIGTERM)
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0
    assert client.bytes_until_closed() == b""  # never answered, closed cleanly

"""The simulator under hostile clients (issue 11) and IB's own limits (``--pacing ib``), as real processes:
bounded memory, handshake and idle limits, fair service to the other clients while one floods, bad
frames logged at a bounded rate, error 100 and disconnection for a client past 50 messages a second."""

from __future__ import annotations

import gc
import socket
import struct

import psutil

from ibproto.wire import API_PREFIX, build_handshake, encode_message
from tests.gateway_sim.support import WireClient, is_tick, log_line, log_mark
from tests.helpers import wait_until

MIB = 1024 * 1024


def test_connections_announcing_huge_frames_leave_no_memory_behind(gateway_sim):
    sim = gateway_sim()
    process = psutil.Process(sim.pid)

    def round_of(number: int, count: int = 20) -> int:
        clients = []
        for _ in range(count):
            client = WireClient(sim.port)
            client.send(build_handshake() + encode_message(71, 2, len(clients) + 1000, ""))
            client.send(struct.pack(">I", MIB - 16) + b"x" * (MIB - 64 * 1024))  # just under the limit, unfinished
            clients.append(client)
        for client in clients:
            client.close()
        for connection in range(count * number + 1, count * number + count + 1):
            log_line(sim.proc, rf"conn {connection} disconnected")
        return process.memory_info().rss

    # The first rounds warm the allocator (freed arenas are kept, not returned; on a loaded machine it
    # settles only in the second round: 48, 60, 58, 58 MiB seen, and a later round may still jump once:
    # 51, 52, 68). What must not happen is growth with every round, as when closed connections' buffers
    # lived on (about 20 MiB a round): at least one of three more rounds stays within 10 MiB.
    sizes = [round_of(number) for number in range(5)][1:]
    steps = [after - before for before, after in zip(sizes, sizes[1:])]
    assert min(steps) < 10 * MIB, f"RSS grew in every round of 20 x ~1 MiB: {[size // MIB for size in sizes]} MiB"
    with WireClient(sim.port) as client:
        client.send(build_handshake() + encode_message(71, 2, 1, "") + struct.pack(">I", 16 * MIB) + b"x")
        client.bytes_until_closed()  # a 16 MiB frame is refused: the connection is closed
    log_line(sim.proc, r"length prefix 16777216 exceeds 1048576 bytes; closing")


def test_a_connection_that_never_completes_the_handshake_is_closed(gateway_sim):
    sim = gateway_sim("--handshake-timeout", "0.5", "--idle-limit", "0.5")
    silent = WireClient(sim.port)
    half = WireClient(sim.port)
    half.send(API_PREFIX + struct.pack(">I", 40) + b"v157")  # slowloris: a handshake that never ends
    assert silent.bytes_until_closed() == b"" and half.bytes_until_closed() == b""
    log_line(sim.proc, r"no complete handshake within 0\.5s \(--handshake-timeout\); closing")
    no_start = WireClient(sim.port)
    no_start.handshake()
    assert no_start.bytes_until_closed() == b""
    log_line(sim.proc, r"no startApi within 0\.5s of the handshake \(--idle-limit\); closing")
    quiet = WireClient(sim.port)
    quiet.connect_api(5)
    mark = log_mark(sim.proc)
    stalled = WireClient(sim.port)
    stalled.connect_api(6)
    stalled.send(struct.pack(">I", 100) + b"49\0")
    assert stalled.bytes_until_closed() == b""
    log_line(sim.proc, r"a frame left incomplete \(7 bytes\) for 0\.5s \(--idle-limit\); closing", after=mark)
    quiet.send_message(49, 1)  # a started API session that is merely quiet is never closed
    assert quiet.read_until(lambda m: m[0] == "49")


def test_a_flooding_client_is_throttled_and_the_others_keep_their_ticks(gateway_sim):
    sim = gateway_sim("--tick-interval", "0.02")
    healthy = WireClient(sim.port)
    healthy.connect_api(1)
    healthy.subscribe(1, "AAPL")
    healthy.read_until(is_tick)
    flooder = socket.create_connection(("127.0.0.1", sim.port))
    flooder.sendall(build_handshake() + encode_message(71, 2, 2, ""))
    noise = encode_message(14, 1, 5) * 25_000  # setServerLogLevel: tiny, and never answered
    garbage = encode_message(999, 1) * 25_000  # unknown message ids: each one a bad frame
    flooder.sendall(noise + garbage)
    log_line(sim.proc, r"conn 2 flooding: over 5000 frames a second, \d+ waiting")
    healthy.drain()
    ticks = [healthy.read_until(is_tick) for _ in range(20)]  # streaming goes on during the flood
    assert len(ticks) == 20
    flooder.shutdown(socket.SHUT_WR)
    log_line(sim.proc, r"conn 2 bad input: \d+ more bad frames not logged", timeout=60)
    flooder.close()
    lines = [line for line in sim.proc._seen_lines if "conn 2 bad input" in line]
    assert len(lines) < 50, f"{len(lines)} log lines for 25,000 bad frames"


def test_pacing_ib_answers_100_then_disconnects_a_client_that_keeps_flooding(gateway_sim):
    sim = gateway_sim("--pacing", "ib")
    client = WireClient(sim.port)
    client.connect_api(3)
    deadline_frames = encode_message(14, 1, 5) * 200
    for _ in range(40):
        try:
            client.send(deadline_frames)
        except OSError:
            break
        if sim.proc.poll() is not None:
            break
        try:
            log_line(sim.proc, r"pacing: more than 50 messages a second, repeatedly", timeout=0.1)
            break
        except AssertionError:
            continue
    error = client.read_error()
    assert error[3] == "100" and "Max rate of messages per second has been exceeded:max=50" in error[4]
    wait_until(lambda: client.bytes_until_closed() is not None, what="the disconnection")
    log_line(sim.proc, r"conn 1 pacing: more than 50 messages a second, repeatedly \(--pacing ib\)")


def test_pacing_ib_refuses_identical_historical_requests_with_162(gateway_sim):
    sim = gateway_sim("--pacing", "ib")
    client = WireClient(sim.port)
    client.connect_api(4)
    request = (20, 0, "AAPL", "STK", "", 0, "", "", "SMART", "", "USD", "", "", 0, "", "1 min", "1 D", 1, "TRADES",
               1, 0, "")
    client.send_message(request[0], 7, *request[1:])
    answer = client.read_until(lambda m: m[0] == "17" or (m[0] == "4" and m[2] == "7"))
    assert answer[0] == "17", answer
    client.send_message(request[0], 8, *request[1:])
    error = client.read_error()
    assert error[2:4] == ["8", "162"] and "pacing violation" in error[4]
    gc.collect()

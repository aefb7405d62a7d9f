"""Bad input from one client: logged, answered or that connection closed, and nobody else notices.

One simulator serves the whole module with a client streaming AAPL ticks;
every case checks its own outcome on the wire and in the log, then that the
process is alive and the streaming client still gets fresh ticks.
"""

from __future__ import annotations

import struct

import pytest

from ibproto.wire import API_PREFIX, MAX_FRAME_SIZE, build_handshake, encode_message, frame
from tests.gateway_sim.support import FAST_TICKS, WireClient, is_tick, log_line, log_mark
from tests.helpers import PYTHON, ProcessTracker, free_port, read_line_matching, wait_until

OVERSIZED_PREFIX = struct.pack(">I", MAX_FRAME_SIZE + 1)


class Shared:
    def __init__(self, proc, port: int, streamer: WireClient):
        self.proc, self.port, self.streamer = proc, port, streamer


@pytest.fixture(scope="module")
def shared():
    tracker = ProcessTracker()
    port = free_port()
    proc = tracker.start([PYTHON, "-m", "services.gateway_sim", "--port", str(port), *FAST_TICKS])
    read_line_matching(proc, rf"listening on 127\.0\.0\.1:{port}")
    streamer = WireClient(port)
    streamer.connect_api(100)
    streamer.subscribe(1, "AAPL")
    streamer.read_until(is_tick)
    yield Shared(proc, port, streamer)
    streamer.close()
    tracker.cleanup()


@pytest.fixture
def sim(shared):
    """The shared simulator; after the test, it must still be running and streaming."""
    yield shared
    assert shared.proc.poll() is None, "the simulator died"
    shared.streamer.drain()
    assert is_tick(shared.streamer.read_until(is_tick))


def api_client(sim: Shared, client_id: int) -> WireClient:
    client = WireClient(sim.port)
    client.connect_api(client_id)
    return client


def assert_still_serving(client: WireClient) -> None:
    """The connection survived: reqCurrentTime still gets currentTime (msg 49)."""
    client.send_message(49, 1)
    assert client.read_until(lambda m: m[0] != "4")[0] == "49"


CLOSED_WITHOUT_A_BYTE = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", r"bad input: connection did not start with 'API\\0'",
                 id="garbage-before-handshake"),
    pytest.param(b"API=9.72\0", r"bad input: connection did not start with 'API\\0' \(got b'API='\)",
                 id="wrong-prefix-API=9.72"),
    pytest.param(API_PREFIX + frame(b"hello"), r"bad input: expected 'v<min>\.\.<max>', got 'hello'",
                 id="malformed-version-range"),
    # Requests are small: the simulator refuses frames over 1 MiB (the protocol allows 16 MiB).
    pytest.param(API_PREFIX + OVERSIZED_PREFIX, r"bad input: length prefix 16777217 exceeds 1048576 bytes",
                 id="oversized-handshake-frame"),
]


@pytest.mark.parametrize("data, logged", CLOSED_WITHOUT_A_BYTE)
def test_bad_opening_is_closed_without_a_byte(sim, data, logged):
    mark = log_mark(sim.proc)
    with WireClient(sim.port) as client:
        client.send(data)
        assert client.bytes_until_closed() == b""
    log_line(sim.proc, logged, after=mark)


def test_a_client_newer_than_the_simulator_hears_its_version_and_decides(sim):
    """As a real Gateway: it answers with its own highest version; ibapi then reports 503 itself."""
    mark = log_mark(sim.proc)
    with WireClient(sim.port) as client:
        reply = client.handshake(179, 190)
        assert reply.server_version == 178
        assert_still_open = client.nothing_pending()
        assert assert_still_open
    log_line(sim.proc, r"handshake v179\.\.190 -> server version 178", after=mark)


def test_a_client_older_than_the_simulator_is_closed_without_an_answer(sim):
    mark = log_mark(sim.proc)
    with WireClient(sim.port) as client:
        client.send(build_handshake(100, 150))
        assert client.bytes_until_closed() == b""
    log_line(sim.proc, r"handshake v100\.\.150 refused: the client is older than v157", after=mark)


def test_handshake_cut_short_is_logged(sim):
    mark = log_mark(sim.proc)
    with WireClient(sim.port) as client:
        client.send(API_PREFIX + struct.pack(">I", 10) + b"v157")
    log_line(sim.proc, r"bad input: connection closed in the middle of the handshake", after=mark)


def test_truncated_frame_after_start_is_logged(sim):
    mark = log_mark(sim.proc)
    with api_client(sim, 1) as client:
        client.send(struct.pack(">I", 100) + b"62\x001\x00")
    log_line(sim.proc, r"bad input: truncated frame, 9 bytes of an incomplete message at disconnect", after=mark)


def test_oversized_frame_after_start_closes_that_connection(sim):
    mark = log_mark(sim.proc)
    with api_client(sim, 2) as client:
        client.send(OVERSIZED_PREFIX + b"x" * 64)
        assert client.bytes_until_closed() == b""
    log_line(sim.proc, r"bad input: length prefix 16777217 exceeds 1048576 bytes; closing", after=mark)


ANSWERED_WITH_AN_ERROR = [
    pytest.param([999, 1], "-1", "321", r"unknown message id '999'", id="unknown-message-id"),
    pytest.param(["abc", 1], "-1", "321", r"unknown message id 'abc'", id="non-numeric-message-id"),
    pytest.param([1, 11, "abc"], "-1", "321", r"reqMktData: field 'reqId' must be an integer, got 'abc'",
                 id="non-numeric-request-id"),
    pytest.param([1, 11, 5, "x1", "AAPL"], "5", "321", r"reqMktData: field 'contract.conId' must be an integer",
                 id="non-numeric-conId"),
    pytest.param([1, 11], "-1", "321", r"reqMktData: message ends before field 'reqId'", id="missing-fields"),
    pytest.param([9, 8, 6, 0, "AAPL", "STK", "", "lots", ""], "6", "321",
                 r"reqContractDetails: field 'contract.strike' must be a number", id="non-numeric-strike"),
    pytest.param([20, 7, 0, "AAPL", "STK", "", 0, "", "", "SMART", "", "USD", "", "", 0, "", "1 fortnight",
                  "1 D", 0, "TRADES", 1, 0, ""], "7", "162", r"reqHistoricalData 7 refused: error 162 .*Invalid bar size",
                 id="invalid-bar-size"),
    pytest.param([20, 8, 0, "AAPL", "STK", "", 0, "", "", "SMART", "", "USD", "", "", 0, "", "1 day",
                  "30000 M", 0, "TRADES", 1, 0, ""], "8", "162", r"reqHistoricalData 8 refused: error 162",
                 id="30000-months"),
    pytest.param([20, 9, 0, "AAPL", "STK", "", 0, "", "", "SMART", "", "USD", "", "", 0, "", "9" * 5000,
                  "1 D", 0, "TRADES", 1, 0, ""], "9", "162", r"reqHistoricalData 9 refused: error 162",
                 id="5000-digit-bar-size"),
    pytest.param([71, 2, "9" * 5000, ""], "-1", "321", r"startApi: field 'clientId' must be an integer",
                 id="5000-digit-client-id"),
    pytest.param([4, 1, 12], "12", "10147", r"cancelOrder 12: error 10147", id="cancel-of-an-unknown-order"),
]


@pytest.mark.parametrize("fields, request_id, code, logged", ANSWERED_WITH_AN_ERROR)
def test_bad_request_gets_an_error_record_and_the_connection_carries_on(sim, fields, request_id, code, logged):
    mark = log_mark(sim.proc)
    with api_client(sim, 3) as client:
        client.send(encode_message(*fields))
        error = client.read_error()
        assert error[2:4] == [request_id, code]
        assert_still_serving(client)
    log_line(sim.proc, logged, after=mark)


def test_empty_frame_gets_an_error(sim):
    with api_client(sim, 4) as client:
        client.send(frame(b""))
        assert client.read_error()[3] == "321"
        assert_still_serving(client)


def test_invalid_utf8_symbol_is_just_an_unknown_contract(sim):
    with api_client(sim, 5) as client:
        client.send(frame(b"9\x008\x004\x000\x00\xff\xfeAA\x00STK\x00\x000\x00\x00\x00SMART\x00\x00USD\x00\x00\x00"
                          b"0\x00\x00\x00\x00"))
        assert client.read_error()[2:4] == ["4", "200"]
        assert_still_serving(client)


def test_request_before_start_api_gets_an_error(sim):
    with WireClient(sim.port) as client:
        client.handshake()
        client.send_message(49, 1)
        error = client.read_error()
        assert error[3] == "321" and "startApi must come first" in error[4]
        client.start_api(6)
        assert_still_serving(client)


def test_many_bad_clients_at_once_do_not_disturb_the_stream(sim):
    bad = [WireClient(sim.port) for _ in range(10)]
    for number, client in enumerate(bad):
        client.send(b"\x00" * number + b"GARBAGE")
    for client in bad:
        assert client.bytes_until_closed() == b""
        client.close()


def test_a_client_that_stops_reading_loses_ticks_not_the_others(gateway_sim):
    sim = gateway_sim("--tick-interval", "0.001")
    stuck = WireClient(sim.port)
    stuck.connect_api(1)
    for request_id in range(1, 101):  # 100 lines, the most a client may hold; never read
        stuck.subscribe(request_id, "AAPL")
    healthy = WireClient(sim.port)
    healthy.connect_api(2)
    healthy.subscribe(1, "NVDA")
    log_line(sim.proc, r"conn 1 slow reader: \d+ bytes queued, dropping its updates")
    healthy.drain()
    assert healthy.read_until(is_tick)[2] == "1"

    def caught_up() -> bool:
        stuck.drain()
        try:
            log_line(sim.proc, r"conn 1 caught up: sending updates again", timeout=0.2)
        except AssertionError:
            return False
        return True

    wait_until(caught_up, what="the stuck client to catch up once it reads again")
    assert sim.proc.poll() is None

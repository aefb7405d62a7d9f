"""The simulator as IB Gateway under IBC, as real processes: the command server, login phases, soft restarts."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from datetime import datetime

import pytest
from ib_async import IB, Stock

from ibproto.wire import build_handshake
from tests.gateway_sim.support import FAST_TICKS, ClosedByServer, WireClient, is_tick, log_line, log_mark
from tests.gateway_sim.week_support import IbcClient, lines_in_order, start_sim
from tests.helpers import DEFAULT_DEADLINE, PYTHON, REPO, port_accepts

IBC = ("--ibc-command-port", "0")


def stamp(line: str) -> datetime:
    """The time of a gateway_sim or IBC log line (IBC writes its milliseconds after a colon)."""
    match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[.:](\d{3}) ", line)
    return datetime.strptime(f"{match.group(1)}.{match.group(2)}", "%Y-%m-%d %H:%M:%S.%f")


def test_the_command_server_answers_each_command_as_ibc_does(processes):
    sim = start_sim(processes, *IBC)
    with IbcClient(sim.command_port) as client:
        for command, answer in [("ENABLEAPI", "ERROR ENABLEAPI is not valid for the IB Gateway"),
                                ("", None), ("bogus", "ERROR Command invalid"), ("RECONNECTDATA", "OK "),
                                ("reconnectaccount", "OK ")]:
            client.send(command)
            if answer is not None:  # a blank line is skipped without an answer
                assert client.read_line() == answer
        client.send("EXIT")
        assert client.answers_until_closed() == ["OK Goodbye"] and client.closed
    log_line(sim.proc, r"IBC: CommandServer accepted connection from: /127\.0\.0\.1")
    log_line(sim.proc, r"IBC: CommandServer: invalid command received: bogus")
    log_line(sim.proc, r"IBC: Closing command channel")
    assert sim.proc.poll() is None  # EXIT ends the conversation, not the Gateway


def test_a_line_too_long_is_refused_and_the_channel_closed(processes):
    sim = start_sim(processes, *IBC)
    with IbcClient(sim.command_port) as client:
        client.send(b"X" * 10_000)
        assert client.answers_until_closed() == ["ERROR Command invalid"]
    log_line(sim.proc, r"invalid command received: a line over 4096 bytes")
    with IbcClient(sim.command_port) as client:  # the server itself is fine
        client.send("RECONNECTDATA")
        assert client.read_line() == "OK "


def test_soft_restart_closes_every_connection_refuses_then_serves_again_without_a_second_factor(processes):
    # 3 s of refusal: room for a loaded machine between seeing the close and trying to connect.
    sim = start_sim(processes, *IBC, *FAST_TICKS, "--second-factor", "0.2", "--restart-delay", "0.5",
                    "--restart-duration", "3")
    assert len([line for line in sim.proc._seen_lines if "Second Factor Authentication initiated" in line]) == 1
    streaming = WireClient(sim.port)
    streaming.connect_api(1)
    streaming.subscribe(1, "AAPL")
    streaming.read_until(is_tick)
    mark = log_mark(sim.proc)

    answers = sim.command("RESTART")
    assert answers[0] == "OK RESTART in progress"
    assert re.fullmatch(r"OK RESTART at \d\d:\d\d [AP]M", answers[1]) and len(answers) == 2
    with pytest.raises(ClosedByServer):  # the soft restart closes the API connection
        streaming.read_until(lambda message: False)
    log_line(sim.proc, r"conn 1 closed by the simulator \(restarting\)", after=mark)
    assert not port_accepts(sim.port)  # refused while the Gateway restarts
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=DEFAULT_DEADLINE)

    went, came_back = lines_in_order(sim.proc, [r"state restarting: RESTART command", r"listening on .* again"],
                                     after=mark)
    assert (stamp(came_back) - stamp(went)).total_seconds() >= 3 - 0.01
    back = WireClient(sim.port)
    back.connect_api(1)  # the client id is free again
    back.subscribe(2, "AAPL")
    assert back.read_until(is_tick)[2] == "2"
    after_restart = sim.proc._seen_lines[mark:]
    assert any("autorestart file found at" in line and "authentication will not be required" in line
               for line in after_restart)
    assert not any("Second Factor" in line for line in after_restart)
    lines_in_order(sim.proc, [r"IBC: Re-starting session", r"login restored without a second factor",
                              r"IBC: Login has completed", r"state ready"], after=mark)
    back.close()


async def test_an_ib_async_client_is_disconnected_by_the_soft_restart_and_connects_again(processes):
    sim = start_sim(processes, *IBC, *FAST_TICKS, "--restart-delay", "0", "--restart-duration", "0.5")
    ib = IB()
    await ib.connectAsync("127.0.0.1", sim.port, clientId=7)
    disconnected = asyncio.Event()
    ib.disconnectedEvent += disconnected.set
    mark = log_mark(sim.proc)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.command_port)
    writer.write(b"RESTART\n")
    assert (await asyncio.wait_for(reader.read(), DEFAULT_DEADLINE)).startswith(b"OK RESTART in progress\n")
    writer.close()
    await asyncio.wait_for(disconnected.wait(), DEFAULT_DEADLINE)
    await asyncio.to_thread(log_line, sim.proc, r"listening on .* again", after=mark)
    await ib.connectAsync("127.0.0.1", sim.port, clientId=7)
    try:
        [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        ticker = ib.reqMktData(contract)
        deadline = asyncio.get_running_loop().time() + DEFAULT_DEADLINE
        while ticker.last != ticker.last or ticker.last is None:  # NaN until the first tick
            assert asyncio.get_running_loop().time() < deadline, "no tick after the soft restart"
            await asyncio.sleep(0.02)
    finally:
        ib.disconnect()


def test_a_restart_while_the_api_initialises_closes_the_held_connections_too(processes):
    sim = start_sim(processes, *IBC, "--api-delay", "600", "--restart-delay", "0", "--restart-duration", "0.2",
                    ready=r"state api-initialising")
    held = WireClient(sim.port)
    held.send(build_handshake())
    log_line(sim.proc, r"conn 1 API not ready yet: holding the answer \(\d+\.\d\ds left")
    sim.command("RESTART")
    assert held.bytes_until_closed() == b""  # closed without an answer
    log_line(sim.proc, r"conn 1 closed by the simulator \(restarting\)")
    mark = log_mark(sim.proc)
    log_line(sim.proc, r"state api-initialising", after=mark)  # initialising again after the restart


def test_a_soft_restart_clears_a_hung_api(processes):
    sim = start_sim(processes, *IBC, "--fault", "hang-after", "0", "--restart-delay", "0", "--restart-duration",
                    "0.2")
    log_line(sim.proc, r"fault hang-after 0s: API hung")
    sim.command("RESTART")
    log_line(sim.proc, r"fault hang-after: cleared by the restart")
    with WireClient(sim.port) as client:
        client.connect_api(1)  # answered again


def test_second_factor_login_phases_in_order_with_the_port_closed_until_the_login(processes):
    sim = start_sim(processes, *IBC, "--second-factor", "3", "--api-delay", "0.5",
                    ready=r"state awaiting-second-factor")
    assert not port_accepts(sim.port)  # nobody tapped the phone yet: the API port refuses
    log_line(sim.proc, r"state api-initialising")
    client = WireClient(sim.port)  # TCP accepted, the handshake held: the seeds' symptom
    client.send(build_handshake())
    log_line(sim.proc, r"conn 1 API not ready yet: holding the answer")
    assert client.read_message()[0] == "178"  # answered once the API is ready
    client.close()
    lines_in_order(sim.proc, [
        r"autorestart file not found: full authentication will be required",
        r"IBC: Starting Gateway",
        r"gateway_sim: state starting: ",
        r"IBC: Login attempt: 1",
        r"gateway_sim: state login-dialog: ",
        r"IBC: Second Factor Authentication initiated",
        r"gateway_sim: state awaiting-second-factor: approve the login on the phone; IBC gives up after 180s",
        r"gateway_sim: second factor approved after 3s",
        r"IBC: Login has completed",
        r"gateway_sim: listening on 127\.0\.0\.1:\d+ ",
        r"gateway_sim: state api-initialising: ",
        r"gateway_sim: state ready: API answering",
    ])


def test_a_second_factor_that_never_comes_exits_87_as_ibc_does(processes):
    sim = start_sim(processes, "--second-factor", "never", "--second-factor-timeout", "1",
                    ready=r"state awaiting-second-factor")
    assert not port_accepts(sim.port)
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 87
    lines_in_order(sim.proc, [
        r"IBC: Duration since login: 1 seconds",
        r"IBC: IBC closing because login has not completed after Second Factor Authentication",
        r"IBC: Exiting after error with exit code=1111",
        r"^IBC returned exit status 87$",
        r"state stopping: second factor not approved within 1s: exiting with status 87",
    ])
    assert not any("Login has completed" in line for line in sim.proc._seen_lines)


def test_stop_logs_out_closes_the_api_connections_and_exits_zero(processes):
    sim = start_sim(processes, *IBC)
    client = WireClient(sim.port)
    client.connect_api(3)
    assert sim.command("STOP") == ["OK Shutting down: STOP command"]
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0
    with pytest.raises(ClosedByServer):
        client.read_until(lambda message: False)
    lines_in_order(sim.proc, [r"IBC: Login has completed: exiting via \[File, Close\] menu",
                              r"state stopping: STOP command: logging out", r"conn 1 closed by the simulator",
                              r"gateway_sim: stopped"])


def test_stop_while_awaiting_the_second_factor_exits_zero_at_once(processes):
    sim = start_sim(processes, *IBC, "--second-factor", "never", ready=r"state awaiting-second-factor")
    assert sim.command("stop") == ["OK Shutting down: STOP command"]
    assert sim.proc.wait(timeout=DEFAULT_DEADLINE) == 0
    log_line(sim.proc, r"IBC: Login has not completed: exiting immediately")


def test_a_command_port_in_use_is_one_line_and_exit_1():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = subprocess.run([PYTHON, "-m", "services.gateway_sim", "--port", "0", "--ibc-command-port",
                                 str(taken)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.endswith(f"error: cannot listen on 127.0.0.1:{taken} (--ibc-command-port): "
                                  f"Address already in use\n")
    assert len(result.stderr.splitlines()) == 1


def test_the_sunday_cold_restart_closes_the_api_and_logs_in_again_with_the_second_factor(processes):
    # 20x: the cold restart at Sunday 01:05 New York comes 1 s after the start; each second factor takes 0.5 s.
    sim = start_sim(processes, "--ibc-command-port", "0", "--second-factor", "10", "--cold-restart", "01:05",
                    "--timezone", "America/New_York", "--start-day", "sun", "--start-time", "01:04:40",
                    "--time-scale", "20")
    first_ready = sim.proc._seen_lines.index(log_line(sim.proc, r"state ready"))
    lines = lines_in_order(sim.proc, [r"IBC will cold-restart shortly",
                                      r"state starting: weekly cold restart \(IBC's ColdRestartTime\) at Sunday "
                                      r"01:05 America/New_York: a full login, second factor included",
                                      r"IBC: Second Factor Authentication initiated", r"state ready"],
                           after=first_ready + 1)
    assert "second factor" in lines[1]
    assert sim.proc.poll() is None  # the same process: IBC restarts the Gateway, the simulator plays both

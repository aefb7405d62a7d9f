"""The launcher's IBC client against the simulator's real command server, and its parsing on values."""

from __future__ import annotations

import asyncio
import socket

import pytest

from launcher.gateway.ibc import IbcUnavailable, check_command, parse_reply, send_command
from tests.gateway_sim.support import log_line
from tests.gateway_sim.week_support import start_sim
from tests.helpers import free_port


def test_replies_parse_ok_error_and_the_unexpected():
    restart = parse_reply("RESTART", ["OK RESTART in progress\n", "OK RESTART at 02:31 PM\n"])
    assert restart.ok and restart.info == "RESTART in progress" and len(restart.lines) == 2
    assert parse_reply("RECONNECTDATA", ["OK \n"]).ok
    refused = parse_reply("ENABLEAPI", ["ERROR ENABLEAPI is not valid for the IB Gateway"])
    assert not refused.ok and refused.info == "ENABLEAPI is not valid for the IB Gateway"
    odd = parse_reply("STOP", ["hello"])
    assert not odd.ok and odd.info == "unexpected answer 'hello'"
    assert refused.describe() == "ENABLEAPI: ERROR ENABLEAPI is not valid for the IB Gateway"


@pytest.mark.parametrize("bad", ["REBOOT", "RESTART\nSTOP", ""])
def test_only_ibcs_commands_are_sent(bad):
    with pytest.raises(ValueError, match="unknown IBC command"):
        check_command(bad)
    assert check_command(" restart ") == "RESTART"


def test_commands_against_the_simulators_command_server(processes):
    sim = start_sim(processes, "--ibc-command-port", "0", "--farm-outage", "0:1h", "--restart-delay", "30")

    async def talk():
        data = await send_command("127.0.0.1", sim.command_port, "RECONNECTDATA", timeout=10)
        enable = await send_command("127.0.0.1", sim.command_port, "ENABLEAPI", timeout=10)
        restart = await send_command("127.0.0.1", sim.command_port, "RESTART", timeout=10)
        again = await send_command("127.0.0.1", sim.command_port, "RESTART", timeout=10)
        return data, enable, restart, again

    data, enable, restart, again = asyncio.run(talk())
    assert data.ok and data.lines == ("OK",)
    log_line(sim.proc, r"condition farms-ok: usfarm, ushmds, secdefnj \(2104, 2106, 2158\); on RECONNECTDATA")
    assert not enable.ok and "not valid for the IB Gateway" in enable.info
    assert restart.ok and restart.lines[0] == "OK RESTART in progress" and restart.lines[1].startswith("OK RESTART at")
    assert not again.ok and again.info == "RESTART already in progress"


def test_a_command_server_that_is_not_there_or_never_answers():
    closed = free_port()
    with pytest.raises(IbcUnavailable, match=rf"IBC's command server at 127.0.0.1:{closed} refuses connections"):
        asyncio.run(send_command("127.0.0.1", closed, "STOP", timeout=2))
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        with pytest.raises(IbcUnavailable, match=r"did not answer STOP within 0.5s"):
            asyncio.run(send_command("127.0.0.1", port, "STOP", timeout=0.5))

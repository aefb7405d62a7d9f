"""The command line and the process contract: help, one-line errors, readiness line, negotiation."""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess

import pytest

from services.errors import UsageError
from services.gateway_sim.config import Fault, parse_arguments
from tests.gateway_sim.support import WireClient, log_line
from tests.helpers import PYTHON, REPO, read_line_matching

MODULE = [PYTHON, "-m", "services.gateway_sim"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MODULE, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_help_lists_every_option():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--port", "--host", "--seed", "--tick-interval", "--fault", "--api-delay", "--account",
                   "--max-clients", "--trusted-ips"):
        assert option in result.stdout


@pytest.mark.parametrize("args, named", [
    ([], "--port"),
    (["--port", "4002", "--fault", "bogus"], "--fault: unknown mode 'bogus'"),
    (["--port", "4002", "--fault", "crash-after"], "--fault crash-after needs exactly one value"),
    (["--port", "4002", "--fault", "hang-after", "soon"], "--fault hang-after: expected seconds, got 'soon'"),
    (["--port", "4002", "--fault", "silent", "3"], "--fault silent takes no value"),
    (["--port", "4002", "--tick-interval", "0"], "--tick-interval: expected more than zero seconds"),
    (["--port", "4002", "--tick-interval", "abc"], "--tick-interval"),
    (["--port", "4002", "--api-delay", "-1"], "--api-delay: expected zero or more seconds"),
    (["--port", "70000"], "--port: 70000 is not a TCP port"),
    (["--port", "4002", "--account", "X1234567"], "--account: 'X1234567' is not an account id"),
    (["--port", "4002", "--orders", "maybe"], "--orders: invalid choice"),
    (["--port", "4002", "--idle-limit", "nan"], "--idle-limit: expected more than zero seconds"),
    (["--port", "4002", "--market-data-lines", "0"], "--market-data-lines: must be at least 1"),
    (["--port", "4002", "--max-clients", "0"], "--max-clients: must be at least 1"),
    (["--port", "4002", "--trusted-ips", "10.0.0.300"], "--trusted-ips: '10.0.0.300' is not an IP address"),
    (["--port", "4002", "--colour", "blue"], "unrecognized arguments: --colour blue"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, named):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line_and_exit_1():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        result = run_cli("--port", str(holder.getsockname()[1]))
    assert result.returncode == 1
    assert re.fullmatch(r".*error: cannot listen on 127\.0\.0\.1:\d+: .+\n", result.stderr)


def test_port_zero_reports_the_port_it_got(processes):
    proc = processes.python("-m", "services.gateway_sim", "--port", "0", "--seed", "5")
    line = read_line_matching(proc, r"listening on 127\.0\.0\.1:\d+")
    port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))
    assert "seed 5" in line
    with WireClient(port) as client:
        assert client.handshake().server_version == 178
    log_line(proc, r"conn 1 from 127\.0\.0\.1:\d+ accepted")


@pytest.mark.parametrize("low, high, expected", [(100, 157, 157), (157, 176, 176), (157, 178, 178), (100, 200, 178)])
def test_negotiates_the_highest_common_version(gateway_sim, low, high, expected):
    sim = gateway_sim()
    with WireClient(sim.port) as client:
        reply = client.handshake(low, high)
    assert reply.server_version == expected
    assert re.fullmatch(r"\d{8} \d\d:\d\d:\d\d \S+", reply.connection_time)
    log_line(sim.proc, rf"conn 1 handshake v{low}\.\.{high} -> server version {expected}")


def test_parsed_configuration():
    config = parse_arguments(["--port", "4002", "--fault", "crash-after=2.5", "--trusted-ips", "127.0.0.1, 10.0.0.0/8",
                              "--account", "DU42", "--seed", "9"])
    assert config.fault == Fault("crash-after", 2.5)
    assert config.trusted_ips == (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8"))
    assert config.trusts("10.1.2.3") and config.trusts("::ffff:127.0.0.1") and not config.trusts("127.0.0.2")
    assert (config.account, config.seed, config.port) == ("DU42", 9, 4002)
    with pytest.raises(UsageError):
        parse_arguments(["--port", "1", "--fault", "close-wait=3"])

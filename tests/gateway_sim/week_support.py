"""Helpers for the Gateway-week tests: start the simulator in IBC mode, talk to its command server."""

from __future__ import annotations

import re
import socket
import subprocess
from dataclasses import dataclass

from tests.gateway_sim.support import log_line
from tests.helpers import DEFAULT_DEADLINE, free_port

COMMAND_PORT_LINE = r"IBC: CommandServer listening on address: 127\.0\.0\.1 port: (\d+)"


@dataclass
class WeekSim:
    proc: subprocess.Popen
    port: int
    command_port: int | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self, line: str) -> list[str]:
        """Send a command that ends the conversation (RESTART, STOP, EXIT); every answer line until IBC closes."""
        with IbcClient(self.command_port) as client:
            client.send(line)
            return client.answers_until_closed()


def start_sim(processes, *args: str, ready: str | None = r"state ready") -> WeekSim:
    """The simulator on a free API port (and a free command port with ``--ibc-command-port 0``).

    Returns once a line matching ``ready`` is printed (``None``: at once).
    """
    port = free_port()
    proc = processes.python("-m", "services.gateway_sim", "--port", str(port), *args)
    command_port = None
    if "--ibc-command-port" in args:
        command_port = int(re.search(COMMAND_PORT_LINE, log_line(proc, COMMAND_PORT_LINE)).group(1))
    if ready:
        log_line(proc, ready)
    return WeekSim(proc, port, command_port)


class IbcClient:
    """A connection to IBC's command server: lines out, lines in, every read with a deadline."""

    def __init__(self, port: int, timeout: float = DEFAULT_DEADLINE):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""
        self.closed = False

    def __enter__(self) -> "IbcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def send(self, line: str | bytes) -> None:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\n")

    def read_line(self, timeout: float = DEFAULT_DEADLINE) -> str | None:
        """The next answer line, or ``None`` once IBC has closed the connection."""
        self.sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            data = self.sock.recv(4096)
            if not data:
                self.closed = True
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def answers_until_closed(self) -> list[str]:
        lines = []
        while (line := self.read_line()) is not None:
            lines.append(line)
        return lines


def lines_in_order(proc: subprocess.Popen, patterns: list[str], *, after: int = 0) -> list[str]:
    """The first lines (past ``after``) matching each pattern, each found after the previous one."""
    found, start = [], after
    for pattern in patterns:
        log_line(proc, pattern, after=start)
        regex = re.compile(pattern)
        index = next(i for i, line in enumerate(proc._seen_lines) if i >= start and regex.search(line))
        found.append(proc._seen_lines[index])
        start = index + 1
    return found

"""IBC's command server: one command per line over TCP on loopback, answered ``OK <info>`` or ``ERROR <info>``.

As IBC's CommandServer, CommandChannel and CommandDispatcher behave (facts
from IBC's Java source, re-implemented): a connection takes any number of
commands, matched without regard to case but otherwise exactly as read (a line
ending is the only thing removed); blank lines are skipped; ``INFO`` lines and a
prompt are off, as in IBC's default settings; ``EXIT``, ``STOP`` and ``RESTART``
close the connection after their answer. What each command does is decided by
:meth:`~services.gateway_sim.lifecycle.GatewayLife.command`; this module only
moves lines and writes IBC's connection log lines.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from services.gateway_sim.actions import CommandReply
from services.gateway_sim.log import EventLog

COMMAND_HOST = "127.0.0.1"  # loopback only, whatever address the API listens on
MAX_LINE = 4096  # a longer "command" is refused and the connection closed
SHUTDOWN_GRACE = 0.5


def command_text(raw: bytes) -> str:
    """A line as IBC's ``readLine`` returns it: without its line ending; unprintable characters shown as ``?``."""
    text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
    return "".join(char if char.isprintable() else "?" for char in text)


class CommandServer:
    """Serves IBC commands on ``port`` of the loopback interface."""

    def __init__(self, port: int, log: EventLog, answer: Callable[[str], CommandReply],
                 settle: Callable[[], Awaitable[None]]):
        self.port = port
        self._log = log
        self._answer = answer
        self._settle = settle
        self._server: asyncio.AbstractServer | None = None
        self._channels: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Listen (an ``OSError`` if the port is taken); log IBC's start lines; return the port."""
        self._server = await asyncio.start_server(self._accept, COMMAND_HOST, self.port, reuse_address=True,
                                                  limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        self._log.ibc(f"CommandServer is starting with port {self.port}")
        self._log.ibc(f"CommandServer listening on address: {COMMAND_HOST} port: {self.port}")
        self._log.ibc("CommandServer started and is ready to accept commands")
        return self.port

    async def close(self) -> None:
        """Stop listening, close every open channel and let their handlers end."""
        if self._server is not None:
            self._server.close()
            self._server = None
            self._log.ibc("CommandServer is shutdown")
        for channel in list(self._channels):
            channel.close()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=SHUTDOWN_GRACE)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        self._channels.add(writer)
        address = writer.get_extra_info("peername")[0]
        self._log.ibc("CommandServer: ControlFrom setting = ")
        self._log.ibc(f"CommandServer accepted connection from: /{address}")
        try:
            await self._converse(reader, writer)
        except (ConnectionError, OSError):
            pass  # the client went away; IBC logs the exception and closes the channel
        finally:
            self._close_channel(writer)
            self._handlers.discard(task)

    def _close_channel(self, writer: asyncio.StreamWriter) -> None:
        if writer in self._channels:
            self._channels.discard(writer)
            self._log.ibc("Closing command channel")
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                raw = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._log.ibc(f"CommandServer: invalid command received: a line over {MAX_LINE} bytes")
                writer.write(b"ERROR Command invalid\n")
                await writer.drain()
                return
            if not raw:
                return
            line = command_text(raw)
            if not line.strip():
                continue
            reply = self._answer(line)
            writer.write("".join(f"{answer}\n" for answer in reply.lines).encode())
            await writer.drain()
            if reply.close:
                self._close_channel(writer)
            await self._settle()  # after the answer is on its way: a STOP may end the process
            if reply.close:
                return

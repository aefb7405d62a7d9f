"""The running supervisor's control socket: `robostack restart`, and the `status` / `doctor` liveness question.

A Unix stream socket in Linux's abstract namespace, named from the state
directory (no path-length limit, nothing to clean up after a SIGKILL). Only
connections from the same user are served (checked with SO_PEERCRED). One
JSON request line in; JSON progress lines out, ending with a `finish` line.

Requests:

* ``{"command": "status"}``: answered at once, from memory, whatever the supervisor is
  doing (starting, supervising, stopping): the run state, and whether it can be saved.
  `status` asks it with a short deadline: no answer means "supervisor not responding".
* ``{"command": "restart", "service": NAME, "with_dependents": BOOL}``: refused while
  the stack is starting or stopping; a restart in flight when the stop begins is
  abandoned, and its client told so. ``stop`` and ``start`` (`robostack stop|start`)
  are the same with ``"services": [NAME, ...]``.
* ``{"command": "wait", "services": [NAME, ...], "timeout": SECONDS|null}``: answered
  once the services are up, settle (failed, blocked, halted), or the time runs out.

The socket is served from the moment the supervisor holds the stack's lock until it
has stopped everything; handlers still running then are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from typing import Any, Callable, Protocol

from launcher.errors import NotRunningError, RobostackError
from launcher.state.paths import StatePaths
from launcher.supervise.control_point import _PEER_CREDENTIALS, ask_status, control_address  # noqa: F401
from launcher.supervise.journal import Journal
from launcher.supervise.reporter import JsonLinesReporter

REQUEST_TIMEOUT = 5.0  # for the client's request line
CLOSE_TIMEOUT = 5.0  # for handlers to end once cancelled


class Controlled(Protocol):
    """What the control socket asks of the supervisor."""

    paths: StatePaths
    journal: Journal

    async def change_requested(self, command: str, names: list[str], with_dependents: bool) -> str:
        """Restart, stop or start NAMEs, or raise a RobostackError saying why not; what was done."""

    async def wait_requested(self, names: list[str], timeout: float | None) -> str | None:
        """None once NAMEs (all if none) are up; else why not."""

    def status_reply(self) -> dict[str, Any]:
        """The supervisor's state, from memory."""


class _StreamReporter(JsonLinesReporter):
    """Forwards the supervisor's progress to one control client."""

    def __init__(self, writer: asyncio.StreamWriter):
        super().__init__(self.send)
        self.writer = writer

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write((json.dumps(message) + "\n").encode())


class ControlServer:
    """Serves control requests for one supervisor; :meth:`close` ends the server and every handler."""

    def __init__(self, target: Controlled):
        self._target = target
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=control_address(self._target.paths))

    async def close(self) -> None:
        """Stop accepting, cancel handlers still running and wait for them (bounded); safe to call twice."""
        if self._server is not None:
            self._server.close()
            self._server = None
        handlers = [task for task in self._handlers if not task.done()]
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        stream = _StreamReporter(writer)
        try:
            if not _same_user(writer):
                stream.send({"kind": "finish", "ok": False, "message": "refused: not the supervisor's user"})
                return
            request = json.loads(await _read_line(reader) or b"{}")
            await self._answer(request, stream)
        except (ValueError, asyncio.TimeoutError) as err:
            stream.send({"kind": "finish", "ok": False, "message": f"bad control request: {err}"})
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await writer.drain()
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, request: dict[str, Any], stream: _StreamReporter) -> None:
        command = request.get("command")
        if command == "status":
            stream.send({"kind": "finish", "ok": True, **self._target.status_reply()})
            return
        if command not in ("restart", "stop", "start", "wait"):
            stream.send({"kind": "finish", "ok": False, "message": f"unknown command {command!r}"})
            return
        names = [str(request.get("service"))] if command == "restart" else _names(request.get("services"))
        try:
            if command == "wait":  # no progress lines: its answer is the one line a script needs
                why_not = await self._target.wait_requested(names, _timeout(request.get("timeout")))
                stream.send({"kind": "finish", "ok": why_not is None, "message": why_not or "up",
                             "exit_code": 0 if why_not is None else 1})
                return
            with self._target.journal.listening(stream):
                done = await self._target.change_requested(command, names, bool(request.get("with_dependents")))
        except RobostackError as error:
            stream.send({"kind": "finish", "ok": False, "message": str(error), "exit_code": error.exit_code})
            return
        stream.send({"kind": "finish", "ok": True, "message": done})


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError("services: expected a list of service names")
    return value


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise ValueError(f"timeout: expected seconds, got {value!r}")
    return float(value)


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """The request line, within REQUEST_TIMEOUT."""
    line = asyncio.ensure_future(reader.readline())
    done, _ = await asyncio.wait([line], timeout=REQUEST_TIMEOUT)
    if not done:
        line.cancel()
        raise asyncio.TimeoutError(f"no request within {REQUEST_TIMEOUT:g}s")
    return line.result()


def _same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
    _, uid, _ = _PEER_CREDENTIALS.unpack(credentials)
    return uid == os.getuid()


# -- client side --------------------------------------------------------------------------------


async def _connect(paths: StatePaths) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(path=control_address(paths))
    except (ConnectionRefusedError, FileNotFoundError) as err:
        raise NotRunningError("the stack is not running (no supervisor answers); start it with `robostack up`") from err


async def request_restart(paths: StatePaths, service: str, with_dependents: bool,
                          on_message: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Ask the running supervisor to restart `service`; relay progress; return the finish line."""
    return await send_request(paths, {"command": "restart", "service": service, "with_dependents": with_dependents},
                              on_message)


async def send_request(paths: StatePaths, request: dict[str, Any],
                       on_message: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Send one request (restart, stop, start, wait) to the running supervisor; relay its progress lines
    to `on_message`; return its finish line."""
    reader, writer = await _connect(paths)
    writer.write((json.dumps(request) + "\n").encode())
    try:
        await writer.drain()
        async for line in reader:
            message = json.loads(line)
            if message["kind"] == "finish":
                return message
            on_message(message)
    finally:
        writer.close()
    return {"kind": "finish", "ok": False, "message": "the supervisor closed the connection before finishing"}

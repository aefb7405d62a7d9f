"""The supervisor's control socket: `robostack restart|stop|start|wait`, and the `status` liveness question.

The socket is a file, ``control.sock``, inside the stack's state folder: that folder is
the user's alone (0700, checked by :mod:`launcher.state.files`), so no other user can
bind the name first or even reach it. It is bound and reached through the checked
folder's descriptor (``/proc/self/fd/N/control.sock``), which also keeps the address
under the 108-byte limit of a socket path however deep the folder is; a socket file a
killed supervisor left behind is replaced in one rename.

Both ends check who is at the other one (SO_PEERCRED):

* the server answers only the supervisor's own user; anyone else gets a one-line refusal;
* the client believes an answer only from this user's process that holds the stack's
  lock (the supervisor recorded in the lock, and in run.json when the caller read it):
  an impostor's "restarted" is never shown, it is an unsafe state (exit 6).

Protocol: one JSON request line in (:func:`parse_request`, at most
:data:`MAX_REQUEST` bytes); JSON progress lines out, ending with a ``finish`` line.
A malformed request gets a one-line refusal; it never ends the handler otherwise.

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
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from launcher.errors import EXIT_USAGE, NotRunningError, RobostackError, StateError
from launcher.state import files
from launcher.state.paths import StatePaths
from launcher.state.store import StackLock
from launcher.supervise.control_point import _PEER_CREDENTIALS, ask_status, control_address  # noqa: F401
from launcher.supervise.journal import Journal
from launcher.supervise.reporter import JsonLinesReporter

REQUEST_TIMEOUT = 5.0  # for the client's request line
CLOSE_TIMEOUT = 5.0  # for handlers to end once cancelled
DISCARD_TIMEOUT = 1.0  # for a refused client's remaining input to be read (so the refusal is not reset away)
MAX_REQUEST = 64 * 1024  # a request is a few dozen bytes; a longer line is refused, never buffered
MAX_SERVICE_NAME = 256
COMMANDS = ("status", "restart", "stop", "start", "wait")
MAX_SERVICES = 1000  # names in one request


# -- the protocol, pure -------------------------------------------------------------------------


class BadRequest(ValueError):
    """A control request that is not one; the message is the one-line refusal."""


@dataclass(frozen=True)
class ControlRequest:
    command: str
    service: str = ""  # restart
    with_dependents: bool = False  # restart, stop, start
    services: tuple[str, ...] = ()  # stop, start, wait (none: every service, for wait)
    timeout: float | None = None  # wait

    @property
    def names(self) -> list[str]:
        return [self.service] if self.command == "restart" else list(self.services)


def parse_request(line: bytes) -> ControlRequest:
    """The request in one line of bytes, or BadRequest saying in one line what is wrong with it."""
    if len(line) > MAX_REQUEST:
        raise BadRequest(f"request longer than {MAX_REQUEST} bytes")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as err:
        raise BadRequest(f"not a JSON object ({_short(str(err))})") from None
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object, got {type(data).__name__}")
    command = data.get("command")
    if not isinstance(command, str):
        raise BadRequest(f"'command' must be a string, one of {', '.join(COMMANDS)}")
    if command not in COMMANDS:
        raise BadRequest(f"unknown command {_short(command)!r}; expected one of {', '.join(COMMANDS)}")
    if command == "status":
        return ControlRequest(command)
    with_dependents = data.get("with_dependents", False)
    if not isinstance(with_dependents, bool):
        raise BadRequest("'with_dependents' must be true or false")
    if command == "restart":
        service = data.get("service")
        if not _is_name(service):
            raise BadRequest("'service' must be the name of a service")
        return ControlRequest(command, service, with_dependents)
    services = data.get("services", [])
    if not isinstance(services, list) or len(services) > MAX_SERVICES or not all(map(_is_name, services)):
        raise BadRequest("'services' must be a list of service names")
    if command != "wait" and not services:
        raise BadRequest(f"'services' must name the services to {command}")
    timeout = data.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 <= timeout < 1e9):
        raise BadRequest("'timeout' must be a number of seconds, or null")
    return ControlRequest(command, "", with_dependents, tuple(services), None if timeout is None else float(timeout))


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_SERVICE_NAME


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width] + "..."


# -- the server ---------------------------------------------------------------------------------


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
    """Forwards the supervisor's progress to one control client (events arrive masked by the journal)."""

    def __init__(self, writer: asyncio.StreamWriter, mask: Callable[[str], str]):
        super().__init__(self.send)
        self.writer = writer
        self.mask = mask

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write((json.dumps(message) + "\n").encode())

    def finish(self, ok: bool, message: str, **data: Any) -> None:
        """The last line of an answer; its text masked like every line the supervisor writes."""
        self.send({"kind": "finish", "ok": ok, "message": self.mask(message), **data})


class ControlServer:
    """Serves control requests for one supervisor; :meth:`close` ends the server and every handler."""

    def __init__(self, target: Controlled):
        self._target = target
        self._server: asyncio.AbstractServer | None = None
        self._bound: tuple[int, int] | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Bind and serve the socket; StateError (one line, nothing served) if it cannot be."""
        paths = self._target.paths
        listener, self._bound = files.bind_private_socket(paths.control_socket, root=paths.root)
        try:
            self._server = await asyncio.start_unix_server(self._handle, sock=listener, limit=MAX_REQUEST)
        except OSError as err:
            listener.close()
            raise StateError(f"cannot serve the control socket {paths.control_socket}: {err.strerror or err}") from err

    async def close(self) -> None:
        """Stop accepting, cancel handlers still running and wait for them (bounded); safe to call twice."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._bound is not None:
            paths = self._target.paths
            files.remove_socket(paths.control_socket, self._bound, root=paths.root)
            self._bound = None
        handlers = [task for task in self._handlers if not task.done()]
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        stream = _StreamReporter(writer, self._target.journal.mask)
        try:
            uid = _peer(writer)[1]
            line = await _read_line(reader)  # read even a refused request: closing on unread data resets the answer
            if uid != os.getuid():
                stream.finish(False, f"refused: {files.owner_name(uid)} is not the supervisor's user "
                                     f"({files.owner_name(os.getuid())})", exit_code=StateError.exit_code)
                return
            await self._answer(parse_request(line), stream)
        except (BadRequest, asyncio.TimeoutError) as err:
            stream.finish(False, f"bad control request: {err}", exit_code=EXIT_USAGE)
            await _discard_input(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except Exception as err:  # a bug must cost one answer, never the handler's supervisor
            self._target.journal.note(f"control request failed: {err!r}")
            stream.finish(False, f"internal error in the supervisor: {err!r}")
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await writer.drain()
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, request: ControlRequest, stream: _StreamReporter) -> None:
        if request.command == "status":
            stream.send({"kind": "finish", "ok": True, **self._target.status_reply()})
            return
        try:
            if request.command == "wait":  # no progress lines: its answer is the one line a script needs
                why_not = await self._target.wait_requested(list(request.services), request.timeout)
                stream.finish(why_not is None, why_not or "up", exit_code=0 if why_not is None else 1)
                return
            with self._target.journal.listening(stream):
                done = await self._target.change_requested(request.command, request.names, request.with_dependents)
        except RobostackError as error:
            stream.finish(False, str(error), exit_code=error.exit_code)
            return
        stream.finish(True, done)


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """The request line, within REQUEST_TIMEOUT; BadRequest if it is longer than MAX_REQUEST."""
    line = asyncio.ensure_future(reader.readline())
    done, _ = await asyncio.wait([line], timeout=REQUEST_TIMEOUT)
    if not done:
        line.cancel()
        raise asyncio.TimeoutError(f"no request within {REQUEST_TIMEOUT:g}s")
    try:
        return line.result()
    except ValueError:  # asyncio's "separator is not found, and chunk exceed the limit"
        raise BadRequest(f"request longer than {MAX_REQUEST} bytes") from None


async def _discard_input(reader: asyncio.StreamReader) -> None:
    """Read (briefly, boundedly) what a refused client still sends, so the refusal reaches it."""
    async def until_end() -> None:
        for _ in range(16):
            if not await reader.read(MAX_REQUEST):
                return

    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        await asyncio.wait_for(until_end(), DISCARD_TIMEOUT)


def _peer(writer: asyncio.StreamWriter) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of the connection, as the kernel recorded them."""
    sock: socket.socket = writer.get_extra_info("socket")
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
    pid, uid, gid = _PEER_CREDENTIALS.unpack(credentials)
    return pid, uid, gid


# -- client side --------------------------------------------------------------------------------


async def _connect(paths: StatePaths, supervisor_pid: int | None = None
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the stack's supervisor, and make sure it is the one: this user's process holding the lock.

    `supervisor_pid` (the one run.json names, when the caller read it) must match too.
    NotRunningError if no supervisor holds the lock or none answers; StateError if
    someone else answers (nothing is sent to it).
    """
    holder = StackLock(paths).holder_identity()
    if holder is None:
        raise NotRunningError("the stack is not running (no supervisor holds its lock); start it with `robostack up`")
    path = paths.control_socket
    try:
        with files.socket_address(path, root=paths.root) as address:
            reader, writer = await asyncio.open_unix_connection(path=address, limit=MAX_REQUEST)
    except (ConnectionRefusedError, FileNotFoundError) as err:
        raise NotRunningError(f"the stack's supervisor (pid {holder.pid}) does not answer on {path}; "
                              "`robostack down` stops it") from err
    pid, uid, _ = _peer(writer)
    expected = {holder.pid} if supervisor_pid in (None, holder.pid) else set()
    if uid != os.getuid() or pid not in expected:
        writer.close()
        raise StateError(f"{path} is answered by pid {pid} ({files.owner_name(uid)}), not by this stack's "
                         f"supervisor (pid {holder.pid}); its answer is ignored and nothing was asked")
    return reader, writer


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
            message = _server_message(line)
            if message.get("kind") == "finish":
                return message
            on_message(message)
    except (ConnectionError, ValueError) as err:
        return {"kind": "finish", "ok": False, "message": f"the supervisor's answer broke off: {err}"}
    finally:
        writer.close()
    return {"kind": "finish", "ok": False, "message": "the supervisor closed the connection before finishing"}


def _server_message(line: bytes) -> dict[str, Any]:
    """One line of the (verified) supervisor's answer; ValueError if it is not a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    if message.get("kind") == "finish":
        message.setdefault("ok", False)
        message["message"] = str(message.get("message", ""))
    return message

"""The running supervisor's control socket: `robostack restart SERVICE` talks to it.

A Unix stream socket in Linux's abstract namespace, named from the state
directory (no path-length limit, nothing to clean up after a SIGKILL). Only
connections from the same user are served (checked with SO_PEERCRED). One
JSON request line in; JSON progress lines out, ending with a `finish` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import struct
from typing import Any

from launcher.errors import NotRunningError, ServiceFailed
from launcher.state.paths import StatePaths
from launcher.supervise.reporter import JsonLinesReporter

_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


def control_address(paths: StatePaths) -> str:
    digest = hashlib.sha256(str(paths.root).encode()).hexdigest()[:16]
    return f"\0robostack-control-{digest}"


class _StreamReporter(JsonLinesReporter):
    """Forwards the supervisor's progress to one control client."""

    def __init__(self, writer: asyncio.StreamWriter):
        super().__init__(self.send)
        self.writer = writer

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write((json.dumps(message) + "\n").encode())


async def serve_control(supervisor) -> asyncio.AbstractServer:
    """Start answering control requests for `supervisor`; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = _StreamReporter(writer)
        try:
            if not _same_user(writer):
                stream.send({"kind": "finish", "ok": False, "message": "refused: not the supervisor's user"})
                return
            request = json.loads(await asyncio.wait_for(reader.readline(), timeout=5.0) or b"{}")
            await _answer(supervisor, request, stream)
        except (ValueError, asyncio.TimeoutError) as err:
            stream.send({"kind": "finish", "ok": False, "message": f"bad control request: {err}"})
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    return await asyncio.start_unix_server(handle, path=control_address(supervisor.paths))


def _same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
    _, uid, _ = _PEER_CREDENTIALS.unpack(credentials)
    return uid == os.getuid()


async def _answer(supervisor, request: dict[str, Any], stream: _StreamReporter) -> None:
    if request.get("command") != "restart":
        stream.send({"kind": "finish", "ok": False, "message": f"unknown command {request.get('command')!r}"})
        return
    name = request.get("service")
    if name not in supervisor.runtimes:
        known = ", ".join(supervisor.runtimes)
        stream.send({"kind": "finish", "ok": False, "message": f"unknown service {name!r}; this stack has: {known}",
                     "exit_code": 2})
        return
    supervisor.listeners.append(stream)
    try:
        await supervisor.restart_on_request(name, with_dependents=bool(request.get("with_dependents")))
        stream.send({"kind": "finish", "ok": True, "message": f"{name} restarted"})
    except ServiceFailed as failure:
        stream.send({"kind": "finish", "ok": False, "message": str(failure), "exit_code": failure.exit_code})
    finally:
        supervisor.listeners.remove(stream)


async def request_restart(paths: StatePaths, service: str, with_dependents: bool, on_message) -> dict[str, Any]:
    """Client side: ask the running supervisor to restart `service`; relay progress; return the finish line."""
    try:
        reader, writer = await asyncio.open_unix_connection(path=control_address(paths))
    except (ConnectionRefusedError, FileNotFoundError) as err:
        raise NotRunningError("the stack is not running (no supervisor answers); start it with `robostack up`") from err
    writer.write((json.dumps({"command": "restart", "service": service, "with_dependents": with_dependents}) + "\n").encode())
    await writer.drain()
    try:
        async for line in reader:
            message = json.loads(line)
            if message["kind"] == "finish":
                return message
            on_message(message)
    finally:
        writer.close()
    return {"kind": "finish", "ok": False, "message": "the supervisor closed the connection before finishing"}

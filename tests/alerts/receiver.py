"""A real HTTP receiver on 127.0.0.1 for alert tests: records each POST, answers with a chosen status."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: dict


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0  # seconds before answering (a slow webhook)
    silent: bool = False  # never answer
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _handlers: set = field(default_factory=set)

    async def __aenter__(self) -> "Receiver":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        for task in self._handlers:  # a silent receiver's handler still waits: end it
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await asyncio.wait_for(self._server.wait_closed(), 10)  # 3.12+: waits for every connection

    def url(self, path: str = "/hooks/secret-token-path") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        async def enough() -> None:
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        try:
            method, target, _ = (await reader.readline()).decode().split(" ", 2)
            headers = {}
            while True:
                line = (await reader.readline()).decode().rstrip("\r\n")
                if not line:
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, target, headers, json.loads(body or b"null")))
            self.arrived.set()
            if self.silent:
                await asyncio.sleep(3600)
            if self.delay:
                await asyncio.sleep(self.delay)
            writer.write(f"HTTP/1.1 {self.status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # cancelled at __aexit__, or a client that went away
        finally:
            writer.close()

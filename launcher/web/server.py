"""The asyncio shell around the HTTP core: accept, read one request head, answer, close.

Bounded everywhere: the head must arrive within `head_timeout` and fit the limits of
`launcher.web.http11`; at most `max_connections` are served at once (the next get 503)
and at most `max_streams` event streams are open (the next get 503 with Retry-After).
Nothing a client sends can raise out of a connection handler: a refused request gets
its 4xx and the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from http import HTTPStatus

from launcher.errors import PreflightRefused, RobostackError, UsageError
from launcher.web.guard import check_request_source
from launcher.web.http11 import HttpError, Request, Response, error_response, head_complete, parse_request, stream_head
from launcher.web.provider import StackView
from launcher.web.routes import StreamRequest, answer
from launcher.web.stream import EventStream

log = logging.getLogger("robostack.web")

HEAD_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
MAX_STREAMS = 8
_READ_SIZE = 4096
_LINGER_BYTES = 256 * 1024
_LINGER_SECONDS = 1.0


class HttpServer:
    """Serves a :class:`StackView` on loopback. `await start()`, then `await close()` (idempotent)."""

    def __init__(self, view: StackView, host: str = "127.0.0.1", port: int = 0, *,
                 max_connections: int = MAX_CONNECTIONS, max_streams: int = MAX_STREAMS,
                 head_timeout: float = HEAD_TIMEOUT):
        self.view = view
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.max_streams = max_streams
        self.head_timeout = head_timeout
        self.streams = 0
        self._connections: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()

    async def start(self) -> int:
        """Listen; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)

    async def close(self, grace: float = 0.0) -> None:
        """Stop listening, end every stream and connection; safe to call twice.

        With a `grace`, answers under way may finish first, and a stream woken by a last
        change sends it before it ends (the supervisor's final state reaches open pages).
        """
        self._closing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = list(self._connections)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                await _write(writer, Response(HTTPStatus.SERVICE_UNAVAILABLE, b"too many connections; try again\n",
                                              headers={"Retry-After": "1"}).encode())
                return
            refused = await self._serve(reader, writer)
            if refused:
                if writer.can_write_eof():
                    writer.write_eof()
                await _discard_rest(reader)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the client went away or stopped reading: nothing to answer
        except asyncio.CancelledError:
            if not self._closing.is_set():
                raise
            # close() ends every connection; asyncio would log a cancelled handler as an error
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            self._connections.discard(task)
            await _close(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True if it was refused (4xx/5xx) and the client may still be sending."""
        try:
            head = await asyncio.wait_for(_read_head(reader), self.head_timeout)
            if head is None:
                return False  # closed before sending a whole request
            request = parse_request(head)
            check_request_source(request)
            result = await answer(request, self.view)
        except asyncio.TimeoutError:
            result = Response(HTTPStatus.REQUEST_TIMEOUT, b"request head not received in time\n")
            request = None
        except HttpError as err:
            result, request = error_response(err), None
        except RobostackError as err:  # the state directory is unreadable, not the request
            result, request = Response(HTTPStatus.SERVICE_UNAVAILABLE, f"{err}\n".encode()), None
        head_only = request is not None and request.method == "HEAD"
        if isinstance(result, StreamRequest):
            await self._stream(request, result, reader, writer)
            return False
        await _write(writer, result.encode(head_only=head_only))
        return result.status >= 400

    async def _stream(self, request: Request, wanted: StreamRequest, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        if self.streams >= self.max_streams:
            refused = Response(HTTPStatus.SERVICE_UNAVAILABLE, f"at most {self.max_streams} streams at once\n".encode(),
                               headers={"Retry-After": "5"})
            await _write(writer, refused.encode(head_only=request.method == "HEAD"))
            return
        await _write(writer, stream_head("text/event-stream; charset=utf-8", {"X-Accel-Buffering": "no"}))
        if request.method == "HEAD":
            return
        self.streams += 1
        stream = EventStream(self.view, writer, wanted.since)
        running = asyncio.ensure_future(stream.run(self._closing))
        gone = asyncio.ensure_future(reader.read(1))  # EOF (or stray bytes) once the client leaves
        try:
            await asyncio.wait([running, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.streams -= 1
            for task in (running, gone):
                task.cancel()
            await asyncio.gather(running, gone, return_exceptions=True)


async def listen(server: HttpServer, advice: str) -> int:
    """Start `server`; a port in use is refused in one line naming the port, who holds it, and `advice`."""
    try:
        return await server.start()
    except OSError as err:
        where = f"port {server.port} on {server.host}"
        if err.errno == errno.EADDRINUSE:
            raise PreflightRefused(f"{where} is already in use by {port_holders(server.port)}; {advice}") from err
        raise UsageError(f"cannot listen on {where}: {err.strerror or err}") from err


def port_holders(port: int) -> str:
    """Who listens on `port`, as pre-flight names a port's holder (``pid 4242 (python -m ...)``)."""
    from launcher.hygiene.findings import Holder
    from launcher.process.sockets import listeners_on_port

    holders = dict.fromkeys(Holder(record.pid, record.command) for record in listeners_on_port(port))
    return ", ".join(holder.describe() for holder in holders) or "another process"


def http_url(host: str, port: int) -> str:
    """``http://127.0.0.1:8790/``, with an IPv6 host in brackets."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    buffer = b""
    while True:
        chunk = await reader.read(_READ_SIZE)
        if not chunk:
            return None
        buffer += chunk
        end = head_complete(buffer)
        if end is not None:
            return buffer[:end]


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await asyncio.wait_for(writer.drain(), 10.0)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        # Half-close first so the client reads the whole answer before the socket goes.
        if writer.can_write_eof():
            writer.write_eof()
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 2.0)


async def _discard_rest(reader: asyncio.StreamReader) -> None:
    """After refusing a request, read what the client is still sending (briefly, boundedly):
    closing a socket with unread data makes the kernel send a reset, and the client might
    then never see the 4xx that explains the refusal."""
    with contextlib.suppress(Exception):
        received = 0
        while received < _LINGER_BYTES:
            chunk = await asyncio.wait_for(reader.read(_READ_SIZE), _LINGER_SECONDS)
            if not chunk:
                return
            received += len(chunk)

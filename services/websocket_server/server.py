"""The asyncio WebSocket server around the pure fan-out: routes, writers, /healthz, shutdown.

Routes:
  ``/``          subscribers: receive every event (or a filtered set) as JSON text
  ``/publish``   publishers: send events; needs ``Authorization: Bearer <token>``
                 when ROBOSTACK_WS_TOKEN is set (HTTP 401/403 otherwise)
  ``/healthz``   plain HTTP GET: 200 with a JSON body of counters

Browsers may open ``/`` and ``/publish`` only from a loopback origin (or one allowed on
the command line): 403 otherwise. HTTP is answered one request per connection, each
answer saying ``Connection: close``; a pipelined second request is not read (the client
learns to send it again), a method other than GET is 405, a malformed request 400.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
from dataclasses import dataclass

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.protocol import State
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from stackkit.clock import Clock, SystemClock
from services.websocket_server.fanout import FanOut, Subscriber
from services.websocket_server.messages import (
    DEFAULT_EVENT_TYPES,
    BadMessage,
    bearer_token,
    error_message,
    parse_event,
    origin_allowed,
    parse_subscription,
    subscribed_message,
    token_accepted,
)

log = logging.getLogger("websocket_server")

SUBSCRIBE_PATH = "/"
PUBLISH_PATH = "/publish"
HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class ServerSettings:
    """Everything the command line decides."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    event_types: frozenset[str] = DEFAULT_EVENT_TYPES
    queue_limit: int = 1000
    stuck_after: float = 10.0
    max_message_bytes: int = 64 * 1024
    # How long a close handshake may take before the TCP connection is dropped;
    # bounds shutdown time even when a subscriber has stopped reading.
    close_timeout: float = 2.0
    allowed_origins: frozenset[str] = frozenset()  # besides loopback ones; "*" for any


class WebSocketServer:
    """One running server: a FanOut plus a writer task per subscriber."""

    def __init__(self, settings: ServerSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.hub = FanOut(queue_limit=settings.queue_limit, stuck_after=settings.stuck_after)
        self.started = self.clock.monotonic()
        self._wakeups: dict[int, asyncio.Event] = {}
        self._connections: dict[int, ServerConnection] = {}
        self._next_publisher = 1
        self._server: Server | None = None

    async def start(self) -> int:
        """Bind and start serving; return the bound port (useful with port 0)."""
        self._server = await serve(
            self._route,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            compression=None,  # loopback traffic of small messages: compression only costs CPU
            max_size=self.settings.max_message_bytes,
            close_timeout=self.settings.close_timeout,
            server_header=None,
            create_connection=OneRequestConnection,
        )
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection with a close frame (1001 going away), then stop listening."""
        if self._server is None:
            return
        self._server.close(code=CloseCode.GOING_AWAY, reason="server shutting down")
        await self._server.wait_closed()

    def health(self) -> dict:
        """The /healthz body."""
        return {"status": "ok", "uptime_s": round(self.clock.monotonic() - self.started, 3), **self.hub.stats()}

    # -- HTTP: /healthz, unknown paths, the publisher token ---------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path in (SUBSCRIBE_PATH, PUBLISH_PATH) and not origin_allowed(request.headers.get("Origin"),
                                                                          self.settings.allowed_origins):
            self.hub.record_rejected()
            log.warning("refused a browser connection from origin %r", request.headers.get("Origin"))
            return connection.respond(http.HTTPStatus.FORBIDDEN, "this origin may not connect; pages from this "
                                      "machine may (start the server with --allow-origin to allow more)\n")
        if path == HEALTH_PATH:
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.health()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path == PUBLISH_PATH:
            return self._check_token(connection, request)
        if path != SUBSCRIBE_PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path {path}: subscribe on /, publish on /publish\n")
        return None

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.settings.token is None:
            return None
        presented = bearer_token(request.headers.get("Authorization"))
        if presented is None:
            self.hub.record_rejected()
            log.warning("refused a publisher from %s: no token", _peer(connection))
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "publishing needs a token: send the header 'Authorization: Bearer <token>'\n")
        if not token_accepted(self.settings.token, presented):
            self.hub.record_rejected()
            log.warning("refused a publisher from %s: wrong token", _peer(connection))
            return connection.respond(http.HTTPStatus.FORBIDDEN, "wrong publisher token\n")
        return None

    # -- WebSocket handlers -----------------------------------------------------------------

    async def _route(self, connection: ServerConnection) -> None:
        if connection.request.path.split("?", 1)[0] == PUBLISH_PATH:
            await self._serve_publisher(connection)
        else:
            await self._serve_subscriber(connection)

    async def _serve_publisher(self, connection: ServerConnection) -> None:
        number = self._next_publisher
        self._next_publisher += 1
        self.hub.publisher_joined()
        log.info("publisher #%d connected from %s", number, _peer(connection))
        try:
            async for frame in connection:
                try:
                    event = parse_event(frame, self.settings.event_types)
                except BadMessage as err:
                    self.hub.record_rejected()
                    log.warning("publisher #%d sent bad input: %s", number, err)
                    await connection.send(error_message(str(err)))
                    continue
                self._publish(event.type, event.payload)
        except ConnectionClosed:
            pass
        finally:
            self.hub.publisher_left()
            log.info("publisher #%d disconnected (%s)", number, _close_summary(connection))

    async def _serve_subscriber(self, connection: ServerConnection) -> None:
        subscriber = self.hub.add_subscriber(self.clock.monotonic())
        wakeup = asyncio.Event()
        self._wakeups[subscriber.id] = wakeup
        self._connections[subscriber.id] = connection
        log.info("subscriber #%d connected from %s", subscriber.id, _peer(connection))
        writer = asyncio.create_task(self._write_events(subscriber, connection, wakeup))
        try:
            async for frame in connection:
                await self._handle_subscriber_frame(subscriber, connection, frame)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            self.hub.remove_subscriber(subscriber)
            self._wakeups.pop(subscriber.id, None)
            self._connections.pop(subscriber.id, None)
            log.info("subscriber #%d disconnected (%s; %d events dropped)", subscriber.id,
                     _close_summary(connection), subscriber.dropped)

    async def _handle_subscriber_frame(self, subscriber: Subscriber, connection: ServerConnection,
                                       frame: str | bytes) -> None:
        try:
            types = parse_subscription(frame, self.settings.event_types)
        except BadMessage as err:
            self.hub.record_rejected()
            log.warning("subscriber #%d sent bad input: %s", subscriber.id, err)
            await connection.send(error_message(str(err)))
            return
        self.hub.set_filter(subscriber, types)
        await connection.send(subscribed_message(types))

    async def _write_events(self, subscriber: Subscriber, connection: ServerConnection,
                            wakeup: asyncio.Event) -> None:
        """Send the subscriber's queue in order; only this task ever waits on its socket."""
        try:
            while True:
                await wakeup.wait()
                wakeup.clear()
                while (payload := self.hub.next_event(subscriber, self.clock.monotonic())) is not None:
                    await connection.send(payload, text=True)
        except ConnectionClosed:
            pass

    def _publish(self, event_type: str, payload: bytes) -> None:
        outcome = self.hub.publish(event_type, payload, self.clock.monotonic())
        for subscriber in outcome.receivers:
            self._wakeups[subscriber.id].set()
        for subscriber in outcome.stuck:
            self._evict(subscriber)

    def _evict(self, subscriber: Subscriber) -> None:
        connection = self._connections.get(subscriber.id)
        reason = f"too slow: no progress for {self.settings.stuck_after:g}s with events waiting"
        log.warning("subscriber #%d %s; disconnecting (%d events dropped)", subscriber.id, reason, subscriber.dropped)
        if connection is not None:
            # The close frame queues behind unsent data; close_timeout bounds the wait, then TCP is dropped.
            task = asyncio.create_task(connection.close(CloseCode.POLICY_VIOLATION, reason))
            task.add_done_callback(_ignore_result)


_REQUEST_LINE = re.compile(rb"(?P<method>[A-Z]{1,20}) [\x21-\x7e]{1,8192} HTTP/1\.[01]")
_BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 28\r\n\r\nnot an HTTP/1.1 GET request\n")
_NOT_GET = (b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 24\r\n\r\nonly GET is served here\n")


class OneRequestConnection(ServerConnection):
    """Hands websockets exactly one HTTP GET request; refuses what is not HTTP (400) or not a GET (405).

    websockets reads whatever follows the request as WebSocket frames, so a pipelined
    second ``GET /healthz`` used to abort the connection before the first was answered.
    A client may send nothing after its request until it has the answer (RFC 6455 4.1),
    so bytes beyond the first request are dropped while the handshake is in progress;
    the answer says ``Connection: close``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._head = b""
        self._request_done = False

    def data_received(self, data: bytes) -> None:
        if self._request_done or self.protocol.state is not State.CONNECTING:
            if self.protocol.state is not State.CONNECTING:
                super().data_received(data)
            return
        self._head += data
        line_end = self._head.find(b"\r\n")
        request_line = _REQUEST_LINE.fullmatch(self._head[:line_end]) if line_end >= 0 else None
        if not b"A" <= self._head[:1] <= b"Z" or line_end >= 0 and request_line is None:
            self._refuse(_BAD_REQUEST)
            return
        if request_line is not None and request_line["method"] != b"GET":
            self._refuse(_NOT_GET)  # answered here: some websockets versions close without a word
            return
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > 64 * 1024:
                self._refuse(_BAD_REQUEST)
                return
            super().data_received(data)  # websockets enforces its own header limits as it reads
            return
        self._request_done = True
        already_fed = len(self._head) - len(data)
        super().data_received(self._head[already_fed:end + 4])

    def _refuse(self, answer: bytes) -> None:
        self._request_done = True
        self.transport.write(answer)
        self.transport.close()


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "unknown"


def _close_summary(connection: ServerConnection) -> str:
    code = connection.close_code
    if code is None:
        return "no close frame"
    reason = connection.close_reason
    return f"code {code}" + (f" {reason}" if reason else "")


def _ignore_result(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()

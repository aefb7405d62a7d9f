"""One API connection as a state machine: bytes in, replies and log lines out, no I/O.

The phases a real Gateway connection goes through: the ``API\\0`` handshake, then ``startApi``
with a client id, then requests. Everything shared between connections lives in
:class:`~.gateway.Gateway`; a :class:`Session` holds only its own connection's state, and the
handlers (:mod:`.handlers`) are plain functions of the session, so a closed connection leaves
no reference cycle behind and its buffers are freed at once.

Public interface for the Gateway's lifecycle events (farm outages, connectivity loss, competing
sessions): :meth:`Session.notify` sends an error/notice record on reqId -1, and
:meth:`Session.drop_market_data` forgets every market-data subscription (after a 1101 ticks stop
until the client subscribes again). Both queue output; the server flushes it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from ibproto.codes import say
from ibproto.errors import ProtocolError
from ibproto.fields import BadRequest
from ibproto.wire import FrameDecoder, HandshakeDecoder, encode_handshake_reply, negotiate, split_fields
from services.gateway_sim import messages
from services.gateway_sim.calendar import login_zone
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.gateway import Gateway
from services.gateway_sim.limits import BadInputLog, MessageRate
from services.gateway_sim.requests import StartApi, UnknownMessage, decode_request

# The largest request a client sends is a few kilobytes; a 16 MiB frame is an attack on memory.
MAX_REQUEST_FRAME = 1024 * 1024
# Frames handled per receive() call: the rest waits in the decoder, so one flooding client
# cannot hold the event loop (the server calls again after letting the others run).
FRAMES_PER_TURN = 200


class Phase(enum.Enum):
    HANDSHAKE = "awaiting handshake"
    STARTING = "awaiting startApi"
    ACTIVE = "API started"
    CLOSED = "closed"


@dataclass
class Reaction:
    """What the server must do after feeding bytes: send ``replies``, log ``log``, maybe close."""

    replies: list[bytes] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    close: bool = False
    more: bool = False  # frames are still waiting in the decoder (call receive(b"") again)

    @property
    def payload(self) -> bytes:
        return b"".join(self.replies)


class Session:
    """The server side of one connection."""

    def __init__(self, connection_id: int, gateway: Gateway):
        self.connection_id = connection_id
        self.gateway = gateway
        self.phase = Phase.HANDSHAKE
        self.server_version = 0
        self.client_id: int | None = None
        self.market_data_type = 1
        self.lines: dict[int, object] = {}  # reqMktData lines (streams.MarketDataLine)
        self.streams: dict[int, object] = {}  # tick-by-tick, depth, real-time bars, keepUpToDate
        self.pnl: dict[int, tuple[str, int]] = {}  # reqId -> ("account", 0) or ("single", conId)
        self.account_updates = False
        self.positions = False
        self.summaries: dict[int, str] = {}
        self.history_requests: list[tuple[float, tuple]] = []  # (time, identity) for pacing
        self._handshake = HandshakeDecoder(MAX_REQUEST_FRAME)
        self._frames = FrameDecoder(MAX_REQUEST_FRAME)
        self._pending: deque[bytes] = deque()
        self._out: list[bytes] = []
        self._logs: list[str] = []
        self._close = False
        self._handshake_bytes = 0
        self._rate = MessageRate(gateway.policy.pacing == "ib")
        self._bad = BadInputLog()

    # --- input ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> Reaction:
        """Feed bytes the client sent; return what to send back, log, and whether to close."""
        if self.phase is Phase.CLOSED:
            return Reaction()
        more = False
        try:
            if self.phase is Phase.HANDSHAKE:
                data = self._receive_handshake(data)
            if self.phase in (Phase.STARTING, Phase.ACTIVE):
                if data:
                    self._pending.extend(self._frames.feed(data))
                more = self._handle_some()
        except ProtocolError as problem:
            self.reject(f"bad input: {problem}; closing the connection")
        replies, lines = self._out, self._logs
        self._out, self._logs = [], []
        return Reaction(replies, lines, self._close, more and not self._close)

    def _handle_some(self) -> bool:
        handled = 0
        now = self.gateway.clock.monotonic()
        while self._pending and handled < FRAMES_PER_TURN and self.phase is not Phase.CLOSED:
            payload = self._pending.popleft()
            handled += 1
            verdict = self._rate.admit(now)
            if verdict == "disconnect":
                self.send_error(-1, *say(100, self._rate.limit, self._rate.count))
                self.reject(f"pacing: more than {self._rate.limit} messages a second, repeatedly "
                            f"(--pacing ib); answered 100 and closing")
                return False
            if verdict == "refuse":
                self.send_error(-1, *say(100, self._rate.limit, self._rate.count))
                continue
            self._handle_frame(payload)
        return bool(self._pending) and self.phase is not Phase.CLOSED

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def end_of_stream(self) -> list[str]:
        """The client closed its side: log lines about what was left unfinished."""
        lines = [line for line in (self._bad.flush(),) if line]
        if self.phase is Phase.HANDSHAKE and self._handshake_bytes:
            return lines + ["bad input: connection closed in the middle of the handshake"]
        pending = self._frames.pending
        if self.phase is not Phase.CLOSED and pending:
            return lines + [f"bad input: truncated frame, {pending} bytes of an incomplete message at disconnect"]
        return lines

    @property
    def partial_bytes(self) -> int:
        """Bytes of an incomplete frame (or handshake) held for this connection."""
        return self._frames.pending + (self._handshake_bytes if self.phase is Phase.HANDSHAKE else 0)

    def release(self) -> None:
        """Forget this connection: free its client id, subscriptions and buffers."""
        self.gateway.release(self.client_id, self.connection_id)
        self.lines.clear()
        self.streams.clear()
        self.pnl.clear()
        self._pending.clear()
        self._frames = FrameDecoder(0)
        self.phase = Phase.CLOSED

    # --- output ---------------------------------------------------------------------------

    def send(self, *frames: bytes) -> None:
        if self.phase is not Phase.CLOSED or self._close:
            self._out.extend(frames)

    def take_output(self) -> tuple[bytes, list[str]]:
        """Everything queued outside receive() (streams, fills, notices), and its log lines."""
        payload, lines = b"".join(self._out), self._logs
        self._out, self._logs = [], []
        return payload, lines

    def log(self, line: str) -> None:
        self._logs.append(line)

    def bad_input(self, line: str) -> None:
        """Log a bad frame, rate-limited: a flood of garbage must not become a flood of log lines."""
        shown = self._bad.admit(line, self.gateway.clock.monotonic())
        if shown:
            self.log(shown)

    def reject(self, line: str) -> None:
        """Log ``line`` and close this connection (after any replies already queued)."""
        self.log(line)
        self._close = True
        self.release()

    def send_error(self, request_id: int, code: int, text: str) -> None:
        self.send(messages.error(self.server_version, request_id, code, text))

    # --- the public interface for Gateway-wide events --------------------------------------

    def notify(self, code: int, text: str) -> None:
        """Send an error or notice record with reqId -1 (farm status, connectivity, 10197...)."""
        if self.phase is Phase.ACTIVE:
            self.send_error(-1, code, text)

    def drop_market_data(self) -> int:
        """Forget every market-data line and tick stream (what 1101 means); returns how many."""
        dropped = len(self.lines) + len(self.streams)
        self.lines.clear()
        self.streams.clear()
        return dropped

    # --- streaming ------------------------------------------------------------------------

    def instruments(self) -> set[Instrument]:
        return {line.instrument for line in self.lines.values()} | \
            {stream.instrument for stream in self.streams.values()}

    def stream(self, moved: dict, now: float) -> None:
        """Queue the updates of every subscription whose instrument moved."""
        for line in list(self.lines.values()) + list(self.streams.values()):
            step = moved.get(line.instrument)
            if step is not None:
                self.send(*line.update(step[0], step[1], now))

    def stream_pnl(self) -> None:
        from services.gateway_sim.handlers import pnl_frames

        for request_id, (kind, con_id) in self.pnl.items():
            self.send(*pnl_frames(self, request_id, kind, con_id))

    def position_changed(self, instrument: Instrument) -> None:
        from services.gateway_sim.handlers import position_update

        position_update(self, instrument)

    # --- phases ---------------------------------------------------------------------------

    def _receive_handshake(self, data: bytes) -> bytes:
        self._handshake_bytes += len(data)
        offer = self._handshake.feed(data)
        if offer is None:
            return b""
        gateway = self.gateway
        offered = f"v{offer.low}..{offer.high}" + (f" {offer.options}" if offer.options else "")
        version = negotiate(offer, gateway.min_version, gateway.max_version)
        if version is None and offer.high < gateway.min_version:
            self.reject(f"handshake {offered} refused: the client is older than v{gateway.min_version}; "
                        f"closed without an answer, as a Gateway does")
            return b""
        # A client newer than us hears our own version and decides (ibapi reports 503, ib_async refuses).
        version = version or gateway.max_version
        self.server_version = version
        name, zone = login_zone()
        moment = gateway.clock.now().astimezone(zone)
        self.send(encode_handshake_reply(version, f"{moment:%Y%m%d %H:%M:%S} {name}"))
        self.log(f"handshake {offered} -> server version {version}")
        self.phase = Phase.STARTING
        return self._handshake.rest

    def _handle_frame(self, payload: bytes) -> None:
        from services.gateway_sim.handlers import handle

        fields = split_fields(payload)
        try:
            request = decode_request(fields, self.server_version)
        except UnknownMessage as problem:
            self.bad_input(f"bad input: {problem}; answered with error 321")
            self.send_error(-1, *say(321, "bS", problem))
            return
        except BadRequest as problem:
            self.bad_input(f"bad input: {problem}; answered with error 321")
            self.send_error(problem.request_id, *say(321, "bS", problem))
            return
        if isinstance(request, StartApi):
            self._start_api(request)
        elif self.phase is not Phase.ACTIVE:
            self.bad_input(f"bad input: {type(request).__name__} before startApi; answered with error 321")
            self.send_error(-1, *say(321, "bS", "startApi must come first"))
        else:
            handle(self, request)

    def _start_api(self, request: StartApi) -> None:
        if self.phase is Phase.ACTIVE:
            self.log(f"startApi again (client id {request.client_id}) ignored: already started as "
                     f"client id {self.client_id}")
            return
        gateway = self.gateway
        holder = gateway.holder_of(request.client_id)
        if holder is not None:
            self.send_error(-1, *messages.CLIENT_ID_IN_USE)
            self.reject(f"client id {request.client_id} refused: already in use by conn {holder}; "
                        f"answered with error 326 and closing")
            return
        if gateway.full:
            self.reject(f"client id {request.client_id} refused: maximum of {gateway.max_clients} clients "
                        f"connected; closing")
            return
        gateway.claim(request.client_id, self)
        self.client_id = request.client_id
        self.phase = Phase.ACTIVE
        self.log(f"client id {request.client_id} started the API (server version {self.server_version})")
        if gateway.policy.no_next_valid_id:
            self.log("fault no-next-valid-id: managedAccounts sent, nextValidId withheld")
        else:
            self.send(messages.next_valid_id(gateway.engine.next_valid_id(request.client_id)))
        self.send(messages.managed_accounts([gateway.account.account_id]))
        for code, text in messages.FARM_NOTICES:
            self.send_error(-1, code, text)

"""One API connection as a state machine: bytes in, replies and log lines out, no I/O.

The phases a real Gateway connection goes through: the ``API\\0`` handshake,
then ``startApi`` with a client id, then requests. Everything shared between
connections (the market, the account, which client ids are taken) lives in
:class:`Gateway`; a :class:`Session` only holds its own connection's state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from stackkit.clock import Clock
from ibproto.errors import ProtocolError
from ibproto.wire import (
    FrameDecoder,
    HandshakeDecoder,
    encode_handshake_reply,
    format_connection_time,
    negotiate,
    split_fields,
)
from services.gateway_sim import messages
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.handlers import RequestHandlers
from services.gateway_sim.market import MarketModel
from services.gateway_sim.requests import BadRequest, StartApi, UnknownMessage, decode_request

# The versions the simulator speaks: from the first V100+ protocol to the newest ib_async offers.
SERVER_MIN_VERSION = 100
SERVER_MAX_VERSION = 178
DEFAULT_MAX_CLIENTS = 32
VERSION_UNSUPPORTED = 503  # "The TWS is out of date and must be upgraded."
VALIDATION_FAILED = 321  # "Error validating request", which clients treat as a warning


class Gateway:
    """What every connection shares: market, account, clock and the client ids in use."""

    def __init__(self, market: MarketModel, account: PaperAccount, clock: Clock, *,
                 max_clients: int = DEFAULT_MAX_CLIENTS, min_version: int = SERVER_MIN_VERSION,
                 max_version: int = SERVER_MAX_VERSION):
        self.market = market
        self.account = account
        self.clock = clock
        self.max_clients = max_clients
        self.min_version = min_version
        self.max_version = max_version
        self.client_ids: dict[int, int] = {}  # client id -> connection id holding it

    def holder_of(self, client_id: int) -> int | None:
        """The connection id using ``client_id``, or ``None`` when it is free."""
        return self.client_ids.get(client_id)

    @property
    def full(self) -> bool:
        return len(self.client_ids) >= self.max_clients

    def claim(self, client_id: int, connection_id: int) -> None:
        self.client_ids[client_id] = connection_id

    def release(self, client_id: int | None, connection_id: int) -> None:
        if client_id is not None and self.client_ids.get(client_id) == connection_id:
            del self.client_ids[client_id]


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
        self.subscriptions: dict[int, Instrument] = {}
        self._handshake = HandshakeDecoder()
        self._frames = FrameDecoder()
        self._handlers = RequestHandlers(self)
        self._reaction = Reaction()
        self._handshake_bytes = 0

    # --- input ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> Reaction:
        """Feed bytes the client sent; return what to send back, log, and whether to close."""
        self._reaction = Reaction()
        if self.phase is Phase.CLOSED:
            return self._reaction
        try:
            if self.phase is Phase.HANDSHAKE:
                data = self._receive_handshake(data)
            if self.phase in (Phase.STARTING, Phase.ACTIVE) and data:
                for payload in self._frames.feed(data):
                    self._handle_frame(payload)
                    if self.phase is Phase.CLOSED:
                        break
        except ProtocolError as problem:
            self.reject(f"bad input: {problem}; closing the connection")
        return self._reaction

    def end_of_stream(self) -> list[str]:
        """The client closed its side: log lines about what was left unfinished."""
        if self.phase is Phase.HANDSHAKE and self._handshake_bytes:
            return ["bad input: connection closed in the middle of the handshake"]
        pending = self._frames.pending
        if self.phase is not Phase.CLOSED and pending:
            return [f"bad input: truncated frame, {pending} bytes of an incomplete message at disconnect"]
        return []

    def release(self) -> None:
        """Forget this connection: free its client id and subscriptions."""
        self.gateway.release(self.client_id, self.connection_id)
        self.subscriptions.clear()
        self.phase = Phase.CLOSED

    # --- output helpers the handlers use ----------------------------------------------------

    def send(self, *frames: bytes) -> None:
        self._reaction.replies.extend(frames)

    def log(self, line: str) -> None:
        self._reaction.log.append(line)

    def reject(self, line: str) -> None:
        """Log ``line`` and close this connection (after any replies already queued)."""
        self.log(line)
        self._reaction.close = True
        self.release()

    def send_error(self, request_id: int, code: int, text: str) -> None:
        self.send(messages.error(self.server_version, request_id, code, text))

    # --- server-side conditions (farm outages, connectivity loss) ------------------------------

    def notice(self, code: int, text: str, request_id: int = -1) -> bytes:
        """An error/notice record for this connection, or nothing before its API has started.

        The server sends these on its own (2103 farm broken, 1100 connectivity
        lost, ...), outside any request, so they are bytes to write, not part of a reaction.
        """
        if self.phase is not Phase.ACTIVE:
            return b""
        return messages.error(self.server_version, request_id, code, text)

    def drop_market_data(self) -> int:
        """Forget every market-data subscription, as IB does on 1101; return how many."""
        dropped = len(self.subscriptions)
        self.subscriptions.clear()
        return dropped

    # --- streaming ------------------------------------------------------------------------

    def stream(self, step: messages.TickStep) -> bytes:
        """The tick messages this connection's subscriptions get for one market step."""
        return b"".join(step.for_subscription(request_id, instrument)
                        for request_id, instrument in self.subscriptions.items())

    # --- phases ---------------------------------------------------------------------------

    def _receive_handshake(self, data: bytes) -> bytes:
        self._handshake_bytes += len(data)
        offer = self._handshake.feed(data)
        if offer is None:
            return b""
        gateway = self.gateway
        version = negotiate(offer, gateway.min_version, gateway.max_version)
        offered = f"v{offer.low}..{offer.high}" + (f" {offer.options}" if offer.options else "")
        if version is None:
            layout = max(gateway.min_version, min(offer.high, gateway.max_version))
            self.send(messages.error(layout, -1, VERSION_UNSUPPORTED,
                                     f"Unsupported API version: the client offered {offered}, "
                                     f"this gateway supports v{gateway.min_version}..{gateway.max_version}"))
            self.reject(f"handshake {offered} refused: no version in common with "
                        f"v{gateway.min_version}..{gateway.max_version}; closing")
            return b""
        self.server_version = version
        now = gateway.clock.now()
        self.send(encode_handshake_reply(version, format_connection_time(now, now.tzname() or "UTC")))
        self.log(f"handshake {offered} -> server version {version}")
        self.phase = Phase.STARTING
        return self._handshake.rest

    def _handle_frame(self, payload: bytes) -> None:
        fields = split_fields(payload)
        try:
            request = decode_request(fields, self.server_version)
        except UnknownMessage as problem:
            self.log(f"bad input: {problem}; answered with error {VALIDATION_FAILED}")
            self.send_error(-1, VALIDATION_FAILED, f"Error validating request: {problem}")
            return
        except BadRequest as problem:
            self.log(f"bad input: {problem}; answered with error {VALIDATION_FAILED}")
            self.send_error(problem.request_id, VALIDATION_FAILED, f"Error validating request: {problem}")
            return
        if isinstance(request, StartApi):
            self._start_api(request)
        elif self.phase is not Phase.ACTIVE:
            self.log(f"bad input: {type(request).__name__} before startApi; answered with error "
                     f"{VALIDATION_FAILED}")
            self.send_error(-1, VALIDATION_FAILED, "Error validating request: startApi must come first")
        else:
            self._handlers.handle(request)

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
                        f"answered with error {messages.CLIENT_ID_IN_USE[0]} and closing")
            return
        if gateway.full:
            self.reject(f"client id {request.client_id} refused: maximum of {gateway.max_clients} clients "
                        f"connected; closing")
            return
        gateway.claim(request.client_id, self.connection_id)
        self.client_id = request.client_id
        self.phase = Phase.ACTIVE
        self.log(f"client id {request.client_id} started the API (server version {self.server_version})")
        account = self.gateway.account.account_id
        self.send(messages.next_valid_id(1), messages.managed_accounts([account]))
        for code, text in messages.FARM_NOTICES:
            self.send_error(-1, code, text)

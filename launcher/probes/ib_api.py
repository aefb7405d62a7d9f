"""The ``ib_api`` probe and its diagnosis: is the Gateway's API layer answering, not just its port?

The seeds' Gateway accepted TCP in under a millisecond and never answered the
API handshake; only speaking the protocol tells the two apart. The probe
connects, sends the V100+ handshake (``ibproto.wire``) and requires the
server-version answer within the timeout. With ``session`` it also sends
startApi under its own client id and waits for nextValidId and managedAccounts,
collecting the Gateway's error records on the way (``ib_messages``).

Nothing is left behind, on either side (issue 4): the probe closes first
(``shutdown(SHUT_WR)``, waits briefly for the Gateway's EOF, then closes), so the
TIME_WAIT lands on the probe's ephemeral port and never on the Gateway's. When
the Gateway closed first (client id refused) or never closes (a CLOSE_WAIT
Gateway), the probe resets the connection instead: after a reset neither side
keeps a socket, where a FIN would leave TIME_WAIT on the Gateway or a
half-closed pair that only a Gateway restart clears.

:func:`diagnose_ib_api` returns every measurement for ``robostack doctor``;
:func:`probe_ib_api` wraps it as a probe result.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ibproto.errors import ProtocolError
from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, describe_connect_error, format_seconds
from ibproto.client import SessionTranscript, encode_start_api, meaning_of
from launcher.stack.model import IbApiCheck
from ibproto.wire import (CLIENT_MAX_VERSION, CLIENT_MIN_VERSION, FrameDecoder, build_handshake,
                               parse_handshake_reply, split_fields)

# Verdict hints (doctor renders them; see issue 4).
OK = "ok"
NOT_LISTENING = "not-listening"
API_SILENT = "api-silent"
VERSION_MISMATCH = "version-mismatch"
CLIENT_ID_IN_USE = "client-id-in-use"
SESSION_FAILED = "session-failed"  # handshake answered, but no usable session (no nextValidId, a fatal error)
PROTOCOL_ERROR = "protocol-error"  # the answer was not TWS API framing

CLOSE_GRACE = 0.5  # seconds to wait for the Gateway's EOF after ours before resetting instead
_RECEIVE_SIZE = 64 * 1024
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


@dataclass
class IbApiDiagnosis:
    """Everything one probe of a TWS API port saw, for doctor to render and status to show."""

    host: str
    port: int
    session: bool
    client_id: int
    offered: str = f"v{CLIENT_MIN_VERSION}..{CLIENT_MAX_VERSION}"
    tcp_connected: bool = False
    tcp_connect_seconds: float | None = None
    connect_error: str | None = None
    handshake_sent: bool = False
    bytes_received: int = 0
    server_version: int | None = None
    connection_time: str | None = None
    handshake_seconds: float | None = None
    start_api_sent: bool = False
    next_valid_id: int | None = None
    accounts: list[str] | None = None
    session_seconds: float | None = None
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (code, message, meaning)
    protocol_error: str | None = None
    closed_by_peer: bool = False  # the Gateway closed (or reset) before we were done
    peer_answered_close: bool | None = None  # after our FIN, the Gateway closed too (None: not tried)
    total_seconds: float = 0.0
    verdict: str = OK
    failure: str | None = None  # one line, None when the verdict is ok

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (``doctor --json``, probe facts)."""
        return asdict(self)


def judge(diagnosis: IbApiDiagnosis, transcript: SessionTranscript | None, timeout: float) -> tuple[str, str | None]:
    """The verdict and one-line failure reason from what was observed. Pure."""
    d = diagnosis
    if not d.tcp_connected:
        return NOT_LISTENING, d.connect_error or f"cannot connect to {d.host}:{d.port}"
    if d.protocol_error:
        return PROTOCOL_ERROR, f"{d.host}:{d.port} answered something that is not the TWS API: {d.protocol_error}"
    if d.server_version is None:
        if d.closed_by_peer:
            return VERSION_MISMATCH, (
                f"{d.host}:{d.port} closed the connection without answering the handshake "
                f"({d.bytes_received} bytes received; we offered {d.offered}: version range refused, "
                "or this client's IP is not in Trusted IPs)")
        return API_SILENT, (f"TCP accepted, no handshake answer within {format_seconds(timeout)} "
                            f"({d.bytes_received} bytes received)")
    if d.session and not d.start_api_sent:
        # The answer only came while we were already closing: too late to start a session.
        late = format_seconds(d.handshake_seconds or 0.0)
        return API_SILENT, (f"TCP accepted, handshake answered only after {late}, beyond the "
                            f"{format_seconds(timeout)} deadline (the API is slow or still initialising)")
    if not CLIENT_MIN_VERSION <= d.server_version <= CLIENT_MAX_VERSION:
        return VERSION_MISMATCH, f"server answered version {d.server_version}, outside the {d.offered} we offered"
    if not d.session or transcript is None:
        return OK, None
    return _judge_session(d, transcript, timeout)


def _judge_session(d: IbApiDiagnosis, transcript: SessionTranscript, timeout: float) -> tuple[str, str | None]:
    if transcript.client_id_refused:
        return CLIENT_ID_IN_USE, f"client id {d.client_id} is already in use (error 326); the probe needs its own id"
    fatal = transcript.fatal_errors()
    if fatal:
        first = fatal[0]
        return SESSION_FAILED, f"error {first.code}: {first.meaning} ({first.message})"
    if transcript.complete:
        return OK, None
    missing = " and ".join(name for name, value in (("nextValidId", transcript.next_valid_id),
                                                     ("managedAccounts", transcript.accounts)) if value is None)
    if d.closed_by_peer:
        return SESSION_FAILED, (f"server version {d.server_version} answered, then the Gateway closed the session "
                                f"before {missing} (client id {d.client_id} in use, or the API is not ready)")
    return SESSION_FAILED, (f"server version {d.server_version} answered, but no {missing} "
                            f"within {format_seconds(timeout)} of startApi (client id {d.client_id})")


class ApiConversation:
    """One API connection: the bytes received so far and what they meant (the probe's, or the monitor's
    session while it holds it)."""

    def __init__(self, sock: socket.socket, diagnosis: IbApiDiagnosis, session: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.diagnosis = diagnosis
        self.session = session
        self.frames = FrameDecoder()
        self.transcript: SessionTranscript | None = None
        self.handshake_sent_at = 0.0
        self.start_api_sent_at = 0.0
        self.peer_closed = False  # EOF or reset seen, whoever closed first
        self.closing = False  # we sent our FIN: an EOF now is the answer to it, not the Gateway's doing

    async def receive(self, until: float | None) -> bytes | None:
        """Bytes from the Gateway, ``b""`` once it closed or reset, ``None`` at the deadline (``None``: no deadline)."""
        try:
            wait = None if until is None else until - time.monotonic()
            data = await asyncio.wait_for(self.loop.sock_recv(self.sock, _RECEIVE_SIZE), wait)
        except asyncio.TimeoutError:
            return None
        except OSError:  # reset, or the connection broke some other way: it is over either way
            data = b""
        if not data:
            self.peer_closed = True
            self.diagnosis.closed_by_peer = self.diagnosis.closed_by_peer or not self.closing
        self.diagnosis.bytes_received += len(data)
        return data

    def take(self, data: bytes) -> None:
        """Decode received bytes: the handshake answer first, then session messages."""
        d = self.diagnosis
        try:
            for payload in self.frames.feed(data):
                fields = split_fields(payload)
                if d.server_version is None:
                    reply = parse_handshake_reply(fields)
                    d.server_version, d.connection_time = reply.server_version, reply.connection_time
                    d.handshake_seconds = time.monotonic() - self.handshake_sent_at
                    self.transcript = SessionTranscript(reply.server_version)
                elif self.transcript is not None:
                    self.transcript.absorb(fields)
        except ProtocolError as err:
            d.protocol_error = f"{err} ({d.bytes_received} bytes received)"

    def done(self) -> bool:
        """Nothing more to wait for: answered (and, for a session, ready or refused), or broken."""
        d, transcript = self.diagnosis, self.transcript
        if self.peer_closed or d.protocol_error:
            return True
        if d.server_version is None:
            return False
        if not self.session or not CLIENT_MIN_VERSION <= d.server_version <= CLIENT_MAX_VERSION:
            return True
        if not d.start_api_sent or transcript is None:
            return False
        return transcript.complete or transcript.client_id_refused or bool(transcript.fatal_errors())

    async def send(self, data: bytes) -> bool:
        try:
            await self.loop.sock_sendall(self.sock, data)
            return True
        except OSError:
            self.peer_closed = self.diagnosis.closed_by_peer = True
            return False

    async def run(self, deadline: float, client_id: int) -> None:
        """Handshake (and startApi), reading until :meth:`done` or the deadline."""
        d = self.diagnosis
        self.handshake_sent_at = time.monotonic()
        d.handshake_sent = await self.send(build_handshake())
        while d.handshake_sent and not self.done():
            if self.session and d.server_version is not None and not d.start_api_sent:
                self.start_api_sent_at = time.monotonic()
                d.start_api_sent = await self.send(encode_start_api(client_id))
                continue
            data = await self.receive(deadline)
            if data is None:
                return
            self.take(data)
        if self.transcript is not None and self.transcript.complete:
            d.session_seconds = time.monotonic() - self.start_api_sent_at

    async def close(self) -> None:
        """Close so that neither side keeps a socket (see the module docstring)."""
        d = self.diagnosis
        if not self.peer_closed:
            self.closing = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            until = time.monotonic() + CLOSE_GRACE
            while not self.peer_closed:
                data = await self.receive(until)
                if data is None:
                    break
                if not d.protocol_error:
                    self.take(data)  # late session messages (the farm notices) still count
            d.peer_answered_close = self.peer_closed
            if self.peer_closed:
                self.sock.close()  # we closed first: the TIME_WAIT is ours
                return
        reset_and_close(self.sock)


def reset_and_close(sock: socket.socket) -> None:
    """Close with an RST: nothing lingers on either side (no TIME_WAIT, no half-closed peer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    except OSError:
        pass
    sock.close()


async def _connect(diagnosis: IbApiDiagnosis, deadline: float, timeout: float) -> socket.socket | None:
    """A connected non-blocking socket, or ``None`` with ``connect_error`` set."""
    loop = asyncio.get_running_loop()
    host, port = diagnosis.host, diagnosis.port
    started = time.monotonic()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), deadline - started)
    except (OSError, asyncio.TimeoutError) as err:
        diagnosis.connect_error = f"cannot resolve {host}: {getattr(err, 'strerror', None) or err}"
        return None
    error: BaseException | None = None
    for family, kind, protocol, _, address in infos:  # "localhost" may list ::1 before 127.0.0.1
        sock = socket.socket(family, kind, protocol)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.wait_for(loop.sock_connect(sock, address), deadline - time.monotonic())
            break
        except (OSError, asyncio.TimeoutError) as err:
            sock.close()
            error = err
        except BaseException:
            sock.close()
            raise
    else:
        diagnosis.connect_error = describe_connect_error(error or OSError(), host, port, timeout)
        return None
    diagnosis.tcp_connected = True
    diagnosis.tcp_connect_seconds = time.monotonic() - started
    return sock


async def diagnose_ib_api(host: str, port: int, *, timeout: float, session: bool = False,
                          client_id: int = 999) -> IbApiDiagnosis:
    """Probe a TWS API port and report everything seen; never raises for an unhealthy Gateway.

    ``timeout`` bounds connect, handshake and session; closing may take up to
    :data:`CLOSE_GRACE` more. ``client_id`` is only used with ``session`` and must
    never be the trader's (the Gateway would refuse one of the two with 326).
    """
    diagnosis, _ = await _converse(host, port, timeout, session, client_id, keep=False)
    return diagnosis


async def open_ib_session(host: str, port: int, *, timeout: float,
                          client_id: int) -> tuple[IbApiDiagnosis, ApiConversation | None]:
    """Start an API session and keep it: the diagnosis, and the open conversation when it is ``ok``.

    For the Gateway monitor (one long-lived session instead of a connection per probe).
    A session that is not ok is closed exactly as the probe closes its own.
    """
    return await _converse(host, port, timeout, True, client_id, keep=True)


async def _converse(host: str, port: int, timeout: float, session: bool, client_id: int,
                    keep: bool) -> tuple[IbApiDiagnosis, ApiConversation | None]:
    started = time.monotonic()
    deadline = started + timeout
    diagnosis = IbApiDiagnosis(host, port, session, client_id)
    conversation: ApiConversation | None = None
    kept = False
    sock = await _connect(diagnosis, deadline, timeout)
    if sock is not None:
        conversation = ApiConversation(sock, diagnosis, session)
        try:
            await conversation.run(deadline, client_id)
            transcript = conversation.transcript
            # A complete session is worth keeping even with a 1100 in its greeting: IB being unreachable is
            # exactly what the monitor is there to hear end (1101/1102).
            kept = keep and transcript is not None and transcript.complete and not transcript.client_id_refused \
                and not conversation.peer_closed
            if not kept:
                await conversation.close()
        finally:
            if not kept and sock.fileno() != -1:  # cancelled or failed mid-way
                reset_and_close(sock)
    transcript = conversation.transcript if conversation else None
    if transcript is not None:
        diagnosis.next_valid_id, diagnosis.accounts = transcript.next_valid_id, transcript.accounts
        diagnosis.errors = [(e.code, e.message, e.meaning) for e in transcript.errors]
    diagnosis.total_seconds = time.monotonic() - started
    diagnosis.verdict, diagnosis.failure = judge(diagnosis, transcript if session else None, timeout)
    return diagnosis, conversation if kept else None


@bounded_probe("ib_api")
async def probe_ib_api(check: IbApiCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """The ``ib_api`` health probe: healthy when :func:`diagnose_ib_api` says ``ok``."""
    diagnosis = await diagnose_ib_api(check.host, check.port, timeout=timeout, session=check.session,
                                      client_id=check.client_id)
    facts = diagnosis.to_dict()
    facts["error_codes"] = [code for code, _, _ in diagnosis.errors]
    detail = diagnosis.failure or describe_success(diagnosis)
    return ProbeResult(diagnosis.verdict == OK, "ib_api", detail, diagnosis.total_seconds, facts)


def describe_success(diagnosis: IbApiDiagnosis) -> str:
    """``server version 178 in 3.1ms`` (plus the session's id, accounts and any warnings)."""
    d = diagnosis
    line = f"server version {d.server_version} in {format_seconds(d.handshake_seconds or 0.0)}"
    if d.session:
        accounts = ",".join(d.accounts or []) or "none"
        line += f", nextValidId {d.next_valid_id}, accounts {accounts}"
        warnings = [f"{code} {meaning}" for code, _, meaning in d.errors if meaning_of(code).severity == "warning"]
        if warnings:
            line += f" (warning: {'; '.join(warnings)})"
    return line

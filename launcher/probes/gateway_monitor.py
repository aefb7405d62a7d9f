"""The Gateway monitor: one long-lived API session per ``ib_api`` service instead of a connection per probe.

The ``ib_api`` probe opens a connection every interval (60 a minute at 1 s) and
answers one question: does the handshake work. The monitor holds one session on
its own client id (``monitor_client_id``, never the trader's nor the probe's and
doctor's) and, at each :meth:`GatewayMonitor.verdict`:

* heartbeats: sends reqCurrentTime on the held session and wants currentTime within
  the probe's ``timeout``. No answer is "TCP alive, API dead": that verdict fails and
  the session is dropped, so the next verdict starts a new one (and fails at once on a
  hung handshake). Detection therefore stays within ``interval × retries``;
* without a session, opens one (connect, handshake, startApi, nextValidId and
  managedAccounts within ``timeout``): a Gateway that accepts no TCP or answers no
  handshake fails exactly as the probe would, with the probe's words;
* when the Gateway answers but will not give the monitor a session (its client id is
  taken, no nextValidId), it falls back to the configured probe for the verdict and
  retries the session with a backoff (``interval``, doubling, at most
  :data:`MAX_BACKOFF`), so a refusing Gateway is not asked for a session every second.

Between verdicts a reader task takes in everything the Gateway pushes: every farm,
connectivity, competing-session and read-only notice lands on a
:class:`~ibproto.notices.NoticeBoard` (and in ``on_notice``, at once), and an EOF
marks the session lost. With the service's log, each verdict also reads the login
phase (:mod:`launcher.gateway.login`); :meth:`condition` puts it all together
(:mod:`launcher.gateway.condition`).

The supervisor owns one monitor per ``ib_api`` service: :meth:`start` once the
service is up, :meth:`verdict` each interval (a :class:`ProbeResult`, like any
probe), :meth:`condition` for status and the remediation ladder, :meth:`close` when
the service stops (idempotent).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import Callable

from ibproto.client import encode_req_current_time, parse_error_record
from ibproto.errors import ProtocolError
from ibproto.fields import parse_int
from ibproto.messages import ServerMessage
from ibproto.notices import Notice, NoticeBoard, classify
from ibproto.wire import split_fields
from launcher.gateway.condition import GatewayCondition, judge_service
from launcher.gateway.login import LoginTracker
from launcher.gateway.logtail import LogTail
from launcher.probes.base import ProbeContext, ProbeResult, format_seconds
from launcher.probes.ib_api import (API_SILENT, CLIENT_ID_IN_USE, SESSION_FAILED, ApiConversation, describe_success,
                                    open_ib_session, probe_ib_api, reset_and_close)
from launcher.stack.model import Health, Service
from launcher.stack.resolved import ResolvedService

MAX_BACKOFF = 60.0
ERRORS_KEPT = 20
KIND = "ib_api"


@dataclass(frozen=True)
class MonitorSnapshot:
    """What the monitor knows now (plain values, for status and tests)."""

    client_id: int
    session_held: bool
    board: NoticeBoard
    connections_opened: int  # TCP connections made, the fallback probe's included
    sessions_opened: int
    heartbeats_answered: int
    last_answer_at: float | None  # wall-clock seconds
    recent_errors: tuple[tuple[int, str], ...]  # (code, message), the last few the Gateway sent


class GatewayMonitor:
    """One Gateway's long-lived monitoring session (see the module docstring)."""

    def __init__(self, health: Health, *, context: ProbeContext | None = None, service: Service | None = None,
                 zone: tzinfo | None = None, wall: Callable[[], float] = time.time,
                 on_notice: Callable[[Notice, NoticeBoard], None] | None = None):
        self.health = health
        self.check = health.check
        self.context = context or ProbeContext(service_name="gateway")
        self.service = service
        self.zone = zone
        self._wall = wall
        self._on_notice = on_notice
        self._conversation: ApiConversation | None = None
        self._reader: asyncio.Task | None = None
        self._lost = asyncio.Event()
        self._answer = asyncio.Event()
        self._sent = self._answered = 0
        self._board = NoticeBoard()
        self._errors: collections.deque[tuple[int, str]] = collections.deque(maxlen=ERRORS_KEPT)
        self._session_failures = 0
        self._next_session_at = 0.0
        self._closed = False
        self._busy = asyncio.Lock()
        self.connections_opened = self.sessions_opened = self.heartbeats_answered = 0
        self.last_answer_at: float | None = None
        self.last_result: ProbeResult | None = None
        self._tracker = LoginTracker(service.login_patterns if service else None)
        log_path = self.context.log_path
        self._log = LogTail(Path(log_path), self.context.log_start_offset) if log_path else None

    @classmethod
    def for_service(cls, service: ResolvedService, context: ProbeContext,
                    on_notice: Callable[[Notice, NoticeBoard], None] | None = None) -> "GatewayMonitor":
        """The monitor of one ``ib_api`` service (its check, its log through ``context``, its stack fields)."""
        if service.health is None or service.health.kind != KIND:
            raise ValueError(f"'{service.name}' has no ib_api health check to monitor")
        return cls(service.health, context=context, service=service.spec, on_notice=on_notice)

    @property
    def client_id(self) -> int:
        return self.check.monitor_client_id

    # --- the interface the supervisor calls ---------------------------------------------------

    async def start(self) -> ProbeResult:
        """Open the session (or find out why not); the first verdict. Never raises for a sick Gateway."""
        return await self.verdict()

    async def verdict(self) -> ProbeResult:
        """Healthy when the API answers now: a heartbeat on the held session, else a new session or the probe."""
        async with self._busy:  # one verdict at a time: two would open two sessions
            return await self._verdict()

    async def _verdict(self) -> ProbeResult:
        if self._closed:
            return self._result(ProbeResult(False, KIND, "the monitor is closed", 0.0))
        self._read_log()
        if self._conversation is not None and not self._lost.is_set():
            return self._result(await self._heartbeat())
        if self._conversation is not None:
            self._drop()
        if time.monotonic() >= self._next_session_at:
            return self._result(await self._open())
        return self._result(await self._fallback("the Gateway refused the monitor's session earlier"))

    def condition(self, *, process_running: bool | None = None) -> GatewayCondition:
        """The Gateway's condition from the latest verdict, the notices and the login phase. Pure on held state."""
        result = self.last_result
        return judge_service(self.service, now=self._wall(), zone=self.zone,
                             api_answering=None if result is None else result.ok,
                             api_detail=result.detail if result is not None else "", board=self._board,
                             login=self._tracker.state, process_running=process_running)

    def snapshot(self) -> MonitorSnapshot:
        return MonitorSnapshot(self.client_id, self._conversation is not None and not self._lost.is_set(),
                               self._board, self.connections_opened, self.sessions_opened, self.heartbeats_answered,
                               self.last_answer_at, tuple(self._errors))

    async def close(self) -> None:
        """Close the session (our FIN first, as the probe closes); idempotent."""
        self._closed = True
        conversation, self._conversation = self._conversation, None
        await self._stop_reader()
        if conversation is not None:
            try:
                await asyncio.wait_for(conversation.close(), 2.0)
            except asyncio.TimeoutError:
                pass
            finally:
                if conversation.sock.fileno() != -1:
                    reset_and_close(conversation.sock)

    # --- the session -----------------------------------------------------------------------

    async def _open(self) -> ProbeResult:
        timeout = self.health.timeout
        diagnosis, conversation = await open_ib_session(self.check.host, self.check.port, timeout=timeout,
                                                        client_id=self.client_id)
        self.connections_opened += diagnosis.tcp_connected
        if conversation is not None:
            self._hold(conversation, diagnosis.errors)
            self._session_failures, self._next_session_at = 0, 0.0
            return ProbeResult(True, KIND, f"monitor session opened (client id {self.client_id}): "
                               f"{describe_success(diagnosis)}{self._board_text()}", diagnosis.total_seconds,
                               self._facts())
        facts = {**diagnosis.to_dict(), "error_codes": [code for code, _, _ in diagnosis.errors]}
        if diagnosis.verdict in (CLIENT_ID_IN_USE, SESSION_FAILED) and diagnosis.server_version is not None:
            self._session_failures += 1
            backoff = min(self.health.interval * 2 ** (self._session_failures - 1), MAX_BACKOFF)
            self._next_session_at = time.monotonic() + backoff
            return await self._fallback(f"the monitor cannot hold a session ({diagnosis.failure}); next try in "
                                        f"{format_seconds(backoff)}")
        return ProbeResult(False, KIND, diagnosis.failure or diagnosis.verdict, diagnosis.total_seconds, facts)

    def _hold(self, conversation: ApiConversation, errors: list[tuple[int, str, str]]) -> None:
        self._conversation = conversation
        self._lost = asyncio.Event()  # this session's own: a dropped session's reader may end after it opens
        self._sent = self._answered = 0
        self.sessions_opened += 1
        for code, message, _ in errors:  # what the Gateway said at session start (farm status, 1100...)
            self._take_error(code, message)
        self._reader = asyncio.ensure_future(self._read(conversation, self._lost))

    async def _heartbeat(self) -> ProbeResult:
        conversation = self._conversation
        started = time.monotonic()
        deadline = started + self.health.timeout
        self._sent += 1
        wanted = self._sent
        if not await conversation.send(encode_req_current_time()):
            self._lost.set()
        while self._answered < wanted and not self._lost.is_set() and time.monotonic() < deadline:
            self._answer.clear()
            try:
                await asyncio.wait_for(self._answer.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        took = time.monotonic() - started
        if self._answered >= wanted:
            return ProbeResult(True, KIND, f"heartbeat answered in {format_seconds(took)} (monitor session, client id "
                               f"{self.client_id}){self._board_text()}", took, self._facts())
        if self._lost.is_set():
            self._drop()
            return await self._open()  # at once: a soft restart or a dropped session
        self._drop()
        return ProbeResult(False, KIND, f"TCP alive, API dead: no answer to reqCurrentTime within "
                           f"{format_seconds(self.health.timeout)} on the monitor's session (client id "
                           f"{self.client_id}); dropping it", took, {"verdict": API_SILENT, **self._facts()})

    def _drop(self) -> None:
        """Forget the session: an RST, so a hung Gateway keeps no socket of ours."""
        conversation, self._conversation = self._conversation, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if conversation is not None and conversation.sock.fileno() != -1:
            reset_and_close(conversation.sock)

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, conversation: ApiConversation, lost: asyncio.Event) -> None:
        """Everything the Gateway sends on the session until it closes (cancelled when dropped)."""
        try:
            while True:
                data = await conversation.receive(None)
                if not data:
                    break
                for payload in conversation.frames.feed(data):
                    self._take(split_fields(payload))
        except ProtocolError:
            pass  # not the TWS API any more: treat as lost, the next verdict opens a new session
        finally:
            lost.set()
            self._answer.set()

    def _take(self, fields: list[str]) -> None:
        try:
            message = parse_int(fields[0], "message id")
            if message == ServerMessage.CURRENT_TIME:
                self._answered += 1
                self.heartbeats_answered += 1
                self.last_answer_at = self._wall()
                self._answer.set()
            elif message == ServerMessage.ERR_MSG:
                record = parse_error_record(fields, self._conversation_version())
                self._take_error(record.code, record.message)
        except (ProtocolError, IndexError):
            return  # one malformed message is not worth the session

    def _take_error(self, code: int, message: str) -> None:
        self._errors.append((code, message))
        notice = classify(code, message)
        if notice is None:
            return
        self._board = self._board.absorb(notice, self._wall())
        if self._on_notice is not None:
            self._on_notice(notice, self._board)

    def _conversation_version(self) -> int:
        conversation = self._conversation
        return (conversation.diagnosis.server_version or 0) if conversation is not None else 0

    # --- the fallback, the log, the wording --------------------------------------------------

    async def _fallback(self, why: str) -> ProbeResult:
        result = await probe_ib_api(self.check, self.health.timeout, self.context)
        self.connections_opened += bool(result.facts.get("tcp_connected"))
        return replace(result, detail=f"{why}; probe: {result.detail}")

    def _read_log(self) -> None:
        if self._log is None:
            return
        now = self._wall()
        for line in self._log.new_lines():
            self._tracker.feed(line, now)

    def _result(self, result: ProbeResult) -> ProbeResult:
        self.last_result = result
        return result

    def _board_text(self) -> str:
        board = self._board
        if board.clear and not board.read_only:
            return ""
        summary = board.summary()
        parts = [f"farms broken: {', '.join(summary['farms_broken'])}" if summary["farms_broken"] else "",
                 "IB connectivity lost" if summary["connectivity"] == "lost" else "",
                 "competing live session" if summary["competing_session"] else "",
                 "read-only" if summary["read_only"] else ""]
        return " (" + "; ".join(part for part in parts if part) + ")"

    def _facts(self) -> dict:
        return {"monitor": True, "client_id": self.client_id, "sessions_opened": self.sessions_opened,
                "connections_opened": self.connections_opened, **self._board.summary()}

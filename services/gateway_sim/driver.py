"""Carries out the Gateway lifecycle's actions on the running server, and runs its schedule.

:class:`~services.gateway_sim.lifecycle.GatewayLife` decides (pure); this does:
log lines in their three voices, the API port refusing / holding handshakes /
answering, notices to every session, 1101's dropped subscriptions, the exit.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Iterable

from services.gateway_sim.api_port import ApiPort, os_reason
from services.gateway_sim.actions import Action, ApiState, DropMarketData, Exit, Notify, Say, SetApi, Voice
from services.gateway_sim.lifecycle import GatewayLife
from ibproto.versions import IMPLEMENTED_MAX as SERVER_MAX_VERSION, IMPLEMENTED_MIN as SERVER_MIN_VERSION
from services.gateway_sim.session import Phase
from stackkit.clock import Clock

if TYPE_CHECKING:
    from services.gateway_sim.server import Connection, GatewayServer
    from services.gateway_sim.session import Session

PORT_LOST_EXIT_CODE = 1


async def first_of(waits: list[Awaitable]) -> None:
    """Wait until the first of ``waits`` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class LifecycleDriver:
    """The lifecycle's hands on one :class:`GatewayServer` (create it inside the running event loop)."""

    def __init__(self, server: "GatewayServer", life: GatewayLife, api_port: ApiPort, clock: Clock):
        self.server = server
        self.life = life
        self.api_port = api_port
        self.clock = clock
        self.api_state = ApiState.CLOSED
        self.api_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._opened_before = False

    async def run(self) -> None:
        """Run the lifecycle's steps as they fall due on its clock; an IBC command wakes it early."""
        await self.apply(self.life.start())
        while True:
            self._wake.clear()
            await self.apply(self.life.advance())
            due = self.life.next_due()
            waits: list[Awaitable] = [self._wake.wait()]
            if due is not None:
                waits.append(self.clock.sleep(due - self.clock.monotonic()))
            await first_of(waits)

    async def settle(self) -> None:
        """After an IBC command was answered: carry out what it set off, and reschedule."""
        await self.apply(self.life.drain())
        self._wake.set()

    async def apply(self, actions: Iterable[Action]) -> None:
        server = self.server
        async with self._lock:
            for action in actions:
                if server.stopping:
                    return
                if isinstance(action, Say):
                    {Voice.SIM: server.log, Voice.IBC: server.log.ibc, Voice.SCRIPT: server.log.script}[
                        action.voice](action.text)
                elif isinstance(action, SetApi):
                    await self._set_api(action.state, action.reason)
                elif isinstance(action, Notify):
                    self._notify(action)
                elif isinstance(action, DropMarketData):
                    self._drop_market_data()
                elif isinstance(action, Exit):
                    server.exit(action.status)

    async def _set_api(self, state: ApiState, reason: str) -> None:
        previous, self.api_state = self.api_state, state
        if state is ApiState.READY:
            self.api_ready.set()
        else:
            self.api_ready.clear()
        server, address = self.server, f"{self.server.config.host}:{self.api_port.port}"
        try:
            if state is ApiState.CLOSED and previous is not ApiState.CLOSED:
                self.api_port.refuse()  # first, so that no new connection slips in while the others close
                dropped = server.drop_connections(reason)
                server.log(f"API port {address} refusing connections ({reason}); closed {dropped} connection(s)")
            elif state is ApiState.CLOSED and not self._opened_before:
                server.log(f"API port {address} reserved; refusing connections until the login completes")
            elif state is not ApiState.CLOSED and previous is ApiState.CLOSED:
                await self.api_port.open(server.accept)
                restarted = self._opened_before
                self._log_listening(address)
                if server.hung and restarted:  # a new Java process: whatever hung the old one is gone
                    server.hung = False
                    server.log("fault hang-after: cleared by the restart; the API answers again")
        except OSError as problem:
            server.log(f"cannot listen on {address} again: {os_reason(problem)}; exiting with status "
                       f"{PORT_LOST_EXIT_CODE}")
            server.exit(PORT_LOST_EXIT_CODE)

    def _log_listening(self, address: str) -> None:
        server, config = self.server, self.server.config
        if self._opened_before:
            server.log(f"listening on {address} again")
            return
        self._opened_before = True
        if config.read_only:  # as IBC reports the setting it applies after the login, and as a condition line
            if config.week.ibc:
                server.log.ibc("Read-Only API checkbox is now set to: true")
            server.log("condition read-only: orders are refused with error 321 (--read-only)")
        server.log(f"listening on {address} (server versions {SERVER_MIN_VERSION}..{SERVER_MAX_VERSION}, account "
                   f"{config.account}, seed {server.seed}, tick interval {config.tick_interval:g}s, fault "
                   f"{config.fault.describe()}, api delay {config.api_delay:g}s, max clients {config.max_clients}, "
                   f"orders {config.orders}{', read-only' if config.read_only else ''}, pacing {config.pacing})")

    def _notify(self, notice: Notify) -> None:
        """Send an error/notice record to every started session (or once per market data subscription)."""
        server = self.server
        if server.hung:
            return
        sent = sum(send_notice(connection, notice) > 0 for connection in server.connections.values())
        server.flush_output()  # ticks queued before the notice go first: the session's queue keeps the order
        server.log(f"notice {notice.code} sent to {sent} session(s): {notice.text}")

    def _drop_market_data(self) -> None:
        for connection in self.server.connections.values():
            dropped = connection.session.drop_market_data()
            if dropped:
                self.server.log(f"conn {connection.number} market data dropped (1101): {dropped} subscription(s) "
                                f"get no more ticks until requested again")

    def after_requests(self, connection: "Connection", started_before: bool, subscribed_before: set[int]) -> None:
        """What IB's conditions add to a session's own replies: notices at its start, 10197 for new requests."""
        conditions, session = self.life.conditions, connection.session
        notices: list[tuple[Notify, list[int] | None]] = []
        if not started_before and session.client_id is not None:
            notices += [(notice, None) for notice in conditions.greeting()]
        new_requests = [request_id for request_id in market_data_ids(session) if request_id not in subscribed_before]
        if new_requests:
            notices += [(notice, new_requests) for notice in conditions.for_new_market_data()]
        for notice, request_ids in notices:
            if send_notice(connection, notice, request_ids):
                self.server.log(f"conn {connection.number} notice {notice.code}: {notice.text}")
        if notices:
            self.server.flush_output()

    def seconds_until_ready(self) -> float | None:
        """Simulated seconds until the API answers, when the lifecycle knows (``None`` during a login)."""
        due = self.life.api_ready_at
        return None if due is None else max(0.0, due - self.clock.monotonic())


def market_data_ids(session: "Session") -> list[int]:
    """The request ids of a session's market data subscriptions (what 10197 and 1101 concern)."""
    return list(session.lines) + list(session.streams)


def send_notice(connection: "Connection", notice: Notify, request_ids: Iterable[int] | None = None) -> int:
    """Queue ``notice`` on a started session: once with request id -1, or once per given (or subscribed)
    request id; returns how many records were queued (the server's flush sends them)."""
    session = connection.session
    if session.phase is not Phase.ACTIVE or connection.closing:
        return 0
    if request_ids is None:
        request_ids = market_data_ids(session) if notice.per_subscription else [-1]
    count = 0
    for request_id in request_ids:
        session.send_error(request_id, notice.code, notice.text)
        count += 1
    return count

"""The trader's Gateway session: connect, qualify, stream ticks, and come back after any outage.

One task keeps a session alive: connect with ``ib_async``, qualify the symbols
(unknown ones are reported and skipped), request market data, then watch for
the end of the session (the Gateway closes the socket, or stops answering API
requests while the socket stays open). Then it reports ``reconnecting``, waits
out a capped backoff and starts over, with the same process.

Readiness goes to the supervisor through the notify protocol: ``READY=1`` once
the Gateway session is subscribed and the WebSocket publisher is connected,
``WATCHDOG=1`` heartbeats, ``STATUS=...`` on every state change. The trader follows
the Gateway: a 1101 (connectivity restored, market data lost) makes it subscribe
again, a 1102 lets it carry on, and every farm and connectivity change is a
``gateway_notice`` status event carrying what is broken. With ``data_timeout``, no
tick for that long while subscribed stops the WATCHDOG=1 heartbeats until ticks
flow again (:mod:`services.runner_async.dataflow`), and STATUS= says why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from ib_async import IB, Stock, Ticker
from ib_async.objects import Position

from ibproto.notices import classify
from services.errors import ServiceError, UsageError
from stackkit.notify import Notifier
from services.runner_async.backoff import Backoff, RetrySchedule
from services.runner_async.dataflow import FLOWING, STALLED, DataFlow
from services.runner_async.events import position_event, status_event, tick_event
from services.runner_async.publisher import EventPublisher
from services.runner_async.strategy import RiskLimits
from services.runner_async.trading import PaperTrading

log = logging.getLogger("runner_async")

# TWS "system" messages worth a status event: connectivity between the Gateway and IB's servers.
CONNECTIVITY_NOTICES = {1100: "lost", 1101: "restored, market data lost", 1102: "restored, market data kept",
                        2110: "lost (TWS to server)"}
# Informational farm messages every session opens with; not worth a log line.
QUIET_CODES = {2104, 2106, 2107, 2108, 2158}


class GatewayUnavailable(ServiceError):
    """The Gateway could not be reached, refused us, or stopped answering."""


class NoTradableSymbols(UsageError):
    """None of the requested symbols is known to the Gateway; retrying would not help."""


@dataclass(frozen=True)
class TraderSettings:
    """What the command line decides."""

    symbols: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 10
    ws_url: str = "ws://127.0.0.1:8765/publish"
    ws_token: str | None = None
    connect_timeout: float = 10.0
    api_check_interval: float = 10.0
    watchdog_interval: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)
    strategy: str = "none"  # or "momentum": paper trading with hard risk limits
    risk: RiskLimits = field(default_factory=RiskLimits)
    data_timeout: float | None = None  # no tick for this long while subscribed: not ready


class Trader:
    """Ticks from the Gateway to the WebSocket server, for as long as it runs."""

    def __init__(self, settings: TraderSettings, *, notifier: Notifier | None = None,
                 schedule: RetrySchedule | None = None) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier(None)
        self.schedule = schedule or RetrySchedule(settings.backoff)
        self.publisher = EventPublisher(settings.ws_url, token=settings.ws_token, backoff=settings.backoff,
                                        on_state=self._publisher_changed)
        self.ib = IB()
        self.tickers: dict[str, Ticker] = {}
        self.skipped: list[str] = []
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._last_error = ""
        self._subscribed = False
        self._ready_sent = False
        self.flow = DataFlow(settings.data_timeout)
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.pendingTickersEvent += self._on_tickers
        self.ib.positionEvent += self._on_position
        self.ib.errorEvent += self._on_error
        self.trading = PaperTrading(self.ib, self.publisher.publish, settings.risk) \
            if settings.strategy != "none" else None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set (then shut down cleanly) or the symbols turn out to be unusable."""
        self.publisher.start()
        heartbeat = asyncio.create_task(self._watch(), name="watchdog")
        session = asyncio.create_task(self._keep_session(), name="gateway-session")
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if session in done:
                session.result()  # raises NoTradableSymbols; the loop never ends otherwise
        finally:
            for task in (session, stopper):
                task.cancel()
            await asyncio.gather(session, stopper, return_exceptions=True)
            await self._shut_down()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    # -- the session loop -------------------------------------------------------------------

    async def _keep_session(self) -> None:
        while True:
            try:
                await self._open_session()
                opened = time.monotonic()
                reason = await self._until_session_ends()
                self.schedule.connection_ended(time.monotonic() - opened)
            except GatewayUnavailable as err:
                reason = str(err)
            self._subscribed = False
            self.flow.unsubscribed()
            self.tickers.clear()
            if self.trading is not None:
                self.trading.stop()
            self._disconnect()
            delay = self.schedule.next_delay()
            self._report("reconnecting", f"gateway: {reason}; retry {self.schedule.attempts} in {delay:.1f}s",
                         target="gateway", reason=reason, attempt=self.schedule.attempts, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)  # pacing between attempts; a stop cancels it at once

    async def _open_session(self) -> None:
        settings = self.settings
        self._lost.clear()
        self._last_error = ""
        self._report("connecting", f"connecting to gateway {settings.host}:{settings.port} as client {settings.client_id}",
                     target="gateway", host=settings.host, port=settings.port, client_id=settings.client_id)
        try:
            await self.ib.connectAsync(settings.host, settings.port, clientId=settings.client_id,
                                       timeout=settings.connect_timeout)
        except (OSError, TimeoutError, asyncio.TimeoutError) as err:
            raise GatewayUnavailable(self._explain(err)) from err
        accounts = self.ib.client.getAccounts()
        self._report("connected", f"connected to gateway (server version {self.ib.client.serverVersion()}, "
                     f"accounts {','.join(accounts) or 'none'})", target="gateway",
                     server_version=self.ib.client.serverVersion(), accounts=accounts)
        await self._subscribe()
        if self.trading is not None:
            self.trading.start(accounts)

    async def _subscribe(self) -> None:
        contracts = [Stock(symbol, "SMART", "USD") for symbol in self.settings.symbols]
        try:
            results = await asyncio.wait_for(self.ib.qualifyContractsAsync(*contracts), self.settings.connect_timeout)
        except (OSError, TimeoutError, asyncio.TimeoutError) as err:
            raise GatewayUnavailable(f"qualifying symbols failed: {self._explain(err)}") from err
        self.skipped = [contract.symbol for contract, result in zip(contracts, results) if result is None]
        for symbol in self.skipped:
            log.warning("unknown symbol %s: the Gateway has no contract for it; skipped", symbol)
            self.notifier.warning(f"unknown symbol {symbol}: the Gateway has no contract for it; skipped")
        qualified = [contract for contract, result in zip(contracts, results) if result is not None]
        if not qualified:
            raise NoTradableSymbols(f"none of the symbols {','.join(self.settings.symbols)} is known to the Gateway")
        for contract in qualified:
            self.tickers[contract.symbol] = self.ib.reqMktData(contract)
        self._subscribed = True
        self.flow.subscribed(time.monotonic())
        symbols = list(self.tickers)
        skipped = f" (skipped unknown: {','.join(self.skipped)})" if self.skipped else ""
        self._report("subscribed", f"subscribed to {','.join(symbols)}{skipped}", target="gateway",
                     symbols=symbols, skipped=self.skipped)
        self._maybe_ready()

    async def _until_session_ends(self) -> str:
        """Wait for the Gateway to go away; between waits, check that its API still answers."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self.settings.api_check_interval)
                return self._lost_reason
            except (TimeoutError, asyncio.TimeoutError):
                pass
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.settings.connect_timeout)
            except (OSError, TimeoutError, asyncio.TimeoutError):
                if self._lost.is_set():
                    return self._lost_reason
                return (f"the Gateway stopped answering API requests (no reply to reqCurrentTime "
                        f"within {self.settings.connect_timeout:g}s)")

    def _disconnect(self) -> None:
        if self.ib.isConnected():
            self.ib.disconnect()
        elif self.ib.client.conn.transport is not None:
            self.ib.client.conn.disconnect()  # a socket left from a half-made connection

    async def _shut_down(self) -> None:
        """Cancel market data, close the Gateway socket (and wait for it), flush and close the publisher."""
        self.notifier.stopping("stopping")
        self._report("stopping", "stopping: cancelling market data and disconnecting", target="gateway")
        if self.ib.isConnected():
            for ticker in list(self.tickers.values()):
                self.ib.cancelMktData(ticker.contract)
        await self._close_gateway_socket()
        await self.publisher.close(flush_timeout=1.0)
        self.notifier.close()
        log.info("stopped: %d events sent, %d dropped while the WebSocket server was away",
                 self.publisher.sent, self.publisher.dropped)

    async def _close_gateway_socket(self) -> None:
        """Disconnect and wait until the socket is really closed, so our FIN is out before we exit."""
        connection = self.ib.client.conn
        if connection.transport is None:
            return
        closed = asyncio.Event()

        def handler(message: str) -> None:
            closed.set()

        connection.disconnected += handler
        try:
            self._disconnect()
            await asyncio.wait_for(closed.wait(), 1.0)
        except (TimeoutError, asyncio.TimeoutError):
            log.warning("the Gateway socket did not report closed within 1s")
        finally:
            connection.disconnected -= handler

    async def _watch(self) -> None:
        """WATCHDOG=1 heartbeats while data flows (or while readiness does not depend on it)."""
        if not self.notifier.enabled and self.flow.timeout is None:
            return
        # Often enough to notice a stall within half the data timeout.
        period = min(self.settings.watchdog_interval, (self.flow.timeout or math.inf) / 2)
        while True:
            now = time.monotonic()
            if self.flow.check(now) == STALLED:
                self._report(STALLED, f"not ready: {self.flow.reason(now)}", target="gateway",
                             **self.flow.board.summary())
            if not self.flow.stalled:
                self.notifier.watchdog()
            await asyncio.sleep(period)  # the heartbeat's own period

    # -- ib_async and publisher callbacks ---------------------------------------------------

    def _on_tickers(self, tickers: set[Ticker]) -> None:
        if tickers and self.flow.tick(time.monotonic()) == FLOWING:
            self._report(FLOWING, f"ready: ticks flowing again for {','.join(self.tickers)}", target="gateway",
                         **self.flow.board.summary())
        for ticker in tickers:
            event = tick_event(ticker.contract.symbol, ticker.bid, ticker.ask, ticker.last, ticker.time)
            if event is not None:
                self.publisher.publish(event)
            if self.trading is not None:
                self.trading.on_ticker(ticker)

    def _on_position(self, position: Position) -> None:
        self.publisher.publish(position_event(position.account, position.contract.symbol, position.position,
                                              position.avgCost))

    def _on_disconnected(self) -> None:
        if not self._lost.is_set():
            self._lost_reason = "the Gateway closed the connection" + (f" ({self._last_error})" if self._last_error else "")
            self._lost.set()

    def _on_error(self, request_id: int, code: int, message: str, contract: Any) -> None:
        notice = classify(code, message)
        changed = notice is not None and self.flow.notice(notice, time.time())
        if code in QUIET_CODES and not changed:
            return
        self._last_error = f"error {code}: {message}"
        if code in CONNECTIVITY_NOTICES or changed:
            what = f"connectivity {CONNECTIVITY_NOTICES[code]}" if code in CONNECTIVITY_NOTICES else message
            self._report("gateway_notice", f"gateway {what} (error {code})", target="gateway", code=code,
                         message=message, **self.flow.board.summary())
            if code == 1101 and self._subscribed:
                self._resubscribe()
        elif code != 200:  # unknown symbols are reported once, by _subscribe
            log.warning("gateway error %d (request %d): %s", code, request_id, message)

    def _resubscribe(self) -> None:
        for symbol, ticker in list(self.tickers.items()):
            self.ib.cancelMktData(ticker.contract)
            self.tickers[symbol] = self.ib.reqMktData(ticker.contract)
        self.flow.subscribed(time.monotonic())
        self._report("resubscribed", f"market data lost (1101): subscribed again to {','.join(self.tickers)}",
                     target="gateway", symbols=list(self.tickers))

    def _publisher_changed(self, state: str, detail: str) -> None:
        self._report(state, f"websocket: {state} ({detail})", target="websocket", detail=detail)
        if state == "connected":
            self._maybe_ready()

    # -- reporting --------------------------------------------------------------------------

    def _maybe_ready(self) -> None:
        if self._ready_sent or not self._subscribed or not self.publisher.connected.is_set():
            return
        self._ready_sent = True
        summary = f"ready: streaming {','.join(self.tickers)} to {self.settings.ws_url}"
        log.info(summary)
        self.notifier.ready(summary)

    def _report(self, state: str, summary: str, **details: Any) -> None:
        """One state change: a log line, a STATUS= line for the supervisor, a status event for subscribers."""
        log.info(summary)
        self.notifier.status(summary)
        self.publisher.publish(status_event(state, **details))

    def _explain(self, err: BaseException) -> str:
        if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
            what = f"no API answer within {self.settings.connect_timeout:g}s"
        elif isinstance(err, ConnectionRefusedError):
            what = f"connection refused: nothing listens on {self.settings.host}:{self.settings.port}"
        elif isinstance(err, OSError) and err.strerror:
            what = err.strerror
        else:
            what = str(err) or type(err).__name__
        return what + (f" (last gateway message: {self._last_error})" if self._last_error else "")

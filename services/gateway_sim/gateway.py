"""What every connection shares: the market, the paper account, the execution engine, the client
ids in use, and the sessions to stream to. :meth:`Gateway.step` moves the market to "now", lets
the engine fill, and queues every session's updates; the server only writes the bytes out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stackkit.clock import Clock
from services.gateway_sim import messages, order_messages
from services.gateway_sim.account import PaperAccount, commission_for
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.market import MarketModel
from services.gateway_sim.orders import Execution, ExecutionEngine, Notice
from services.gateway_sim.store import StateFile

if TYPE_CHECKING:
    from services.gateway_sim.session import Session

DEFAULT_MAX_CLIENTS = 32
DEFAULT_MARKET_DATA_LINES = 100
PNL_INTERVAL = 1.0
SAVE_INTERVAL = 1.0
KEEP_EXECUTIONS = 1000


@dataclass(frozen=True)
class Policy:
    """The options that change how requests are answered (see config.py)."""

    orders: str = "fill"  # fill | reject
    read_only: bool = False
    pacing: str = "off"  # off | ib
    market_data_lines: int = DEFAULT_MARKET_DATA_LINES
    no_next_valid_id: bool = False


class Gateway:
    """The shared state of one simulated Gateway."""

    def __init__(self, market: MarketModel, account: PaperAccount, clock: Clock, *,
                 engine: ExecutionEngine | None = None, store: StateFile | None = None,
                 policy: Policy = Policy(), max_clients: int = DEFAULT_MAX_CLIENTS,
                 min_version: int = 157, max_version: int = 178):
        self.market = market
        self.account = account
        self.clock = clock
        self.engine = engine or ExecutionEngine()
        self.store = store or StateFile(None)
        self.policy = policy
        self.max_clients = max_clients
        self.min_version = min_version
        self.max_version = max_version
        self.client_ids: dict[int, int] = {}  # client id -> connection id holding it
        self.sessions: dict[int, "Session"] = {}
        self.executions: deque[Execution] = deque(maxlen=KEEP_EXECUTIONS)
        self._last_pnl = 0.0
        self._last_save = 0.0

    # --- clients ------------------------------------------------------------------------

    def holder_of(self, client_id: int) -> int | None:
        return self.client_ids.get(client_id)

    @property
    def full(self) -> bool:
        return len(self.client_ids) >= self.max_clients

    def claim(self, client_id: int, session: "Session") -> None:
        self.client_ids[client_id] = session.connection_id
        self.sessions[session.connection_id] = session

    def release(self, client_id: int | None, connection_id: int) -> None:
        if client_id is not None and self.client_ids.get(client_id) == connection_id:
            del self.client_ids[client_id]
        self.sessions.pop(connection_id, None)

    def session_of(self, client_id: int) -> "Session | None":
        connection = self.client_ids.get(client_id)
        return self.sessions.get(connection) if connection is not None else None

    # --- time ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now().timestamp()

    def price_of(self, instrument: Instrument) -> float:
        quote = self.market.quote(instrument, self.now())
        return quote.last or quote.mid

    def step(self) -> None:
        """Move the market to now, fill what can fill, and queue every session's updates."""
        now = self.now()
        wanted = self.engine.instruments()
        for session in self.sessions.values():
            wanted |= session.instruments()
        moved = self.market.step(sorted(wanted, key=lambda i: i.con_id), now)
        for instrument, (quote, trades) in moved.items():
            self.deliver(self.engine.match(instrument, quote, trades, now))
        for session in list(self.sessions.values()):
            session.stream(moved, now)
        if now - self._last_pnl >= PNL_INTERVAL:
            self._last_pnl = now
            for session in list(self.sessions.values()):
                session.stream_pnl()
        self.save_if_due(now)

    def save_if_due(self, now: float, force: bool = False) -> None:
        store = self.store
        if store.path is None:
            return
        if force or store.needs_reservation(self.engine.state) or (store.dirty and now - self._last_save >= SAVE_INTERVAL):
            self._last_save = now
            store.save(self.engine.state, self.account.to_state())

    # --- orders -------------------------------------------------------------------------

    def deliver(self, notices: list[Notice]) -> None:
        """Book fills, then tell each order's owner; account subscribers hear about the new position."""
        moved: set[Instrument] = set()
        for notice in notices:
            owner = self.session_of(notice.order.client_id)
            if notice.kind == "execution" and notice.execution is not None:
                execution = self._book(notice.execution)
                moved.add(execution.order.instrument)
                if owner is not None:
                    owner.send(order_messages.exec_details(owner.server_version, -1, execution),
                               order_messages.commission_report(execution))
                continue
            if owner is not None:
                owner.send(order_messages.open_order(owner.server_version, notice.order),
                           order_messages.order_status(notice.order))
                if notice.error is not None:
                    owner.send_error(notice.order.order_id, *notice.error)
                owner.log(f"order {notice.order.order_id} {notice.order.status.value} "
                          f"({messages.size_text(notice.order.filled)}/"
                          f"{messages.size_text(notice.order.ticket.quantity)} {notice.order.instrument.display_symbol})")
        self.store.dirty = self.store.dirty or bool(notices)
        for instrument in moved:
            for session in list(self.sessions.values()):
                session.position_changed(instrument)

    def _book(self, execution: Execution) -> Execution:
        order = execution.order
        signed = order.ticket.signed(execution.shares)
        opening = self.account.position_of(order.instrument) * signed >= 0
        commission = commission_for(order.instrument, execution.shares, execution.price)
        realized = self.account.apply_fill(order.instrument, signed, execution.price, commission)
        now = self.now()
        self.market.take_liquidity(order.instrument, order.ticket.buying, int(execution.shares))
        self.market.print_trade(order.instrument, execution.price, int(execution.shares), now)
        booked = replace(execution, commission=commission, realized_pnl=None if opening else realized)
        self.executions.append(booked)
        return booked

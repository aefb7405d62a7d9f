"""The paper execution engine: orders in, statuses and fills out, against the simulated market.

Pure: the caller passes the quote of each instrument and "now"; the engine returns
:class:`Notice` values (an order's status changed, an execution happened) for the session layer
to encode. What it models, the way IB's paper trading behaves:

* PreSubmitted, then Submitted, then Filled or Cancelled; ``transmit=False`` stages an order
  (and its parent chain) until an order of the group is transmitted;
* market orders fill at the touch, limit orders when the touch (or a print) crosses the limit,
  stop and stop-limit orders trigger on the last price; no fill is larger than the size
  displayed at that moment, so big orders fill in parts over several steps;
* time in force: DAY (until 20:00 New York), GTC, GTD, IOC and FOK;
* brackets (children wait for their parent's fill, siblings cancel each other) and OCA groups;
* order ids per client id, never reused: an old id is error 103, a live one is a modification.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from datetime import datetime

from ibproto.codes import say
from ibproto.fields import is_unset
from services.gateway_sim.calendar import EXCHANGE_ZONE
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.market import Quote, Trade
from services.gateway_sim.order_requests import OrderTicket

SUPPORTED_TYPES = ("MKT", "LMT", "STP", "STP LMT")
SUPPORTED_TIF = ("DAY", "GTC", "GTD", "IOC", "FOK")


class Status(str, enum.Enum):
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"

    @property
    def done(self) -> bool:
        return self in (Status.FILLED, Status.CANCELLED)


@dataclass
class Order:
    """One order as the engine tracks it."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    ticket: OrderTicket
    account: str
    created: float
    status: Status = Status.PRE_SUBMITTED
    filled: float = 0.0
    average_price: float = 0.0
    last_fill_price: float = 0.0
    staged: bool = False  # transmit=False, waiting for its group to be transmitted
    triggered: bool = False  # stop orders once their stop price traded
    completed_time: str = ""
    why: str = ""  # completedStatus text

    @property
    def remaining(self) -> float:
        return max(0.0, self.ticket.quantity - self.filled)

    @property
    def working(self) -> bool:
        return self.status is Status.SUBMITTED and not self.staged


@dataclass(frozen=True)
class Execution:
    exec_id: str
    order: Order
    shares: float
    price: float
    time: float
    cumulative: float
    average_price: float
    commission: float = 0.0
    realized_pnl: float | None = None  # None: an opening trade (IB sends "unset")


@dataclass(frozen=True)
class Notice:
    """Something a client must hear about: ``status`` (openOrder + orderStatus) or ``execution``."""

    kind: str
    order: Order
    execution: Execution | None = None
    error: tuple[int, str] | None = None  # an error record for the order (202 with a cancel)

    def __post_init__(self) -> None:
        # The order as it is now: it moves on before the notice is delivered.
        object.__setattr__(self, "order", copy.copy(self.order))


class OrderRefused(Exception):
    """placeOrder refused: ``code`` and ``text`` are the error record to send on the order id."""

    def __init__(self, code: int, text: str):
        self.code, self.text = code, text
        super().__init__(f"{code} {text}")


@dataclass
class EngineState:
    next_ids: dict[int, int] = field(default_factory=dict)  # client id -> lowest id not yet used
    next_perm_id: int = 1_000_000_000
    exec_sequence: int = 0


class ExecutionEngine:
    """Every order of the paper account, across connections."""

    def __init__(self, state: EngineState | None = None, *, keep_completed: int = 1000):
        self.state = state or EngineState()
        self.orders: dict[tuple[int, int], Order] = {}  # (client id, order id) -> live order
        self.completed: list[Order] = []
        self.keep_completed = keep_completed

    # --- ids ----------------------------------------------------------------------------

    def next_valid_id(self, client_id: int) -> int:
        return self.state.next_ids.get(client_id, 1)

    def reserve(self, client_id: int, order_id: int) -> None:
        self.state.next_ids[client_id] = max(self.next_valid_id(client_id), order_id + 1)

    # --- placing and cancelling ---------------------------------------------------------

    def place(self, client_id: int, order_id: int, instrument: Instrument, ticket: OrderTicket, account: str,
              quote: Quote, now: float) -> list[Notice]:
        """Accept, modify or refuse (:class:`OrderRefused`) one placeOrder."""
        live = self.orders.get((client_id, order_id))
        if live is not None:
            return self._modify(live, ticket, quote, now)
        if order_id < self.next_valid_id(client_id):
            raise OrderRefused(*say(103))
        self._validate(instrument, ticket)
        self.reserve(client_id, order_id)
        order = Order(order_id, client_id, self._perm_id(), instrument, ticket, account, now,
                      staged=not ticket.transmit)
        self.orders[(client_id, order_id)] = order
        notices = [Notice("status", order)]
        if ticket.transmit:
            notices += self._transmit_group(order, quote, now)
        return notices

    def cancel(self, client_id: int, order_id: int, now: float, reason: str = "") -> list[Notice]:
        order = self.orders.get((client_id, order_id))
        if order is None:
            done = next((o for o in reversed(self.completed)
                         if o.client_id == client_id and o.order_id == order_id), None)
            if done is not None:
                raise OrderRefused(*say(10148, order_id, done.status.value))
            raise OrderRefused(*say(10147, order_id))
        return self._cancel(order, now, reason)

    def cancel_all(self, now: float) -> list[Notice]:
        notices: list[Notice] = []
        for order in list(self.orders.values()):
            if order.status is not Status.CANCELLED and (order.client_id, order.order_id) in self.orders:
                notices += self._cancel(order, now, "")
        return notices

    def what_if(self, instrument: Instrument, ticket: OrderTicket) -> None:
        """Validate a whatIf order (raises :class:`OrderRefused`); it is never stored."""
        self._validate(instrument, ticket)

    # --- matching -----------------------------------------------------------------------

    def instruments(self) -> set[Instrument]:
        return {order.instrument for order in self.orders.values() if order.working}

    def match(self, instrument: Instrument, quote: Quote, trades: list[Trade], now: float) -> list[Notice]:
        """Fill what the market allows for ``instrument``'s working orders; expire what is due."""
        notices: list[Notice] = []
        book = {"bid": quote.bid_size, "ask": quote.ask_size}
        for order in sorted((o for o in self.orders.values() if o.instrument is instrument and o.working),
                            key=lambda o: o.created):
            if self._expired(order, now):
                notices += self._cancel(order, now, "", expired=True)
                continue
            notices += self._try_fill(order, quote, trades, book, now)
        return notices

    # --- internals ----------------------------------------------------------------------

    def _perm_id(self) -> int:
        self.state.next_perm_id += 1
        return self.state.next_perm_id

    def _validate(self, instrument: Instrument, ticket: OrderTicket) -> None:
        kind = ticket.order_type.upper()
        if kind not in SUPPORTED_TYPES:
            raise OrderRefused(*say(201, f"The simulator supports {', '.join(SUPPORTED_TYPES)} orders, "
                                         f"not {ticket.order_type!r}"))
        if ticket.tif.upper() not in SUPPORTED_TIF:
            raise OrderRefused(*say(201, f"Time in force {ticket.tif!r} is not supported"))
        if ticket.quantity <= 0:
            raise OrderRefused(*say(434))
        if ticket.action.upper() not in ("BUY", "SELL"):
            raise OrderRefused(*say(201, f"Invalid action {ticket.action!r}"))
        prices = [ticket.limit_price] if kind in ("LMT", "STP LMT") else []
        prices += [ticket.aux_price] if kind in ("STP", "STP LMT") else []
        for price in prices:
            if is_unset(price) or price <= 0:
                raise OrderRefused(*say(201, f"{kind} order needs a price"))
            ticks = price / instrument.min_tick
            if abs(ticks - round(ticks)) > 1e-6:
                raise OrderRefused(*say(110))

    def _modify(self, order: Order, ticket: OrderTicket, quote: Quote, now: float) -> list[Notice]:
        if order.status.done:
            raise OrderRefused(*say(104))
        self._validate(order.instrument, ticket)
        if ticket.quantity < order.filled:
            raise OrderRefused(*say(201, "quantity below the filled quantity"))
        order.ticket = ticket
        notices = [Notice("status", order)]
        if ticket.transmit:
            notices += self._transmit_group(order, quote, now)
        return notices

    def _transmit_group(self, order: Order, quote: Quote, now: float) -> list[Notice]:
        """Transmit ``order`` with its staged parent chain; working orders get a first matching."""
        chain = [order]
        parent = self._parent(order)
        while parent is not None and parent.staged:
            chain.append(parent)
            parent = self._parent(parent)
        for staged in list(self.orders.values()):
            if staged.staged and staged.client_id == order.client_id and any(
                    staged.ticket.parent_id == member.order_id for member in chain):
                chain.append(staged)
        notices: list[Notice] = []
        for member in chain:
            member.staged = False
            waits_for_parent = self._parent(member) is not None and self._parent(member).status is not Status.FILLED
            if member.status is Status.PRE_SUBMITTED and not waits_for_parent:
                member.status = Status.SUBMITTED
                notices.append(Notice("status", member))
        for member in chain:
            if member.working:
                book = {"bid": quote.bid_size, "ask": quote.ask_size}
                notices += self._try_fill(member, quote, [], book, now, first=True)
        return notices

    def _parent(self, order: Order) -> Order | None:
        if not order.ticket.parent_id:
            return None
        return self.orders.get((order.client_id, order.ticket.parent_id)) or next(
            (o for o in self.completed if o.client_id == order.client_id and o.order_id == order.ticket.parent_id),
            None)

    def _expired(self, order: Order, now: float) -> bool:
        tif = order.ticket.tif.upper()
        if tif == "DAY":
            created = datetime.fromtimestamp(order.created, EXCHANGE_ZONE)
            end = created.replace(hour=20, minute=0, second=0, microsecond=0)
            return now >= (end.timestamp() if created < end else end.timestamp() + 86_400)
        if tif == "GTD" and order.ticket.good_till_date:
            try:
                until = datetime.strptime(order.ticket.good_till_date[:17], "%Y%m%d %H:%M:%S")
            except ValueError:
                return False
            return now >= until.replace(tzinfo=EXCHANGE_ZONE).timestamp()
        return False

    def _marketable_price(self, order: Order, quote: Quote, trades: list[Trade]) -> float | None:
        ticket, buying = order.ticket, order.ticket.buying
        kind = ticket.order_type.upper()
        if kind in ("STP", "STP LMT") and not order.triggered:
            reference = quote.last if quote.last else quote.mid
            if (buying and reference >= ticket.aux_price) or (not buying and reference <= ticket.aux_price):
                order.triggered = True
            else:
                return None
        touch = quote.ask if buying else quote.bid
        if kind in ("MKT", "STP"):
            return touch
        limit = ticket.limit_price
        if (buying and touch <= limit) or (not buying and touch >= limit):
            return touch
        if any((buying and t.price <= limit) or (not buying and t.price >= limit) for t in trades):
            return limit
        return None

    def _try_fill(self, order: Order, quote: Quote, trades: list[Trade], book: dict[str, int], now: float,
                  first: bool = False) -> list[Notice]:
        side = "ask" if order.ticket.buying else "bid"
        price = self._marketable_price(order, quote, trades)
        tif = order.ticket.tif.upper()
        available = book[side]
        if price is not None and tif == "FOK" and available < order.remaining:
            price = None
        notices: list[Notice] = []
        if price is not None and available > 0:
            shares = min(order.remaining, available)
            book[side] -= int(shares)
            notices += self._fill(order, shares, price, now)
        if first and tif in ("IOC", "FOK") and not order.status.done:
            notices += self._cancel(order, now, "", expired=True)
        return notices

    def _fill(self, order: Order, shares: float, price: float, now: float) -> list[Notice]:
        total = order.filled + shares
        order.average_price = (order.average_price * order.filled + price * shares) / total
        order.filled, order.last_fill_price = total, price
        self.state.exec_sequence += 1
        execution = Execution(f"{order.perm_id:08x}.{self.state.exec_sequence:08x}.01.01", order, shares, price, now,
                              total, order.average_price)
        notices = [Notice("execution", order, execution)]
        if order.remaining <= 0:
            order.status = Status.FILLED
            self._complete(order, now, "Filled")
        notices.append(Notice("status", order))
        notices += self._after_fill(order, now)
        return notices

    def _after_fill(self, order: Order, now: float) -> list[Notice]:
        """Children start once their parent is filled; siblings and OCA members are cancelled."""
        notices: list[Notice] = []
        if order.status is Status.FILLED:
            for child in self._children(order):
                if child.status is Status.PRE_SUBMITTED and not child.staged:
                    child.status = Status.SUBMITTED
                    notices.append(Notice("status", child))
        for other in self._oca_members(order):
            notices += self._cancel(other, now, "", expired=True)
        return notices

    def _children(self, order: Order) -> list[Order]:
        return [o for o in self.orders.values() if o.client_id == order.client_id and
                o.ticket.parent_id == order.order_id]

    def _oca_members(self, order: Order) -> list[Order]:
        group, parent = order.ticket.oca_group, order.ticket.parent_id
        return [o for o in list(self.orders.values()) if o is not order and not o.status.done and (
            (group and o.ticket.oca_group == group) or
            (parent and o.client_id == order.client_id and o.ticket.parent_id == parent))]

    def _cancel(self, order: Order, now: float, reason: str, expired: bool = False) -> list[Notice]:
        order.status = Status.CANCELLED
        self._complete(order, now, "Cancelled by Trader" if not expired else "Cancelled")
        notices = [Notice("status", order, error=None if expired else say(202, reason))]
        for child in self._children(order):
            if not child.status.done:
                notices += self._cancel(child, now, reason, expired=True)
        return notices

    def _complete(self, order: Order, now: float, why: str) -> None:
        self.orders.pop((order.client_id, order.order_id), None)
        order.completed_time = datetime.fromtimestamp(now, EXCHANGE_ZONE).strftime("%Y%m%d %H:%M:%S America/New_York")
        order.why = why
        self.completed.append(order)
        if len(self.completed) > self.keep_completed:
            del self.completed[: len(self.completed) - self.keep_completed]

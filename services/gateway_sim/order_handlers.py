"""Orders: placeOrder, cancelOrder, reqGlobalCancel, whatIf, open and completed orders, executions.

The engine (:mod:`.orders`) decides; these functions turn its notices and refusals into messages
for the negotiated version. ``--orders reject`` refuses every order with 201, ``--read-only``
with 321 and the real Gateway's read-only wording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibproto.codes import say
from ibproto.messages import ClientMessage as C
from services.gateway_sim import order_messages
from services.gateway_sim.account import commission_for
from services.gateway_sim.handlers import instrument_or_error
from services.gateway_sim.order_requests import PlaceOrder
from services.gateway_sim.orders import Order, OrderRefused
from services.gateway_sim.requests import CancelOrder, ExecutionsRequest, Simple

if TYPE_CHECKING:
    from services.gateway_sim.session import Session

READ_ONLY = say(321, "bN", "The API interface is currently in Read-Only mode.")


def place_order(session: "Session", request: PlaceOrder) -> None:
    gateway, order_id = session.gateway, request.order_id
    policy = gateway.policy
    if policy.read_only:
        session.log(f"placeOrder {order_id} refused: read-only API (--read-only); error 321")
        session.send_error(order_id, *READ_ONLY)
        return
    if policy.orders == "reject":
        session.log(f"placeOrder {order_id} rejected (--orders reject); error 201")
        session.send_error(order_id, *say(201, "the simulator rejects every order (--orders reject)"))
        return
    instrument = instrument_or_error(session, order_id, request.contract, "placeOrder")
    if instrument is None:
        return
    account = request.ticket.account or gateway.account.account_id
    if account != gateway.account.account_id:
        session.send_error(order_id, *say(321, "bN", f"Invalid account code '{account}'"))
        return
    now = gateway.now()
    quote = gateway.market.quote(instrument, now)
    client_id = session.client_id or 0
    try:
        if request.ticket.what_if:
            gateway.engine.what_if(instrument, request.ticket)
            _preview(session, request, instrument, account)
            return
        notices = gateway.engine.place(client_id, order_id, instrument, request.ticket, account, quote, now)
    except OrderRefused as refusal:
        session.log(f"placeOrder {order_id} refused: error {refusal.code} {refusal.text}")
        session.send_error(order_id, refusal.code, refusal.text)
        return
    session.log(f"placeOrder {order_id}: {request.ticket.action} {request.ticket.quantity:g} "
                f"{instrument.display_symbol} {request.ticket.order_type}")
    gateway.deliver(notices)


def _preview(session: "Session", request: PlaceOrder, instrument, account: str) -> None:
    gateway = session.gateway
    ticket = request.ticket
    price = ticket.limit_price if ticket.order_type.upper() in ("LMT", "STP LMT") else gateway.price_of(instrument)
    impact = gateway.account.margin_impact(instrument, ticket.signed(ticket.quantity), price, gateway.price_of)
    commission = commission_for(instrument, ticket.quantity, price)
    money = {key: f"{value:.2f}" for key, value in impact.items()}
    preview = {"initMarginBefore": money["before"], "maintMarginBefore": money["before"],
               "equityWithLoanBefore": money["equity"], "initMarginChange": money["change"],
               "maintMarginChange": money["change"], "equityWithLoanChange": "0.00",
               "initMarginAfter": money["after"], "maintMarginAfter": money["after"],
               "equityWithLoanAfter": money["equity"], "commission": f"{commission}",
               "minCommission": f"{commission}", "maxCommission": f"{commission}", "commissionCurrency": "USD"}
    order = Order(request.order_id, session.client_id or 0, 0, instrument, ticket, account, gateway.now())
    session.log(f"whatIf {request.order_id}: margin change {money['change']}, commission {commission}")
    session.send(order_messages.open_order(session.server_version, order, what_if=preview))


def cancel_order(session: "Session", request: CancelOrder) -> None:
    gateway = session.gateway
    try:
        notices = gateway.engine.cancel(session.client_id or 0, request.order_id, gateway.now())
    except OrderRefused as refusal:
        session.log(f"cancelOrder {request.order_id}: error {refusal.code}")
        session.send_error(request.order_id, refusal.code, refusal.text)
        return
    gateway.deliver(notices)


def global_cancel(session: "Session", request: Simple) -> None:
    gateway = session.gateway
    notices = gateway.engine.cancel_all(gateway.now())
    session.log(f"reqGlobalCancel: {sum(n.kind == 'status' for n in notices)} order(s) cancelled")
    gateway.deliver(notices)


def open_orders(session: "Session", request: Simple) -> None:
    """reqOpenOrders: this client's live orders; reqAllOpenOrders: every client's."""
    everyone = request.message is C.REQ_ALL_OPEN_ORDERS or session.client_id == 0
    for order in list(session.gateway.engine.orders.values()):
        if everyone or order.client_id == session.client_id:
            session.send(order_messages.open_order(session.server_version, order),
                         order_messages.order_status(order))
    session.send(order_messages.open_order_end())


def completed_orders(session: "Session", request: Simple) -> None:
    for order in session.gateway.engine.completed:
        session.send(order_messages.completed_order(session.server_version, order))
    session.send(order_messages.completed_orders_end())


def executions(session: "Session", request: ExecutionsRequest) -> None:
    for execution in list(session.gateway.executions):
        order = execution.order
        if request.client_id and order.client_id != request.client_id:
            continue
        if request.symbol and request.symbol.upper() != order.instrument.symbol:
            continue
        if request.sec_type and request.sec_type.upper() != order.instrument.sec_type:
            continue
        if request.side and request.side.upper()[:1] != ("B" if order.ticket.buying else "S"):
            continue
        session.send(order_messages.exec_details(session.server_version, request.request_id, execution),
                     order_messages.commission_report(execution))
    session.send(order_messages.execution_details_end(request.request_id))


HANDLERS = {PlaceOrder: place_order, CancelOrder: cancel_order, ExecutionsRequest: executions}
BY_MESSAGE = {C.REQ_GLOBAL_CANCEL: global_cancel, C.REQ_OPEN_ORDERS: open_orders,
              C.REQ_ALL_OPEN_ORDERS: open_orders, C.REQ_COMPLETED_ORDERS: completed_orders}

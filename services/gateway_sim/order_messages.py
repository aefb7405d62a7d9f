"""Order messages for the negotiated server version: openOrder, orderStatus, completedOrder,
execDetails and commissionReport.

Layouts are the ones the official decoder reads for versions 157..178 (``version`` = the
negotiated server version; every field group marked with a constant of :mod:`ibproto.versions`
appears from that version on). Unset doubles and integers are written the way TWS writes them
(Java's ``Double.MAX_VALUE`` and ``Integer.MAX_VALUE``), so clients show them as "unset".
"""

from __future__ import annotations

from datetime import datetime

from ibproto import versions
from ibproto.fields import is_unset
from ibproto.messages import ServerMessage as S
from ibproto.wire import encode_message
from services.gateway_sim.calendar import login_zone
from services.gateway_sim.catalog import Instrument
from services.gateway_sim.orders import Execution, Order

UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
UNSET_INT_TEXT = "2147483647"


def _price(value: float) -> object:
    return UNSET_DOUBLE_TEXT if is_unset(value) else value


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _contract(instrument: Instrument, exchange: str) -> list[object]:
    """conId, symbol, secType, expiry, strike, right, multiplier, exchange, currency, localSymbol, tradingClass."""
    return [instrument.con_id, instrument.symbol, instrument.sec_type, "", "0", "", "", exchange,
            instrument.currency, instrument.local_symbol, instrument.trading_class]


def _exchange(instrument: Instrument) -> str:
    return instrument.default_exchange


def order_status(order: Order) -> bytes:
    """orderStatus: status, filled, remaining, average and last fill price, ids, whyHeld, mktCapPrice."""
    return encode_message(S.ORDER_STATUS, order.order_id, order.status.value, _quantity(order.filled),
                          _quantity(order.remaining), order.average_price, order.perm_id, order.ticket.parent_id,
                          order.last_fill_price, order.client_id, "", 0)


def _order_head(order: Order) -> list[object]:
    t = order.ticket
    return [t.action, _quantity(t.quantity), t.order_type, _price(t.limit_price), _price(t.aux_price), t.tif,
            t.oca_group, order.account, "O", 0, t.order_ref]


def open_order(version: int, order: Order, *, what_if: dict[str, str] | None = None) -> bytes:
    """openOrder with its OrderState; ``what_if`` fills the margin and commission fields of a preview."""
    t = order.ticket
    fields: list[object] = [S.OPEN_ORDER, order.order_id, *_contract(order.instrument, _exchange(order.instrument)),
                            *_order_head(order), order.client_id, order.perm_id, t.outside_rth, 0, 0,
                            t.good_after_time, "", "", "", ""]
    if version < versions.FA_PROFILE_DESUPPORT:
        fields.append("")  # faProfile
    fields += ["", t.good_till_date, "", UNSET_DOUBLE_TEXT, "", 0, "", -1,  # modelCode .. exemptCode
               0, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT,  # auctionStrategy, box order
               UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT,  # stockRangeLower/Upper
               t.display_size or UNSET_INT_TEXT, 0, 0, 0, UNSET_INT_TEXT, t.oca_type or 3,  # .. ocaType
               0, 0, UNSET_DOUBLE_TEXT,  # eTradeOnly, firmQuoteOnly, nbboPriceCap
               t.parent_id, 0,  # parentId, triggerMethod
               UNSET_DOUBLE_TEXT, 0, "", UNSET_DOUBLE_TEXT,  # volatility, type, dn order type, dn aux
               0, 0,  # continuousUpdate, referencePriceType
               _price(t.trail_stop_price), _price(t.trailing_percent),
               UNSET_DOUBLE_TEXT, UNSET_INT_TEXT,  # basisPoints, basisPointsType
               "", 0, 0, 0,  # comboLegsDescrip, comboLegs, orderComboLegs, smartComboRoutingParams
               UNSET_INT_TEXT, UNSET_INT_TEXT, UNSET_DOUBLE_TEXT,  # scale init/subs level, price increment
               "",  # hedgeType
               0, "", "", 0,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
               0,  # deltaNeutralContract present
               "",  # algoStrategy
               0,  # solicited
               t.what_if, order.status.value]
    preview = what_if or {}
    fields += [preview.get(key, UNSET_DOUBLE_TEXT if key.endswith("Before") or key.endswith("Change") else "")
               for key in ("initMarginBefore", "maintMarginBefore", "equityWithLoanBefore", "initMarginChange",
                           "maintMarginChange", "equityWithLoanChange", "initMarginAfter", "maintMarginAfter",
                           "equityWithLoanAfter")]
    fields += [preview.get("commission", UNSET_DOUBLE_TEXT), preview.get("minCommission", UNSET_DOUBLE_TEXT),
               preview.get("maxCommission", UNSET_DOUBLE_TEXT), preview.get("commissionCurrency", ""),
               preview.get("warningText", ""),
               0, 0,  # randomizeSize, randomizePrice
               0,  # conditions
               "None", UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT,  # adjusted order type .. lmtPriceOffset
               UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, 0,  # adjusted stop/limit/trailing, unit
               "", "", "",  # soft dollar tier
               UNSET_DOUBLE_TEXT, 0, 0, 0, 0]  # cashQty, dontUseAutoPriceForHedge, isOms, discretionaryUpTo, priceMgmt
    fields += _tail(version)
    return encode_message(*fields)


def _tail(version: int) -> list[object]:
    tail: list[object] = []
    if version >= versions.DURATION:
        tail.append(UNSET_INT_TEXT)
    if version >= versions.POST_TO_ATS:
        tail.append(UNSET_INT_TEXT)
    if version >= versions.AUTO_CANCEL_PARENT:
        tail.append(0)
    if version >= versions.PEGBEST_PEGMID_OFFSETS:
        tail += [UNSET_INT_TEXT, UNSET_INT_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT]
    return tail


def completed_order(version: int, order: Order) -> bytes:
    """completedOrder: a filled or cancelled order, as reqCompletedOrders lists it."""
    t = order.ticket
    fields: list[object] = [S.COMPLETED_ORDER, *_contract(order.instrument, _exchange(order.instrument)),
                            *_order_head(order), order.perm_id, t.outside_rth, 0, 0, t.good_after_time,
                            "", "", ""]
    if version < versions.FA_PROFILE_DESUPPORT:
        fields.append("")
    fields += ["", t.good_till_date, "", UNSET_DOUBLE_TEXT, "", 0, "", -1,
               UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT,
               t.display_size or UNSET_INT_TEXT, 0, 0, UNSET_INT_TEXT, t.oca_type or 3, 0,
               UNSET_DOUBLE_TEXT, 0, "", UNSET_DOUBLE_TEXT, 0, 0,
               _price(t.trail_stop_price), _price(t.trailing_percent),
               "", 0, 0, 0, UNSET_INT_TEXT, UNSET_INT_TEXT, UNSET_DOUBLE_TEXT, "",
               "", "", 0, 0, "", 0, order.status.value, 0, 0,
               0,  # conditions
               UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, 0, 0, "", _quantity(order.filled), 0, 0, "", 0,
               0, 0, order.completed_time, order.why]
    if version >= versions.PEGBEST_PEGMID_OFFSETS:
        fields += [UNSET_INT_TEXT, UNSET_INT_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT]
    return encode_message(*fields)


def execution_time(epoch: float) -> str:
    name, zone = login_zone()
    return f"{datetime.fromtimestamp(epoch, zone):%Y%m%d %H:%M:%S} {name}"


def exec_details(version: int, request_id: int, execution: Execution) -> bytes:
    order = execution.order
    instrument = order.instrument
    side = "BOT" if order.ticket.buying else "SLD"
    fields: list[object] = [S.EXECUTION_DATA, request_id, order.order_id,
                            *_contract(instrument, instrument.primary_exchange), execution.exec_id,
                            execution_time(execution.time), order.account, instrument.primary_exchange, side,
                            _quantity(execution.shares), execution.price, order.perm_id, order.client_id, 0,
                            _quantity(execution.cumulative), execution.average_price, order.ticket.order_ref,
                            "", "", "", 2 if order.ticket.order_type.upper() in ("MKT", "STP") else 1]
    if version >= versions.PENDING_PRICE_REVISION:
        fields.append(0)
    return encode_message(*fields)


def commission_report(execution: Execution) -> bytes:
    realized = UNSET_DOUBLE_TEXT if execution.realized_pnl is None else execution.realized_pnl
    return encode_message(S.COMMISSION_REPORT, 1, execution.exec_id, execution.commission,
                          execution.order.instrument.currency, realized, UNSET_DOUBLE_TEXT, 0)


def open_order_end() -> bytes:
    return encode_message(S.OPEN_ORDER_END, 1)


def completed_orders_end() -> bytes:
    return encode_message(S.COMPLETED_ORDERS_END)


def execution_details_end(request_id: int) -> bytes:
    return encode_message(S.EXECUTION_DATA_END, 1, request_id)

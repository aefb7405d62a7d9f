"""Answers to decoded requests once the API is started: market data, account and positions.

Handlers are plain functions of the session (no handler object holding the session, so no
reference cycle). :func:`handle` dispatches by request type or message id; orders are answered
in :mod:`.order_handlers`, historical and reference data in :mod:`.data_handlers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ibproto.codes import say
from ibproto.messages import ClientMessage as C
from services.gateway_sim import messages
from services.gateway_sim.catalog import ContractQuery, Instrument, find_instrument
from services.gateway_sim.requests import AccountRequest, Cancel, ContractRequest, Simple
from services.gateway_sim.streams import GENERIC_TICKS, DepthLine, MarketDataLine, RealTimeBars, TickByTickLine

if TYPE_CHECKING:
    from services.gateway_sim.session import Session

MAX_DEPTH_LINES = 3
MAX_ACCOUNT_SUMMARIES = 2
MAX_TICK_BY_TICK = 5


def handle(session: "Session", request: object) -> None:
    from services.gateway_sim import data_handlers, order_handlers

    message = getattr(request, "message", None)
    handler = _BY_MESSAGE.get(message) if message is not None else None
    if handler is None:
        handler = order_handlers.HANDLERS.get(type(request)) or data_handlers.by_message(message)
    if handler is None:
        handler = data_handlers.HANDLERS[type(request)]
    handler(session, request)


def instrument_or_error(session: "Session", request_id: int, contract: ContractQuery, what: str,
                        error: tuple[int, str] = messages.NO_SECURITY_DEFINITION) -> Instrument | None:
    instrument = find_instrument(contract)
    if instrument is None:
        session.log(f"{what} {request_id} for unknown contract {contract.describe()}: error {error[0]}")
        session.send_error(request_id, *error)
    return instrument


# --- market data ------------------------------------------------------------------------------

def market_data(session: "Session", request: ContractRequest) -> None:
    request_id = request.request_id
    instrument = instrument_or_error(session, request_id, request.contract, "reqMktData")
    if instrument is None:
        return
    if request_id in session.lines:
        session.send_error(request_id, *say(322, "bd", f"Duplicate ticker id {request_id}"))
        return
    limit = session.gateway.policy.market_data_lines
    if not request.snapshot and len(session.lines) >= limit:
        session.log(f"reqMktData {request_id}: {limit} market data lines in use; error 101")
        session.send_error(request_id, *say(101))
        return
    generic = frozenset(t.strip() for t in request.generic_ticks.split(",") if t.strip())
    unknown = sorted(generic - GENERIC_TICKS)
    if unknown:
        session.send_error(request_id, *say(321, "bN", f"Incorrect generic tick list of {','.join(unknown)}.  "
                                                       f"Legal ones for (STK) are: {','.join(sorted(GENERIC_TICKS))}"))
        generic -= set(unknown)
    now = session.gateway.now()
    quote = session.gateway.market.quote(instrument, now)
    line = MarketDataLine(request_id, instrument, session.market_data_type, generic)
    session.send(messages.market_data_type(request_id, session.market_data_type),
                 messages.tick_request_parameters(request_id, instrument), *line.opening(quote, now))
    if request.snapshot:
        session.send(messages.tick_snapshot_end(request_id))
    else:
        session.lines[request_id] = line


def cancel(session: "Session", request: Cancel) -> None:
    """Every cancel*: forget the subscription; unknown ids get the code IB uses for that request."""
    rid = request.request_id
    if request.message is C.CANCEL_MKT_DATA:
        if session.lines.pop(rid, None) is None:
            session.send_error(rid, *say(300, rid))
        return
    if request.message is C.CANCEL_MKT_DEPTH:
        if session.streams.pop(rid, None) is None:
            session.send_error(rid, *say(310, rid))
        return
    if request.message in (C.CANCEL_PNL, C.CANCEL_PNL_SINGLE):
        session.pnl.pop(rid, None)
        return
    if request.message is C.CANCEL_ACCOUNT_SUMMARY:
        session.summaries.pop(rid, None)
        return
    session.streams.pop(rid, None)


def set_market_data_type(session: "Session", request: Simple) -> None:
    if request.value not in (1, 2, 3, 4):
        session.send_error(-1, *say(321, "bN", f"market data type {request.value} is not 1, 2, 3 or 4"))
        return
    session.market_data_type = request.value


def depth(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqMktDepth")
    if instrument is None:
        return
    if sum(isinstance(s, DepthLine) for s in session.streams.values()) >= MAX_DEPTH_LINES:
        session.send_error(request.request_id, *say(309, MAX_DEPTH_LINES))
        return
    rows = max(1, min(request.rows or 5, 10))
    line = DepthLine(request.request_id, instrument, rows, request.smart_depth)
    session.streams[request.request_id] = line
    now = session.gateway.now()
    session.send(*line.update(session.gateway.market.quote(instrument, now), [], now))


def tick_by_tick(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqTickByTickData")
    if instrument is None:
        return
    kind = request.what_to_show
    if kind not in ("Last", "AllLast", "BidAsk", "MidPoint") or (instrument.is_forex and "Last" in kind):
        session.send_error(request.request_id, *say(321, "bT", f"Invalid tick type {kind!r}"))
        return
    if sum(isinstance(s, TickByTickLine) for s in session.streams.values()) >= MAX_TICK_BY_TICK:
        session.send_error(request.request_id, *say(322, "bT",
                                                    "Max number of tick-by-tick requests has been reached."))
        return
    line = TickByTickLine(request.request_id, instrument, kind)
    session.streams[request.request_id] = line
    now = session.gateway.now()
    session.send(*line.update(session.gateway.market.quote(instrument, now), [], now))


def real_time_bars(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqRealTimeBars")
    if instrument is None:
        return
    what = request.what_to_show.upper()
    if request.bar_size != "5" or what not in ("TRADES", "MIDPOINT", "BID", "ASK") or \
            (instrument.is_forex and what == "TRADES"):
        session.send_error(request.request_id, *say(420, f"bar size {request.bar_size}, whatToShow {what} "
                                                         f"(only 5-second bars of TRADES, MIDPOINT, BID, ASK)"))
        return
    session.streams[request.request_id] = RealTimeBars(request.request_id, instrument, what)


# --- account and positions --------------------------------------------------------------------

def _values(session: "Session") -> list[tuple[str, str, str]]:
    return session.gateway.account.values(session.gateway.price_of)


def account_updates(session: "Session", request: AccountRequest) -> None:
    session.account_updates = request.subscribe
    if not request.subscribe:
        return
    gateway = session.gateway
    account = gateway.account
    name = request.account or account.account_id
    if name == account.account_id:
        for key, value, currency in _values(session):
            session.send(messages.account_value(key, value, currency, name))
        for line in account.portfolio(gateway.price_of):
            session.send(messages.portfolio_value(line, name))
        session.send(messages.account_time(gateway.clock.now()))
    session.send(messages.account_download_end(name))


def account_updates_multi(session: "Session", request: AccountRequest) -> None:
    account = session.gateway.account
    if request.account in ("", account.account_id):
        for key, value, currency in _values(session):
            session.send(messages.account_update_multi(request.request_id, account.account_id,
                                                       request.model_code, key, value, currency))
    session.send(messages.account_update_multi_end(request.request_id))


def positions_multi(session: "Session", request: AccountRequest) -> None:
    account = session.gateway.account
    for holding in account.holdings:
        session.send(messages.position_multi(request.request_id, account.account_id, holding.instrument,
                                             holding.quantity, holding.average_cost, request.model_code))
    session.send(messages.position_multi_end(request.request_id))


def account_summary(session: "Session", request: AccountRequest) -> None:
    if len(session.summaries) >= MAX_ACCOUNT_SUMMARIES and request.request_id not in session.summaries:
        session.send_error(request.request_id, *say(322, "bd", "Maximum number of account summary requests "
                                                               "exceeded"))
        return
    session.summaries[request.request_id] = request.tags
    account = session.gateway.account
    wanted = {tag.strip() for tag in request.tags.split(",") if tag.strip()}
    for key, value, currency in _values(session):
        if not wanted or key in wanted or "$LEDGER" in request.tags:
            session.send(messages.account_summary(request.request_id, account.account_id, key, value, currency))
    session.send(messages.account_summary_end(request.request_id))


def positions(session: "Session", request: Simple) -> None:
    account = session.gateway.account
    session.positions = request.message is C.REQ_POSITIONS
    if not session.positions:
        return
    for holding in account.holdings:
        session.send(messages.position(account.account_id, holding.instrument, holding.quantity,
                                       holding.average_cost))
    session.send(messages.position_end())


def position_update(session: "Session", instrument: Instrument) -> None:
    """A fill moved ``instrument``'s position: tell the subscribers, as a Gateway does at once."""
    gateway = session.gateway
    account = gateway.account
    holding = account.holding(instrument)
    quantity, cost = (holding.quantity, holding.average_cost) if holding else (0.0, 0.0)
    if session.positions:
        session.send(messages.position(account.account_id, instrument, quantity, cost))
    if session.account_updates:
        for line in account.portfolio(gateway.price_of):
            if line.instrument is instrument:
                session.send(messages.portfolio_value(line, account.account_id))
        if quantity == 0 and holding is not None:
            from services.gateway_sim.account import PortfolioLine

            session.send(messages.portfolio_value(PortfolioLine(instrument, 0, gateway.price_of(instrument), 0.0, 0.0,
                                                                0.0, round(holding.realized_pnl, 2)),
                                                  account.account_id))
        for key, value, currency in _values(session):
            session.send(messages.account_value(key, value, currency, account.account_id))


def pnl(session: "Session", request: AccountRequest) -> None:
    account = session.gateway.account
    if request.account and request.account != account.account_id:
        session.send_error(request.request_id, *say(321, "bN", f"Invalid account code {request.account}"))
        return
    if request.message is C.REQ_PNL_SINGLE:
        from services.gateway_sim.catalog import find_instrument as find

        if find(ContractQuery(con_id=request.con_id)) is None:
            session.send_error(request.request_id, *messages.NO_SECURITY_DEFINITION)
            return
        session.pnl[request.request_id] = ("single", request.con_id)
    else:
        session.pnl[request.request_id] = ("account", 0)
    session.send(*pnl_frames(session, request.request_id, *session.pnl[request.request_id]))


def pnl_frames(session: "Session", request_id: int, kind: str, con_id: int) -> list[bytes]:
    gateway = session.gateway
    if kind == "account":
        numbers = gateway.account.pnl(gateway.price_of)
        return [messages.pnl(request_id, numbers.daily, numbers.unrealized, numbers.realized)]
    instrument = find_instrument(ContractQuery(con_id=con_id))
    if instrument is None:
        return []
    quantity, numbers, value = gateway.account.pnl_single(instrument, gateway.price_of)
    return [messages.pnl_single(request_id, quantity, numbers.daily, numbers.unrealized, numbers.realized, value)]


def managed_accounts(session: "Session", request: Simple) -> None:
    session.send(messages.managed_accounts([session.gateway.account.account_id]))


def current_time(session: "Session", request: Simple) -> None:
    session.send(messages.current_time(int(session.gateway.now())))


def ids(session: "Session", request: Simple) -> None:
    session.send(messages.next_valid_id(session.gateway.engine.next_valid_id(session.client_id or 0)))


def nothing(session: "Session", request: object) -> None:
    """Requests a Gateway takes without answering (log level, bulletins on a quiet day)."""


_BY_MESSAGE: dict[object, Callable] = {
    C.REQ_MKT_DATA: market_data, C.REQ_MKT_DEPTH: depth, C.REQ_TICK_BY_TICK_DATA: tick_by_tick,
    C.REQ_REAL_TIME_BARS: real_time_bars, C.REQ_MARKET_DATA_TYPE: set_market_data_type,
    C.REQ_ACCT_DATA: account_updates, C.REQ_ACCOUNT_UPDATES_MULTI: account_updates_multi,
    C.REQ_POSITIONS_MULTI: positions_multi, C.REQ_ACCOUNT_SUMMARY: account_summary,
    C.REQ_POSITIONS: positions, C.CANCEL_POSITIONS: positions, C.REQ_PNL: pnl, C.REQ_PNL_SINGLE: pnl,
    C.REQ_MANAGED_ACCTS: managed_accounts, C.REQ_CURRENT_TIME: current_time, C.REQ_IDS: ids,
    C.SET_SERVER_LOGLEVEL: nothing, C.REQ_NEWS_BULLETINS: nothing, C.CANCEL_NEWS_BULLETINS: nothing,
    C.VERIFY_REQUEST: nothing, C.VERIFY_MESSAGE: nothing, C.VERIFY_AND_AUTH_REQUEST: nothing,
    C.VERIFY_AND_AUTH_MESSAGE: nothing, C.REQ_AUTO_OPEN_ORDERS: nothing,
}
for _message in C:
    if _message.name.startswith("CANCEL_") and _message not in (C.CANCEL_ORDER, C.CANCEL_POSITIONS,
                                                                C.CANCEL_NEWS_BULLETINS):
        _BY_MESSAGE[_message] = cancel

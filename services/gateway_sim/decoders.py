"""One decoder per request: the field order each request is sent in (server versions 157..178).

Each takes a :class:`~ibproto.fields.FieldReader` positioned after the message id and returns one
of the request values of :mod:`.requests`.
"""

from __future__ import annotations

from typing import Callable

from ibproto import versions
from ibproto.fields import FieldReader
from ibproto.messages import ClientMessage as C
from services.gateway_sim.catalog import ContractQuery
from services.gateway_sim.requests import (AccountRequest, Cancel, CancelOrder, ContractRequest, ExecutionsRequest,
                                           ScannerRequest, Simple, StartApi, read_contract, skip_combo_legs)

# --- one decoder per request ------------------------------------------------------------

def _market_data(r: FieldReader, version: int) -> ContractRequest:
    r.skip("version")
    request_id = r.request_id_field()
    contract = read_contract(r)
    skip_combo_legs(r, contract)
    if r.flag("deltaNeutralContractPresent"):
        r.skip("deltaNeutralContract", 3)
    generic, snapshot = r.text("genericTickList"), r.flag("snapshot")
    r.optional_text("regulatorySnapshot")
    return ContractRequest(C.REQ_MKT_DATA, request_id, contract, generic_ticks=generic, snapshot=snapshot)


def _contract_details(r: FieldReader, version: int) -> ContractRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return ContractRequest(C.REQ_CONTRACT_DATA, request_id, read_contract(r))


def _historical_data(r: FieldReader, version: int) -> ContractRequest:
    request_id = r.request_id_field()
    contract = read_contract(r)
    r.skip("includeExpired")
    end, bar_size, duration = r.text("endDateTime"), r.text("barSizeSetting"), r.text("durationStr")
    use_rth, what = r.flag("useRTH"), r.text("whatToShow")
    format_date = r.integer("formatDate", default=1)
    skip_combo_legs(r, contract)
    keep = r.flag("keepUpToDate")
    return ContractRequest(C.REQ_HISTORICAL_DATA, request_id, contract, end=end, bar_size=bar_size,
                           duration=duration, use_rth=use_rth, what_to_show=what, format_date=format_date,
                           keep_up_to_date=keep)


def _depth(r: FieldReader, version: int) -> ContractRequest:
    r.skip("version")
    request_id = r.request_id_field()
    contract = read_contract(r)
    rows, smart = r.integer("numRows"), r.flag("isSmartDepth")
    return ContractRequest(C.REQ_MKT_DEPTH, request_id, contract, rows=rows, smart_depth=smart)


def _real_time_bars(r: FieldReader, version: int) -> ContractRequest:
    r.skip("version")
    request_id = r.request_id_field()
    contract = read_contract(r)
    size, what, rth = r.integer("barSize"), r.text("whatToShow"), r.flag("useRTH")
    return ContractRequest(C.REQ_REAL_TIME_BARS, request_id, contract, bar_size=str(size), what_to_show=what,
                           use_rth=rth)


def _tick_by_tick(r: FieldReader, version: int) -> ContractRequest:
    request_id = r.request_id_field()
    contract = read_contract(r)
    kind, count, ignore = r.text("tickType"), r.integer("numberOfTicks"), r.flag("ignoreSize")
    return ContractRequest(C.REQ_TICK_BY_TICK_DATA, request_id, contract, what_to_show=kind, count=count,
                           ignore_size=ignore)


def _head_timestamp(r: FieldReader, version: int) -> ContractRequest:
    request_id = r.request_id_field()
    contract = read_contract(r)
    r.skip("includeExpired")
    rth, what, fmt = r.flag("useRTH"), r.text("whatToShow"), r.integer("formatDate", default=1)
    return ContractRequest(C.REQ_HEAD_TIMESTAMP, request_id, contract, use_rth=rth, what_to_show=what,
                           format_date=fmt)


def _histogram(r: FieldReader, version: int) -> ContractRequest:
    request_id = r.request_id_field()
    contract = read_contract(r)
    r.skip("includeExpired")
    rth, period = r.flag("useRTH"), r.text("timePeriod")
    return ContractRequest(C.REQ_HISTOGRAM_DATA, request_id, contract, use_rth=rth, duration=period)


def _historical_ticks(r: FieldReader, version: int) -> ContractRequest:
    request_id = r.request_id_field()
    contract = read_contract(r)
    r.skip("includeExpired")
    start, end, count = r.text("startDateTime"), r.text("endDateTime"), r.integer("numberOfTicks")
    what, rth, ignore = r.text("whatToShow"), r.flag("useRth"), r.flag("ignoreSize")
    return ContractRequest(C.REQ_HISTORICAL_TICKS, request_id, contract, start=start, end=end, count=count,
                           what_to_show=what, use_rth=rth, ignore_size=ignore)


def _fundamental(r: FieldReader, version: int) -> ContractRequest:
    r.skip("version")
    request_id = r.request_id_field()
    con_id, symbol, sec_type = r.integer("contract.conId"), r.text("contract.symbol"), r.text("contract.secType")
    exchange, primary = r.text("contract.exchange"), r.text("contract.primaryExchange")
    currency, local = r.text("contract.currency"), r.text("contract.localSymbol")
    report = r.text("reportType")
    contract = ContractQuery(con_id, symbol, sec_type, currency, exchange, local, primary_exchange=primary)
    return ContractRequest(C.REQ_FUNDAMENTAL_DATA, request_id, contract, report_type=report)


def _option_calculation(message: C) -> Callable[[FieldReader, int], ContractRequest]:
    def decode(r: FieldReader, version: int) -> ContractRequest:
        r.skip("version")
        request_id = r.request_id_field()
        contract = read_contract(r)
        value, under = r.number("optionPrice" if message is C.REQ_CALC_IMPLIED_VOLAT else "volatility"), \
            r.number("underPrice")
        return ContractRequest(message, request_id, contract, value=value, under_price=under)
    return decode


def _account_updates(r: FieldReader, version: int) -> AccountRequest:
    r.skip("version")
    return AccountRequest(C.REQ_ACCT_DATA, subscribe=r.flag("subscribe"), account=r.text("acctCode"))


def _multi(message: C) -> Callable[[FieldReader, int], AccountRequest]:
    def decode(r: FieldReader, version: int) -> AccountRequest:
        r.skip("version")
        request_id = r.request_id_field()
        return AccountRequest(message, request_id, account=r.text("account"), model_code=r.text("modelCode"))
    return decode


def _account_summary(r: FieldReader, version: int) -> AccountRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return AccountRequest(C.REQ_ACCOUNT_SUMMARY, request_id, group=r.text("groupName"), tags=r.text("tags"))


def _pnl(r: FieldReader, version: int) -> AccountRequest:
    request_id = r.request_id_field()
    return AccountRequest(C.REQ_PNL, request_id, account=r.text("account"), model_code=r.text("modelCode"))


def _pnl_single(r: FieldReader, version: int) -> AccountRequest:
    request_id = r.request_id_field()
    account, model = r.text("account"), r.text("modelCode")
    return AccountRequest(C.REQ_PNL_SINGLE, request_id, account=account, model_code=model,
                          con_id=r.integer("conId"))


def _executions(r: FieldReader, version: int) -> ExecutionsRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return ExecutionsRequest(request_id, r.integer("clientId"), r.text("acctCode"), r.text("time"),
                             r.text("symbol"), r.text("secType"), r.text("exchange"), r.text("side"))


def _scanner(r: FieldReader, version: int) -> ScannerRequest:
    request_id = r.request_id_field()
    rows = r.integer("numberOfRows", default=-1)
    instrument, location, code = r.text("instrument"), r.text("locationCode"), r.text("scanCode")
    above, below = r.number("abovePrice"), r.number("belowPrice")
    volume = r.integer("aboveVolume")
    return ScannerRequest(request_id, rows, instrument, location, code, above, below, volume)


def _cancel_order(r: FieldReader, version: int) -> CancelOrder:
    r.skip("version")
    order_id = r.request_id_field("orderId")
    if version >= versions.MANUAL_ORDER_TIME:
        r.optional_text("manualOrderCancelTime")
    return CancelOrder(order_id)


def _versioned_cancel(message: C) -> Callable[[FieldReader, int], Cancel]:
    def decode(r: FieldReader, version: int) -> Cancel:
        r.skip("version")
        return Cancel(message, r.request_id_field())
    return decode


def _cancel(message: C) -> Callable[[FieldReader, int], Cancel]:
    return lambda r, version: Cancel(message, r.request_id_field())


def _simple(message: C, *, version_field: bool = True, request_id: bool = False,
            value: str | None = None, texts: int = 0) -> Callable[[FieldReader, int], Simple]:
    """A request of fixed shape: [version], [reqId], [one integer], [some texts]."""
    def decode(r: FieldReader, version: int) -> Simple:
        if version_field:
            r.optional_text("version")
        rid = r.request_id_field() if request_id else -1
        number = r.integer(value) if value and r.remaining else 0
        words = tuple(r.optional_text(f"field {n + 1}") for n in range(texts))
        return Simple(message, rid, number, words[0] if words else "", words)
    return decode


DECODERS: dict[C, Callable[[FieldReader, int], object]] = {
    C.REQ_MKT_DATA: _market_data,
    C.CANCEL_MKT_DATA: _versioned_cancel(C.CANCEL_MKT_DATA),
    C.CANCEL_ORDER: _cancel_order,
    C.REQ_OPEN_ORDERS: _simple(C.REQ_OPEN_ORDERS),
    C.REQ_ACCT_DATA: _account_updates,
    C.REQ_EXECUTIONS: _executions,
    C.REQ_IDS: _simple(C.REQ_IDS, value="numIds"),
    C.REQ_CONTRACT_DATA: _contract_details,
    C.REQ_MKT_DEPTH: _depth,
    C.CANCEL_MKT_DEPTH: _versioned_cancel(C.CANCEL_MKT_DEPTH),
    C.REQ_NEWS_BULLETINS: _simple(C.REQ_NEWS_BULLETINS, value="allMsgs"),
    C.CANCEL_NEWS_BULLETINS: _simple(C.CANCEL_NEWS_BULLETINS),
    C.SET_SERVER_LOGLEVEL: _simple(C.SET_SERVER_LOGLEVEL, value="logLevel"),
    C.REQ_AUTO_OPEN_ORDERS: _simple(C.REQ_AUTO_OPEN_ORDERS, value="bAutoBind"),
    C.REQ_ALL_OPEN_ORDERS: _simple(C.REQ_ALL_OPEN_ORDERS),
    C.REQ_MANAGED_ACCTS: _simple(C.REQ_MANAGED_ACCTS),
    C.REQ_FA: _simple(C.REQ_FA, value="faDataType"),
    C.REPLACE_FA: _simple(C.REPLACE_FA, texts=3),
    C.REQ_HISTORICAL_DATA: _historical_data,
    C.EXERCISE_OPTIONS: _simple(C.EXERCISE_OPTIONS, request_id=True),
    C.REQ_SCANNER_SUBSCRIPTION: _scanner,
    C.CANCEL_SCANNER_SUBSCRIPTION: _versioned_cancel(C.CANCEL_SCANNER_SUBSCRIPTION),
    C.REQ_SCANNER_PARAMETERS: _simple(C.REQ_SCANNER_PARAMETERS),
    C.CANCEL_HISTORICAL_DATA: _versioned_cancel(C.CANCEL_HISTORICAL_DATA),
    C.REQ_CURRENT_TIME: _simple(C.REQ_CURRENT_TIME),
    C.REQ_REAL_TIME_BARS: _real_time_bars,
    C.CANCEL_REAL_TIME_BARS: _versioned_cancel(C.CANCEL_REAL_TIME_BARS),
    C.REQ_FUNDAMENTAL_DATA: _fundamental,
    C.CANCEL_FUNDAMENTAL_DATA: _versioned_cancel(C.CANCEL_FUNDAMENTAL_DATA),
    C.REQ_CALC_IMPLIED_VOLAT: _option_calculation(C.REQ_CALC_IMPLIED_VOLAT),
    C.REQ_CALC_OPTION_PRICE: _option_calculation(C.REQ_CALC_OPTION_PRICE),
    C.CANCEL_CALC_IMPLIED_VOLAT: _versioned_cancel(C.CANCEL_CALC_IMPLIED_VOLAT),
    C.CANCEL_CALC_OPTION_PRICE: _versioned_cancel(C.CANCEL_CALC_OPTION_PRICE),
    C.REQ_GLOBAL_CANCEL: _simple(C.REQ_GLOBAL_CANCEL),
    C.REQ_MARKET_DATA_TYPE: _simple(C.REQ_MARKET_DATA_TYPE, value="marketDataType"),
    C.REQ_POSITIONS: _simple(C.REQ_POSITIONS),
    C.REQ_ACCOUNT_SUMMARY: _account_summary,
    C.CANCEL_ACCOUNT_SUMMARY: _versioned_cancel(C.CANCEL_ACCOUNT_SUMMARY),
    C.CANCEL_POSITIONS: _simple(C.CANCEL_POSITIONS),
    C.VERIFY_REQUEST: _simple(C.VERIFY_REQUEST),
    C.VERIFY_MESSAGE: _simple(C.VERIFY_MESSAGE),
    C.QUERY_DISPLAY_GROUPS: _simple(C.QUERY_DISPLAY_GROUPS, request_id=True),
    C.SUBSCRIBE_TO_GROUP_EVENTS: _simple(C.SUBSCRIBE_TO_GROUP_EVENTS, request_id=True, value="groupId"),
    C.UPDATE_DISPLAY_GROUP: _simple(C.UPDATE_DISPLAY_GROUP, request_id=True, texts=1),
    C.UNSUBSCRIBE_FROM_GROUP_EVENTS: _simple(C.UNSUBSCRIBE_FROM_GROUP_EVENTS, request_id=True),
    C.VERIFY_AND_AUTH_REQUEST: _simple(C.VERIFY_AND_AUTH_REQUEST),
    C.VERIFY_AND_AUTH_MESSAGE: _simple(C.VERIFY_AND_AUTH_MESSAGE),
    C.REQ_POSITIONS_MULTI: _multi(C.REQ_POSITIONS_MULTI),
    C.CANCEL_POSITIONS_MULTI: _versioned_cancel(C.CANCEL_POSITIONS_MULTI),
    C.REQ_ACCOUNT_UPDATES_MULTI: _multi(C.REQ_ACCOUNT_UPDATES_MULTI),
    C.CANCEL_ACCOUNT_UPDATES_MULTI: _versioned_cancel(C.CANCEL_ACCOUNT_UPDATES_MULTI),
    C.REQ_SEC_DEF_OPT_PARAMS: _simple(C.REQ_SEC_DEF_OPT_PARAMS, version_field=False, request_id=True, texts=3),
    C.REQ_SOFT_DOLLAR_TIERS: _simple(C.REQ_SOFT_DOLLAR_TIERS, version_field=False, request_id=True),
    C.REQ_FAMILY_CODES: _simple(C.REQ_FAMILY_CODES, version_field=False),
    C.REQ_MATCHING_SYMBOLS: _simple(C.REQ_MATCHING_SYMBOLS, version_field=False, request_id=True, texts=1),
    C.REQ_MKT_DEPTH_EXCHANGES: _simple(C.REQ_MKT_DEPTH_EXCHANGES, version_field=False),
    C.REQ_SMART_COMPONENTS: _simple(C.REQ_SMART_COMPONENTS, version_field=False, request_id=True, texts=1),
    C.REQ_NEWS_ARTICLE: _simple(C.REQ_NEWS_ARTICLE, version_field=False, request_id=True, texts=2),
    C.REQ_NEWS_PROVIDERS: _simple(C.REQ_NEWS_PROVIDERS, version_field=False),
    C.REQ_HISTORICAL_NEWS: _simple(C.REQ_HISTORICAL_NEWS, version_field=False, request_id=True, value="conId"),
    C.REQ_HEAD_TIMESTAMP: _head_timestamp,
    C.REQ_HISTOGRAM_DATA: _histogram,
    C.CANCEL_HISTOGRAM_DATA: _cancel(C.CANCEL_HISTOGRAM_DATA),
    C.CANCEL_HEAD_TIMESTAMP: _cancel(C.CANCEL_HEAD_TIMESTAMP),
    C.REQ_MARKET_RULE: _simple(C.REQ_MARKET_RULE, version_field=False, value="marketRuleId"),
    C.REQ_PNL: _pnl,
    C.CANCEL_PNL: _cancel(C.CANCEL_PNL),
    C.REQ_PNL_SINGLE: _pnl_single,
    C.CANCEL_PNL_SINGLE: _cancel(C.CANCEL_PNL_SINGLE),
    C.REQ_HISTORICAL_TICKS: _historical_ticks,
    C.REQ_TICK_BY_TICK_DATA: _tick_by_tick,
    C.CANCEL_TICK_BY_TICK_DATA: _cancel(C.CANCEL_TICK_BY_TICK_DATA),
    C.REQ_COMPLETED_ORDERS: _simple(C.REQ_COMPLETED_ORDERS, version_field=False, value="apiOnly"),
    C.REQ_WSH_META_DATA: _simple(C.REQ_WSH_META_DATA, version_field=False, request_id=True),
    C.CANCEL_WSH_META_DATA: _cancel(C.CANCEL_WSH_META_DATA),
    C.REQ_WSH_EVENT_DATA: _simple(C.REQ_WSH_EVENT_DATA, version_field=False, request_id=True),
    C.CANCEL_WSH_EVENT_DATA: _cancel(C.CANCEL_WSH_EVENT_DATA),
    C.REQ_USER_INFO: _simple(C.REQ_USER_INFO, version_field=False, request_id=True),
}


def decode_start_api(r: FieldReader, version: int) -> StartApi:
    r.skip("version")
    client_id = r.integer("clientId")
    return StartApi(client_id, r.optional_text("optionalCapabilities"))



"""Outgoing TWS API messages (all but the order ones, in :mod:`.order_messages`), one frame each,
encoded for the server version negotiated with the client.

Field orders are the ones the official EDecoder and ib_async read; where the layout depends on
the server version, the ``version`` argument selects it (error records carry
``advancedOrderRejectJson`` from 166; contractDetails drops its version field and
``mdSizeMultiplier`` from 164 and reports size increments from 163; symbol samples add a
description and issuer id from 176).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from ibproto import versions
from ibproto.codes import FARM_OK_NOTICES, say
from ibproto.messages import ServerMessage as S
from ibproto.wire import encode_message
from services.gateway_sim.account import PortfolioLine
from services.gateway_sim.catalog import STOCK_EXCHANGES, STOCK_ORDER_TYPES, Instrument
from services.gateway_sim.calendar import EXCHANGE_ZONE_NAME

# Farm status notices the real Gateway sends right after startApi.
FARM_NOTICES = tuple(say(code, farm) for code, farm in FARM_OK_NOTICES)
CLIENT_ID_IN_USE = say(326)
NO_SECURITY_DEFINITION = say(200)
HISTORICAL_NO_SECURITY = say(162, "No security definition has been found for the request")


def price_text(price: float, instrument: Instrument) -> str:
    """A price with the instrument's decimals (``271.50``, ``1.15420``)."""
    return f"{price:.{instrument.price_decimals}f}"


def size_text(size: float) -> str:
    return str(int(size)) if float(size).is_integer() else repr(float(size))


# --- session --------------------------------------------------------------------------------

def error(version: int, request_id: int, code: int, text: str) -> bytes:
    """An error or notice record (msg 4); ``request_id`` is -1 when it concerns no request."""
    fields: list[object] = [S.ERR_MSG, 2, request_id, code, text]
    if version >= versions.ADVANCED_ORDER_REJECT:
        fields.append("")
    return encode_message(*fields)


def next_valid_id(order_id: int) -> bytes:
    return encode_message(S.NEXT_VALID_ID, 1, order_id)


def managed_accounts(accounts: Iterable[str]) -> bytes:
    return encode_message(S.MANAGED_ACCTS, 1, ",".join(accounts))


def current_time(epoch_seconds: int) -> bytes:
    return encode_message(S.CURRENT_TIME, 1, epoch_seconds)


# --- market data ----------------------------------------------------------------------------

def tick_price(request_id: int, tick_type: int, price: str, size: int | str, attributes: int = 0) -> bytes:
    """A price tick with the size that goes with it (bid/ask/last) and the attribute bit mask."""
    return encode_message(S.TICK_PRICE, 6, request_id, tick_type, price, size, attributes)


def tick_size(request_id: int, tick_type: int, size: int | str) -> bytes:
    return encode_message(S.TICK_SIZE, 6, request_id, tick_type, size)


def tick_string(request_id: int, tick_type: int, value: str) -> bytes:
    return encode_message(S.TICK_STRING, 6, request_id, tick_type, value)


def tick_generic(request_id: int, tick_type: int, value: float) -> bytes:
    return encode_message(S.TICK_GENERIC, 6, request_id, tick_type, value)


def market_data_type(request_id: int, data_type: int) -> bytes:
    return encode_message(S.MARKET_DATA_TYPE, 1, request_id, data_type)


def tick_request_parameters(request_id: int, instrument: Instrument) -> bytes:
    """minTick, BBO exchange and snapshot permissions for a new subscription."""
    return encode_message(S.TICK_REQ_PARAMS, request_id, instrument.min_tick, "9c0001", 3)


def tick_snapshot_end(request_id: int) -> bytes:
    return encode_message(S.TICK_SNAPSHOT_END, 1, request_id)


def tick_option_computation(request_id: int, tick_type: int, values: tuple[float, ...]) -> bytes:
    """IV, delta, price, pvDividend, gamma, vega, theta, underlying price (tickAttrib 1: price based)."""
    return encode_message(S.TICK_OPTION_COMPUTATION, request_id, tick_type, 1, *values)


def depth_update(request_id: int, position: int, operation: int, side: int, price: str, size: int | str,
                 market_maker: str = "", smart: bool = False) -> bytes:
    if market_maker or smart:
        return encode_message(S.MARKET_DEPTH_L2, 1, request_id, position, market_maker, operation, side, price,
                              size, smart)
    return encode_message(S.MARKET_DEPTH, 1, request_id, position, operation, side, price, size)


def real_time_bar(request_id: int, epoch: int, prices: tuple[str, str, str, str], volume: str, wap: str,
                  count: int) -> bytes:
    return encode_message(S.REAL_TIME_BARS, 3, request_id, epoch, *prices, volume, wap, count)


def tick_by_tick_last(request_id: int, kind: int, epoch: int, price: str, size: str, exchange: str) -> bytes:
    return encode_message(S.TICK_BY_TICK, request_id, kind, epoch, price, size, 0, exchange, "")


def tick_by_tick_bid_ask(request_id: int, epoch: int, bid: str, ask: str, bid_size: str, ask_size: str) -> bytes:
    return encode_message(S.TICK_BY_TICK, request_id, 3, epoch, bid, ask, bid_size, ask_size, 0)


def tick_by_tick_mid(request_id: int, epoch: int, mid: str) -> bytes:
    return encode_message(S.TICK_BY_TICK, request_id, 4, epoch, mid)


# --- reference data -------------------------------------------------------------------------

def contract_details(version: int, request_id: int, instrument: Instrument, exchange: str,
                     trading_hours: str, liquid_hours: str) -> bytes:
    """One contractDetails record for ``instrument`` as listed on ``exchange``."""
    is_stock = instrument.sec_type == "STK"
    head: list[object] = [S.CONTRACT_DATA]
    if version < versions.SIZE_RULES:
        head.append(8)
    head += [request_id, instrument.symbol, instrument.sec_type, "", 0, "", exchange, instrument.currency,
             instrument.local_symbol, instrument.trading_class if is_stock else instrument.local_symbol,
             instrument.trading_class, instrument.con_id, instrument.min_tick]
    if version < versions.SIZE_RULES:
        head.append(1)  # mdSizeMultiplier, dropped by later versions
    body: list[object] = [
        "", STOCK_ORDER_TYPES, STOCK_EXCHANGES if is_stock else instrument.primary_exchange, 1, 0,
        instrument.long_name, instrument.primary_exchange, "", instrument.industry, instrument.category,
        instrument.subcategory, EXCHANGE_ZONE_NAME, trading_hours, liquid_hours, "", "",
        0,  # no secIds
        1, "", "", str(instrument.market_rule_id), "", "COMMON" if is_stock else "",
    ]
    if version == versions.FRACTIONAL_SIZE_SUPPORT:
        body.append(100 if is_stock else 1)
    elif version >= versions.SIZE_RULES:
        body += ["0.0001", "0.0001", 100] if is_stock else [1, 1, 1]
    return encode_message(*head, *body)


def contract_details_end(request_id: int) -> bytes:
    return encode_message(S.CONTRACT_DATA_END, 1, request_id)


def symbol_samples(version: int, request_id: int, instruments: list[Instrument]) -> bytes:
    fields: list[object] = [S.SYMBOL_SAMPLES, request_id, len(instruments)]
    for instrument in instruments:
        derivatives = ["OPT", "WAR"] if instrument.sec_type == "STK" else []
        fields += [instrument.con_id, instrument.symbol, instrument.sec_type, instrument.primary_exchange,
                   instrument.currency, len(derivatives), *derivatives]
        if version >= versions.BOND_ISSUERID:
            fields += [instrument.long_name, ""]
    return encode_message(*fields)


def market_rule(rule_id: int, increments: list[tuple[float, float]]) -> bytes:
    return encode_message(S.MARKET_RULE, rule_id, len(increments), *[x for pair in increments for x in pair])


def sec_def_opt_params(request_id: int, exchange: str, con_id: int, trading_class: str,
                       expirations: list[str], strikes: list[float]) -> bytes:
    return encode_message(S.SECURITY_DEFINITION_OPTION_PARAMETER, request_id, exchange, con_id, trading_class,
                          100, len(expirations), *expirations, len(strikes), *strikes)


def sec_def_opt_params_end(request_id: int) -> bytes:
    return encode_message(S.SECURITY_DEFINITION_OPTION_PARAMETER_END, request_id)


def head_timestamp(request_id: int, stamp: str) -> bytes:
    return encode_message(S.HEAD_TIMESTAMP, request_id, stamp)


def histogram(request_id: int, rows: list[tuple[float, int]]) -> bytes:
    return encode_message(S.HISTOGRAM_DATA, request_id, len(rows), *[x for row in rows for x in row])


def smart_components(request_id: int, components: list[tuple[int, str, str]]) -> bytes:
    return encode_message(S.SMART_COMPONENTS, request_id, len(components), *[x for row in components for x in row])


def depth_exchanges(rows: list[tuple[str, str, str, str, int]]) -> bytes:
    return encode_message(S.MKT_DEPTH_EXCHANGES, len(rows), *[x for row in rows for x in row])


def news_providers(rows: list[tuple[str, str]]) -> bytes:
    return encode_message(S.NEWS_PROVIDERS, len(rows), *[x for row in rows for x in row])


def historical_news_end(request_id: int) -> bytes:
    return encode_message(S.HISTORICAL_NEWS_END, request_id, 0)


def scanner_parameters(xml: str) -> bytes:
    return encode_message(S.SCANNER_PARAMETERS, 1, xml)


def scanner_data(request_id: int, rows: list[tuple[int, Instrument]]) -> bytes:
    fields: list[object] = [S.SCANNER_DATA, 3, request_id, len(rows)]
    for rank, instrument in rows:
        fields += [rank, instrument.con_id, instrument.symbol, instrument.sec_type, "", 0, "",
                   instrument.primary_exchange, instrument.currency, instrument.local_symbol, instrument.trading_class,
                   instrument.trading_class, "", "", "", ""]
    return encode_message(*fields)


def soft_dollar_tiers(request_id: int) -> bytes:
    return encode_message(S.SOFT_DOLLAR_TIERS, request_id, 0)


def family_codes(account: str) -> bytes:
    return encode_message(S.FAMILY_CODES, 1, account, "")


def user_info(request_id: int) -> bytes:
    return encode_message(S.USER_INFO, request_id, "")


def display_group_list(request_id: int) -> bytes:
    return encode_message(S.DISPLAY_GROUP_LIST, 1, request_id, "1|2|3|4|5|6|7")


def display_group_updated(request_id: int, contract_info: str) -> bytes:
    return encode_message(S.DISPLAY_GROUP_UPDATED, 1, request_id, contract_info)


# --- account and portfolio ------------------------------------------------------------------

def _contract_fields(instrument: Instrument, exchange: str) -> list[object]:
    """conId .. tradingClass as position records write a contract."""
    return [instrument.con_id, instrument.symbol, instrument.sec_type, "", 0.0, "", "", exchange,
            instrument.currency, instrument.local_symbol, instrument.trading_class]


def position(account: str, instrument: Instrument, quantity: float, average_cost: float) -> bytes:
    return encode_message(S.POSITION_DATA, 3, account, *_contract_fields(instrument, instrument.primary_exchange),
                          size_text(quantity), average_cost)


def position_end() -> bytes:
    return encode_message(S.POSITION_END, 1)


def position_multi(request_id: int, account: str, instrument: Instrument, quantity: float, average_cost: float,
                   model_code: str) -> bytes:
    return encode_message(S.POSITION_MULTI, 1, request_id, account,
                          *_contract_fields(instrument, instrument.primary_exchange), size_text(quantity),
                          average_cost, model_code)


def position_multi_end(request_id: int) -> bytes:
    return encode_message(S.POSITION_MULTI_END, 1, request_id)


def account_value(key: str, value: str, currency: str, account: str) -> bytes:
    return encode_message(S.ACCT_VALUE, 2, key, value, currency, account)


def portfolio_value(line: PortfolioLine, account: str) -> bytes:
    """updatePortfolio: the contract (without exchange), then quantities and valuations."""
    instrument = line.instrument
    return encode_message(
        S.PORTFOLIO_VALUE, 8, instrument.con_id, instrument.symbol, instrument.sec_type, "", 0.0, "", "",
        instrument.primary_exchange, instrument.currency, instrument.local_symbol, instrument.trading_class,
        size_text(line.quantity), price_text(line.market_price, instrument), line.market_value, line.average_cost,
        line.unrealized_pnl, line.realized_pnl, account,
    )


def account_time(moment: datetime) -> bytes:
    return encode_message(S.ACCT_UPDATE_TIME, 1, f"{moment:%H:%M}")


def account_download_end(account: str) -> bytes:
    return encode_message(S.ACCT_DOWNLOAD_END, 1, account)


def account_update_multi(request_id: int, account: str, model_code: str, key: str, value: str,
                         currency: str) -> bytes:
    return encode_message(S.ACCOUNT_UPDATE_MULTI, 1, request_id, account, model_code, key, value, currency)


def account_update_multi_end(request_id: int) -> bytes:
    return encode_message(S.ACCOUNT_UPDATE_MULTI_END, 1, request_id)


def account_summary(request_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return encode_message(S.ACCOUNT_SUMMARY, 1, request_id, account, tag, value, currency)


def account_summary_end(request_id: int) -> bytes:
    return encode_message(S.ACCOUNT_SUMMARY_END, 1, request_id)


def pnl(request_id: int, daily: float, unrealized: float, realized: float) -> bytes:
    return encode_message(S.PNL, request_id, daily, unrealized, realized)


def pnl_single(request_id: int, quantity: float, daily: float, unrealized: float, realized: float,
               value: float) -> bytes:
    return encode_message(S.PNL_SINGLE, request_id, size_text(quantity), daily, unrealized, realized, value)


# --- historical data ------------------------------------------------------------------------

def historical_data(request_id: int, instrument: Instrument, bars: list, start: str, end: str,
                    bar_seconds: int, format_date: int) -> bytes:
    """All bars of a reqHistoricalData answer in one message, with the covered period."""
    from services.gateway_sim.history import format_time

    price = price_text
    fields: list[object] = [S.HISTORICAL_DATA, request_id, start, end, len(bars)]
    for bar in bars:
        fields += [format_time(bar.start, bar_seconds, format_date), price(bar.open, instrument),
                   price(bar.high, instrument), price(bar.low, instrument), price(bar.close, instrument),
                   size_text(bar.volume), bar.wap, bar.count]
    return encode_message(*fields)


def historical_data_update(request_id: int, instrument: Instrument, bar, bar_seconds: int,
                           format_date: int) -> bytes:
    from services.gateway_sim.history import format_time

    price = price_text
    return encode_message(S.HISTORICAL_DATA_UPDATE, request_id, bar.count,
                          format_time(bar.start, bar_seconds, format_date), price(bar.open, instrument),
                          price(bar.close, instrument), price(bar.high, instrument), price(bar.low, instrument),
                          bar.wap, size_text(bar.volume))


def historical_schedule(request_id: int, start: str, end: str, zone: str,
                        sessions: list[tuple[str, str, str]]) -> bytes:
    return encode_message(S.HISTORICAL_SCHEDULE, request_id, start, end, zone, len(sessions),
                          *[x for row in sessions for x in row])


def historical_ticks(kind: str, request_id: int, rows: list[tuple], done: bool = True) -> bytes:
    """MIDPOINT (96: time, 0, price, size), BID_ASK (97) and TRADES (98) rows, then ``done``."""
    message = {"MIDPOINT": S.HISTORICAL_TICKS, "BID_ASK": S.HISTORICAL_TICKS_BID_ASK}.get(kind,
                                                                                          S.HISTORICAL_TICKS_LAST)
    return encode_message(message, request_id, len(rows), *[x for row in rows for x in row], done)

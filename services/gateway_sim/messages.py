"""Outgoing TWS API messages, encoded for the server version negotiated with the client.

Each function returns one complete frame. Field orders are the ones real
clients read (ib_async's ``decoder.py``, the official EDecoder); where the
layout depends on the server version, the ``version`` argument selects it:

* error records carry ``advancedOrderRejectJson`` from version 166;
* contractDetails drops its version field and ``mdSizeMultiplier`` from 164,
  and reports size increments from 163.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from ibproto.wire import LENGTH_PREFIX, encode_fields, encode_message
from services.gateway_sim.account import PortfolioLine
from services.gateway_sim.catalog import (
    STOCK_EXCHANGES,
    STOCK_ORDER_TYPES,
    US_LIQUID_HOURS,
    US_TRADING_HOURS,
    Instrument,
)
from services.gateway_sim.market import Bar, Quote, format_bar_time

# Outgoing message ids (the EDecoder's IN_MSG ids).
TICK_PRICE, TICK_SIZE, ERROR, ACCOUNT_VALUE, PORTFOLIO_VALUE, ACCOUNT_TIME = 1, 2, 4, 6, 7, 8
NEXT_VALID_ID, CONTRACT_DATA, MANAGED_ACCOUNTS, HISTORICAL_DATA = 9, 10, 15, 17
CURRENT_TIME, CONTRACT_DATA_END, OPEN_ORDER_END, ACCOUNT_DOWNLOAD_END, EXECUTION_DATA_END = 49, 52, 53, 54, 55
TICK_SNAPSHOT_END, MARKET_DATA_TYPE, POSITION_DATA, POSITION_END = 57, 58, 61, 62
ACCOUNT_SUMMARY, ACCOUNT_SUMMARY_END, ACCOUNT_UPDATE_MULTI, ACCOUNT_UPDATE_MULTI_END = 63, 64, 73, 74
TICK_REQ_PARAMS, COMPLETED_ORDERS_END = 81, 102

# Tick types (https://interactivebrokers.github.io/tws-api/tick_types.html).
BID_SIZE, BID, ASK, ASK_SIZE, LAST, LAST_SIZE, HIGH, LOW, VOLUME, CLOSE, OPEN = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14

MIN_VERSION_ADVANCED_REJECT = 166
MIN_VERSION_SIZE_RULES = 164
VERSION_SUGGESTED_SIZE_ONLY = 163

# Farm status notices the real Gateway sends right after startApi.
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
CLIENT_ID_IN_USE = (326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
NO_SECURITY_DEFINITION = (200, "No security definition has been found for the request")
HISTORICAL_NO_SECURITY = (162, "Historical Market Data Service error message:No security definition has been "
                               "found for the request")


def price_text(price: float, instrument: Instrument) -> str:
    """A price with the instrument's decimals (``271.50``, ``1.15420``)."""
    return f"{price:.{instrument.price_decimals}f}"


def error(version: int, request_id: int, code: int, text: str) -> bytes:
    """An error or notice record (msg 4); ``request_id`` is -1 when it concerns no request."""
    fields: list[object] = [ERROR, 2, request_id, code, text]
    if version >= MIN_VERSION_ADVANCED_REJECT:
        fields.append("")
    return encode_message(*fields)


def next_valid_id(order_id: int) -> bytes:
    return encode_message(NEXT_VALID_ID, 1, order_id)


def managed_accounts(accounts: Iterable[str]) -> bytes:
    return encode_message(MANAGED_ACCOUNTS, 1, ",".join(accounts))


def current_time(epoch_seconds: int) -> bytes:
    return encode_message(CURRENT_TIME, 1, epoch_seconds)


def tick_price(request_id: int, tick_type: int, price: str, size: int | str, attributes: int = 0) -> bytes:
    """A price tick with the size that goes with it (bid/ask/last) and the attribute bit mask."""
    return encode_message(TICK_PRICE, 6, request_id, tick_type, price, size, attributes)


def tick_size(request_id: int, tick_type: int, size: int) -> bytes:
    return encode_message(TICK_SIZE, 6, request_id, tick_type, size)


def market_data_type(request_id: int, data_type: int) -> bytes:
    return encode_message(MARKET_DATA_TYPE, 1, request_id, data_type)


def tick_request_parameters(request_id: int, instrument: Instrument) -> bytes:
    """minTick, BBO exchange and snapshot permissions for a new subscription."""
    return encode_message(TICK_REQ_PARAMS, request_id, instrument.min_tick, "9c0001", 3)


def tick_snapshot_end(request_id: int) -> bytes:
    return encode_message(TICK_SNAPSHOT_END, 1, request_id)


def contract_details(version: int, request_id: int, instrument: Instrument, exchange: str) -> bytes:
    """One contractDetails record for ``instrument`` as listed on ``exchange``."""
    is_stock = instrument.sec_type == "STK"
    head: list[object] = [CONTRACT_DATA]
    if version < MIN_VERSION_SIZE_RULES:
        head.append(8)
    head += [request_id, instrument.symbol, instrument.sec_type, "", 0, "", exchange, instrument.currency,
             instrument.local_symbol, instrument.trading_class if is_stock else instrument.local_symbol,
             instrument.trading_class, instrument.con_id, instrument.min_tick]
    if version < MIN_VERSION_SIZE_RULES:
        head.append(1)  # mdSizeMultiplier, dropped by later versions
    body: list[object] = [
        "", STOCK_ORDER_TYPES, STOCK_EXCHANGES if is_stock else instrument.primary_exchange, 1, 0,
        instrument.long_name, instrument.primary_exchange, "", instrument.industry, instrument.category,
        instrument.subcategory, "US/Eastern", US_TRADING_HOURS, US_LIQUID_HOURS, "", "",
        0,  # no secIds
        1, "", "", "26" if is_stock else "239", "", "COMMON" if is_stock else "",
    ]
    if version == VERSION_SUGGESTED_SIZE_ONLY:
        body.append(100 if is_stock else 1)
    elif version >= MIN_VERSION_SIZE_RULES:
        body += ["0.0001", "0.0001", 100] if is_stock else [1, 1, 1]
    return encode_message(*head, *body)


def contract_details_end(request_id: int) -> bytes:
    return encode_message(CONTRACT_DATA_END, 1, request_id)


def _contract_fields(instrument: Instrument, exchange: str) -> list[object]:
    """conId .. tradingClass as position records write a contract."""
    return [instrument.con_id, instrument.symbol, instrument.sec_type, "", 0.0, "", "", exchange,
            instrument.currency, instrument.local_symbol, instrument.trading_class]


def position(account: str, instrument: Instrument, quantity: float, average_cost: float) -> bytes:
    return encode_message(POSITION_DATA, 3, account, *_contract_fields(instrument, instrument.primary_exchange),
                          quantity, average_cost)


def position_end() -> bytes:
    return encode_message(POSITION_END, 1)


def open_order_end() -> bytes:
    return encode_message(OPEN_ORDER_END, 1)


def completed_orders_end() -> bytes:
    return encode_message(COMPLETED_ORDERS_END)


def execution_details_end(request_id: int) -> bytes:
    return encode_message(EXECUTION_DATA_END, 1, request_id)


def account_value(key: str, value: str, currency: str, account: str) -> bytes:
    return encode_message(ACCOUNT_VALUE, 2, key, value, currency, account)


def portfolio_value(line: PortfolioLine, account: str) -> bytes:
    """updatePortfolio: the contract (without exchange), then quantities and valuations."""
    instrument = line.instrument
    return encode_message(
        PORTFOLIO_VALUE, 8, instrument.con_id, instrument.symbol, instrument.sec_type, "", 0.0, "", "",
        instrument.primary_exchange, instrument.currency, instrument.local_symbol, instrument.trading_class,
        line.quantity, price_text(line.market_price, instrument), line.market_value, line.average_cost,
        line.unrealized_pnl, line.realized_pnl, account,
    )


def account_time(moment: datetime) -> bytes:
    return encode_message(ACCOUNT_TIME, 1, f"{moment:%H:%M}")


def account_download_end(account: str) -> bytes:
    return encode_message(ACCOUNT_DOWNLOAD_END, 1, account)


def account_update_multi(request_id: int, account: str, model_code: str, key: str, value: str,
                         currency: str) -> bytes:
    return encode_message(ACCOUNT_UPDATE_MULTI, 1, request_id, account, model_code, key, value, currency)


def account_update_multi_end(request_id: int) -> bytes:
    return encode_message(ACCOUNT_UPDATE_MULTI_END, 1, request_id)


def account_summary(request_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return encode_message(ACCOUNT_SUMMARY, 1, request_id, account, tag, value, currency)


def account_summary_end(request_id: int) -> bytes:
    return encode_message(ACCOUNT_SUMMARY_END, 1, request_id)


def historical_data(request_id: int, instrument: Instrument, bars: list[Bar], bar_seconds: int,
                    format_date: int) -> bytes:
    """All bars of a reqHistoricalData answer in one message, with the covered period."""
    start = format_bar_time(bars[0].time, 1, 1) if bars else ""
    end = format_bar_time(bars[-1].time, 1, 1) if bars else ""
    fields: list[object] = [HISTORICAL_DATA, request_id, start, end, len(bars)]
    for bar in bars:
        fields += [format_bar_time(bar.time, bar_seconds, format_date), price_text(bar.open, instrument),
                   price_text(bar.high, instrument), price_text(bar.low, instrument),
                   price_text(bar.close, instrument), bar.volume, bar.average, bar.trade_count]
    return encode_message(*fields)


class TickStep:
    """One market step's tick messages, encoded once per instrument and addressed per subscription.

    Every subscriber to an instrument gets the same ticks except for its request
    id, which sits in the middle of each message; so the fields after the id are
    encoded once per step and only the head is built per subscription. The bytes
    are identical to :func:`tick_price` / :func:`tick_size` output.
    """

    _PRICE_HEAD = encode_fields([TICK_PRICE, 6])
    _SIZE_HEAD = encode_fields([TICK_SIZE, 6])

    def __init__(self, quotes: Mapping[Instrument, Quote]):
        self.quotes = quotes
        self._tails: dict[Instrument, list[tuple[bytes, bytes]]] = {}

    def for_subscription(self, request_id: int, instrument: Instrument) -> bytes:
        """bid, ask and last with their sizes, then the day's volume, for one subscription."""
        tails = self._tails.get(instrument)
        if tails is None:
            quote = self.quotes.get(instrument)
            if quote is None:
                return b""
            tails = self._tails[instrument] = self._encode_tails(instrument, quote)
        address = f"{request_id}\0".encode()
        parts = []
        for head, tail in tails:
            parts += [LENGTH_PREFIX.pack(len(head) + len(address) + len(tail)), head, address, tail]
        return b"".join(parts)

    def _encode_tails(self, instrument: Instrument, quote: Quote) -> list[tuple[bytes, bytes]]:
        price = price_text
        return [
            (self._PRICE_HEAD, encode_fields([BID, price(quote.bid, instrument), quote.bid_size, 0])),
            (self._PRICE_HEAD, encode_fields([ASK, price(quote.ask, instrument), quote.ask_size, 0])),
            (self._PRICE_HEAD, encode_fields([LAST, price(quote.last, instrument), quote.last_size, 0])),
            (self._SIZE_HEAD, encode_fields([VOLUME, quote.volume])),
        ]

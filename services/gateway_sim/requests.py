"""Incoming TWS API requests, decoded from a frame's fields into values.

Field orders follow what real clients send (ib_async's ``client.py``, the
official EClient): the message id first, then for most requests a version
number, then the request's own fields. Decoding never trusts the client:
a missing or non-numeric field raises :class:`BadRequest` naming the request
and the field, so the session can answer with an error record and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ibproto.errors import ProtocolError
from services.gateway_sim.catalog import ContractQuery

# Every request id a client of this protocol era can send, with its EClient name.
REQUEST_NAMES: dict[int, str] = {
    1: "reqMktData", 2: "cancelMktData", 3: "placeOrder", 4: "cancelOrder", 5: "reqOpenOrders",
    6: "reqAccountUpdates", 7: "reqExecutions", 8: "reqIds", 9: "reqContractDetails", 10: "reqMktDepth",
    11: "cancelMktDepth", 12: "reqNewsBulletins", 13: "cancelNewsBulletins", 14: "setServerLogLevel",
    15: "reqAutoOpenOrders", 16: "reqAllOpenOrders", 17: "reqManagedAccts", 18: "requestFA", 19: "replaceFA",
    20: "reqHistoricalData", 21: "exerciseOptions", 22: "reqScannerSubscription",
    23: "cancelScannerSubscription", 24: "reqScannerParameters", 25: "cancelHistoricalData",
    49: "reqCurrentTime", 50: "reqRealTimeBars", 51: "cancelRealTimeBars", 52: "reqFundamentalData",
    53: "cancelFundamentalData", 54: "calculateImpliedVolatility", 55: "calculateOptionPrice",
    56: "cancelCalculateImpliedVolatility", 57: "cancelCalculateOptionPrice", 58: "reqGlobalCancel",
    59: "reqMarketDataType", 61: "reqPositions", 62: "reqAccountSummary", 63: "cancelAccountSummary",
    64: "cancelPositions", 65: "verifyRequest", 66: "verifyMessage", 67: "queryDisplayGroups",
    68: "subscribeToGroupEvents", 69: "updateDisplayGroup", 70: "unsubscribeFromGroupEvents", 71: "startApi",
    72: "verifyAndAuthRequest", 73: "verifyAndAuthMessage", 74: "reqPositionsMulti", 75: "cancelPositionsMulti",
    76: "reqAccountUpdatesMulti", 77: "cancelAccountUpdatesMulti", 78: "reqSecDefOptParams",
    79: "reqSoftDollarTiers", 80: "reqFamilyCodes", 81: "reqMatchingSymbols", 82: "reqMktDepthExchanges",
    83: "reqSmartComponents", 84: "reqNewsArticle", 85: "reqNewsProviders", 86: "reqHistoricalNews",
    87: "reqHeadTimeStamp", 88: "reqHistogramData", 89: "cancelHistogramData", 90: "cancelHeadTimeStamp",
    91: "reqMarketRule", 92: "reqPnL", 93: "cancelPnL", 94: "reqPnLSingle", 95: "cancelPnLSingle",
    96: "reqHistoricalTicks", 97: "reqTickByTickData", 98: "cancelTickByTickData", 99: "reqCompletedOrders",
    100: "reqWshMetaData", 101: "cancelWshMetaData", 102: "reqWshEventData", 103: "cancelWshEventData",
    104: "reqUserInfo",
}


class BadRequest(ProtocolError):
    """A request whose fields cannot be read; the connection itself is still in sync."""

    def __init__(self, request: str, message: str, *, request_id: int = -1):
        self.request = request
        self.request_id = request_id
        super().__init__(f"{request}: {message}")


class UnknownMessage(ProtocolError):
    """A frame whose message id no client of this protocol sends."""

    def __init__(self, message_id: str):
        self.message_id = message_id
        super().__init__(f"unknown message id {message_id[:20]!r}")


# --- the decoded requests ---------------------------------------------------------------

@dataclass(frozen=True)
class StartApi:
    client_id: int
    optional_capabilities: str


@dataclass(frozen=True)
class MarketDataRequest:
    request_id: int
    contract: ContractQuery
    generic_ticks: str
    snapshot: bool


@dataclass(frozen=True)
class CancelMarketData:
    request_id: int


@dataclass(frozen=True)
class ContractDetailsRequest:
    request_id: int
    contract: ContractQuery


@dataclass(frozen=True)
class HistoricalDataRequest:
    request_id: int
    contract: ContractQuery
    end: str
    bar_size: str
    duration: str
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


@dataclass(frozen=True)
class AccountUpdatesRequest:
    subscribe: bool
    account: str


@dataclass(frozen=True)
class AccountUpdatesMultiRequest:
    request_id: int
    account: str
    model_code: str


@dataclass(frozen=True)
class AccountSummaryRequest:
    request_id: int
    group: str
    tags: str


@dataclass(frozen=True)
class IdsRequest:
    count: int


@dataclass(frozen=True)
class MarketDataTypeRequest:
    data_type: int


@dataclass(frozen=True)
class OrderRequest:
    """placeOrder: only the order id is read; the simulator rejects every order."""

    order_id: int


@dataclass(frozen=True)
class SimpleRequest:
    """A request answered the same way whatever it carries (``name`` says which)."""

    name: str
    request_id: int = -1


@dataclass(frozen=True)
class UnsupportedRequest:
    """A valid message id the simulator does not implement."""

    message_id: int
    name: str


Request = (StartApi | MarketDataRequest | CancelMarketData | ContractDetailsRequest | HistoricalDataRequest
           | AccountUpdatesRequest | AccountUpdatesMultiRequest | AccountSummaryRequest | IdsRequest
           | MarketDataTypeRequest | OrderRequest | SimpleRequest | UnsupportedRequest)


# --- field reading ----------------------------------------------------------------------

class FieldReader:
    """Reads a request's fields in order, converting and naming each for error messages."""

    def __init__(self, name: str, fields: list[str]):
        self.name = name
        self._fields = fields
        self._position = 1  # the message id is already consumed
        self.request_id = -1

    def text(self, field: str) -> str:
        if self._position >= len(self._fields):
            raise BadRequest(self.name, f"message ends before field {field!r}", request_id=self.request_id)
        value = self._fields[self._position]
        self._position += 1
        return value

    def optional_text(self, field: str) -> str:
        """A trailing field older clients may leave out."""
        return self.text(field) if self._position < len(self._fields) else ""

    def integer(self, field: str, default: int = 0) -> int:
        value = self.text(field)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise BadRequest(self.name, f"field {field!r} must be an integer, got {value[:40]!r}",
                             request_id=self.request_id) from None

    def number(self, field: str) -> float:
        value = self.text(field)
        if value == "":
            return 0.0
        try:
            return float(value)
        except ValueError:
            raise BadRequest(self.name, f"field {field!r} must be a number, got {value[:40]!r}",
                             request_id=self.request_id) from None

    def flag(self, field: str) -> bool:
        return self.integer(field) != 0

    def skip(self, field: str, count: int = 1) -> None:
        for _ in range(count):
            self.text(field)

    def request_id_field(self) -> int:
        self.request_id = self.integer("reqId")
        return self.request_id

    def contract(self) -> ContractQuery:
        """The 12 contract fields every contract-bearing request sends, as a lookup query."""
        con_id = self.integer("contract.conId")
        symbol, sec_type = self.text("contract.symbol"), self.text("contract.secType")
        self.skip("contract.lastTradeDateOrContractMonth")
        self.number("contract.strike")
        self.skip("contract.right")
        self.skip("contract.multiplier")
        exchange = self.text("contract.exchange")
        self.skip("contract.primaryExchange")
        currency, local_symbol = self.text("contract.currency"), self.text("contract.localSymbol")
        self.skip("contract.tradingClass")
        return ContractQuery(con_id, symbol, sec_type, currency, exchange, local_symbol)

    def combo_legs(self, contract: ContractQuery) -> None:
        if contract.sec_type.upper() == "BAG":
            for _ in range(self.integer("comboLegsCount")):
                self.skip("comboLeg", 4)


# --- one decoder per supported request --------------------------------------------------

def _start_api(r: FieldReader, version: int) -> StartApi:
    r.skip("version")
    client_id = r.integer("clientId")
    return StartApi(client_id, r.optional_text("optionalCapabilities"))


def _market_data(r: FieldReader, version: int) -> MarketDataRequest:
    r.skip("version")
    request_id = r.request_id_field()
    contract = r.contract()
    r.combo_legs(contract)
    if r.flag("deltaNeutralContract"):
        r.skip("deltaNeutralContract", 3)
    generic = r.text("genericTickList")
    snapshot = r.flag("snapshot")
    return MarketDataRequest(request_id, contract, generic, snapshot)


def _contract_details(r: FieldReader, version: int) -> ContractDetailsRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return ContractDetailsRequest(request_id, r.contract())


def _historical_data(r: FieldReader, version: int) -> HistoricalDataRequest:
    request_id = r.request_id_field()
    contract = r.contract()
    r.skip("includeExpired")
    end, bar_size, duration = r.text("endDateTime"), r.text("barSizeSetting"), r.text("durationStr")
    r.skip("useRTH")
    what_to_show = r.text("whatToShow")
    format_date = r.integer("formatDate", default=1)
    r.combo_legs(contract)
    keep_up_to_date = r.flag("keepUpToDate")
    return HistoricalDataRequest(request_id, contract, end, bar_size, duration, what_to_show, format_date,
                                 keep_up_to_date)


def _account_updates(r: FieldReader, version: int) -> AccountUpdatesRequest:
    r.skip("version")
    return AccountUpdatesRequest(r.flag("subscribe"), r.text("acctCode"))


def _account_updates_multi(r: FieldReader, version: int) -> AccountUpdatesMultiRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return AccountUpdatesMultiRequest(request_id, r.text("account"), r.text("modelCode"))


def _account_summary(r: FieldReader, version: int) -> AccountSummaryRequest:
    r.skip("version")
    request_id = r.request_id_field()
    return AccountSummaryRequest(request_id, r.text("groupName"), r.text("tags"))


def _cancel_market_data(r: FieldReader, version: int) -> CancelMarketData:
    r.skip("version")
    return CancelMarketData(r.request_id_field())


def _place_order(r: FieldReader, version: int) -> OrderRequest:
    return OrderRequest(r.request_id_field())


def _ids(r: FieldReader, version: int) -> IdsRequest:
    r.skip("version")
    return IdsRequest(r.integer("numIds"))


def _market_data_type(r: FieldReader, version: int) -> MarketDataTypeRequest:
    r.skip("version")
    return MarketDataTypeRequest(r.integer("marketDataType"))


def _with_version_and_id(name: str) -> Callable[[FieldReader, int], SimpleRequest]:
    def decode(r: FieldReader, version: int) -> SimpleRequest:
        r.skip("version")
        return SimpleRequest(name, r.request_id_field())
    return decode


def _plain(name: str) -> Callable[[FieldReader, int], SimpleRequest]:
    return lambda r, version: SimpleRequest(name)


_DECODERS: dict[int, Callable[[FieldReader, int], Request]] = {
    1: _market_data,
    2: _cancel_market_data,
    3: _place_order,
    5: _plain("reqOpenOrders"),
    6: _account_updates,
    7: _with_version_and_id("reqExecutions"),
    8: _ids,
    9: _contract_details,
    15: _plain("reqAutoOpenOrders"),
    16: _plain("reqAllOpenOrders"),
    17: _plain("reqManagedAccts"),
    20: _historical_data,
    25: _with_version_and_id("cancelHistoricalData"),
    49: _plain("reqCurrentTime"),
    59: _market_data_type,
    61: _plain("reqPositions"),
    62: _account_summary,
    63: _with_version_and_id("cancelAccountSummary"),
    64: _plain("cancelPositions"),
    71: _start_api,
    76: _account_updates_multi,
    77: _with_version_and_id("cancelAccountUpdatesMulti"),
    99: _plain("reqCompletedOrders"),
}


def decode_request(fields: list[str], server_version: int) -> Request:
    """Turn one frame's fields into a request value.

    Raises :class:`UnknownMessage` for an id outside the protocol and
    :class:`BadRequest` for missing or malformed fields.
    """
    if not fields or fields[0] == "":
        raise BadRequest("message", "empty frame (no message id)")
    raw_id = fields[0]
    try:
        message_id = int(raw_id)
    except ValueError:
        raise UnknownMessage(raw_id) from None
    name = REQUEST_NAMES.get(message_id)
    if name is None:
        raise UnknownMessage(raw_id)
    decoder = _DECODERS.get(message_id)
    if decoder is None:
        return UnsupportedRequest(message_id, name)
    return decoder(FieldReader(name, fields), server_version)

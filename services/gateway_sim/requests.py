"""Incoming TWS API requests, decoded from a frame's fields into values.

Field orders are the ones real clients send (ib_async's ``client.py`` and the official EClient
agree on them for server versions 157..178). Decoding never trusts the client: a missing or
malformed field raises :class:`~ibproto.fields.BadRequest` naming the request and the field
(with the reqId when it was read), so the session answers with an error record and carries on.
The per-request decoders are in :mod:`.decoders`; placeOrder, the long one, in :mod:`.order_requests`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ibproto.errors import ProtocolError
from ibproto.fields import BadRequest, FieldReader, parse_int
from ibproto.messages import ClientMessage as C
from ibproto.messages import client_message
from services.gateway_sim.catalog import ContractQuery


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
class ContractRequest:
    """Any request about one contract: market data, depth, bars, ticks, details and so on.

    ``message`` says which; the optional fields are those the request carries.
    """

    message: C
    request_id: int
    contract: ContractQuery
    generic_ticks: str = ""
    snapshot: bool = False
    rows: int = 0
    smart_depth: bool = False
    bar_size: str = ""
    duration: str = ""
    end: str = ""
    start: str = ""
    what_to_show: str = ""
    use_rth: bool = False
    format_date: int = 1
    keep_up_to_date: bool = False
    count: int = 0
    ignore_size: bool = False
    report_type: str = ""
    value: float = 0.0  # option price or volatility of an option calculation
    under_price: float = 0.0


@dataclass(frozen=True)
class Cancel:
    """A cancel* request naming the reqId it cancels."""

    message: C
    request_id: int


@dataclass(frozen=True)
class AccountRequest:
    """reqAccountUpdates (``subscribe``), reqAccountSummary, the *Multi and PnL requests."""

    message: C
    request_id: int = -1
    account: str = ""
    model_code: str = ""
    subscribe: bool = True
    group: str = ""
    tags: str = ""
    con_id: int = 0


@dataclass(frozen=True)
class ExecutionsRequest:
    request_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


@dataclass(frozen=True)
class ScannerRequest:
    request_id: int
    rows: int
    instrument: str
    location: str
    scan_code: str
    above_price: float
    below_price: float
    above_volume: int


@dataclass(frozen=True)
class Simple:
    """A request answered from its id alone (and the few plain values it carries)."""

    message: C
    request_id: int = -1
    value: int = 0
    text: str = ""
    texts: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CancelOrder:
    order_id: int


# --- helpers ----------------------------------------------------------------------------

def read_contract(r: FieldReader, *, primary: bool = True, trading_class: bool = True) -> ContractQuery:
    """The contract fields most requests send: conId, symbol, secType, expiry, strike, right,
    multiplier, exchange, [primaryExchange], currency, localSymbol, [tradingClass]."""
    con_id = r.integer("contract.conId")
    symbol, sec_type = r.text("contract.symbol"), r.text("contract.secType")
    expiry, strike, right = r.text("contract.lastTradeDateOrContractMonth"), r.number("contract.strike"), \
        r.text("contract.right")
    multiplier, exchange = r.text("contract.multiplier"), r.text("contract.exchange")
    primary_exchange = r.text("contract.primaryExchange") if primary else ""
    currency, local_symbol = r.text("contract.currency"), r.text("contract.localSymbol")
    klass = r.text("contract.tradingClass") if trading_class else ""
    return ContractQuery(con_id, symbol, sec_type, currency, exchange, local_symbol, expiry, strike, right,
                         multiplier, primary_exchange, klass)


def skip_combo_legs(r: FieldReader, contract: ContractQuery, per_leg: int = 4) -> None:
    if contract.sec_type.upper() == "BAG":
        for _ in range(r.count("comboLegsCount")):
            r.skip("comboLeg", per_leg)


def skip_tag_values(r: FieldReader, name: str) -> None:
    """A list of tag=value options sent as one text field (what current clients do)."""
    r.optional_text(name)


def decode_request(fields: list[str], server_version: int) -> object:
    """Turn one frame's fields into a request value.

    Raises :class:`UnknownMessage` for an id outside the protocol and
    :class:`~ibproto.fields.BadRequest` for missing or malformed fields.
    """
    from services.gateway_sim.decoders import DECODERS, decode_start_api
    from services.gateway_sim.order_requests import decode_place_order

    if not fields or fields[0] == "":
        raise BadRequest("message", "empty frame (no message id)")
    try:
        message = client_message(parse_int(fields[0]))
    except ProtocolError:
        raise UnknownMessage(fields[0]) from None
    if message is None:
        raise UnknownMessage(fields[0])
    reader = FieldReader(message.label, fields)
    if message is C.START_API:
        return decode_start_api(reader, server_version)
    if message is C.PLACE_ORDER:
        return decode_place_order(reader, server_version)
    return DECODERS[message](reader, server_version)

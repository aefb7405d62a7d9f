"""Answers to decoded requests once the API is started: what a real Gateway sends back for each.

Handlers write through the session (``send``, ``send_error``, ``log``) and
read the shared market and account from its gateway; they never touch I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from services.gateway_sim import messages
from services.gateway_sim.catalog import ContractQuery, Instrument, find_instrument
from services.gateway_sim.market import Quote, parse_bar_size, parse_duration
from services.gateway_sim.requests import (
    AccountSummaryRequest,
    AccountUpdatesMultiRequest,
    AccountUpdatesRequest,
    CancelMarketData,
    ContractDetailsRequest,
    HistoricalDataRequest,
    IdsRequest,
    MarketDataRequest,
    MarketDataTypeRequest,
    OrderRequest,
    Request,
    SimpleRequest,
    UnsupportedRequest,
)

if TYPE_CHECKING:
    from services.gateway_sim.session import Session

VALIDATION_FAILED = 321
DUPLICATE_TICKER_ID = 322
TICKER_NOT_FOUND = 300
ORDER_REJECTED = 201
REALTIME_DATA = 1


class RequestHandlers:
    """Dispatches each request value to the method that answers it."""

    def __init__(self, session: "Session"):
        self.session = session
        self.market_data_type = REALTIME_DATA
        self.next_order_id = 1
        self._by_type: dict[type, Callable] = {
            MarketDataRequest: self.market_data, CancelMarketData: self.cancel_market_data,
            ContractDetailsRequest: self.contract_details, HistoricalDataRequest: self.historical_data,
            AccountUpdatesRequest: self.account_updates, AccountUpdatesMultiRequest: self.account_updates_multi,
            AccountSummaryRequest: self.account_summary, IdsRequest: self.ids,
            MarketDataTypeRequest: self.set_market_data_type, OrderRequest: self.reject_order,
            SimpleRequest: self.simple, UnsupportedRequest: self.unsupported,
        }
        self._simple: dict[str, Callable[[SimpleRequest], None]] = {
            "reqPositions": self.positions, "reqOpenOrders": self.open_orders,
            "reqAllOpenOrders": self.open_orders, "reqCompletedOrders": self.completed_orders,
            "reqExecutions": self.executions, "reqManagedAccts": self.managed_accounts,
            "reqCurrentTime": self.current_time,
        }

    def handle(self, request: Request) -> None:
        self._by_type[type(request)](request)

    # --- lookups --------------------------------------------------------------------------

    def _instrument_or_error(self, request_id: int, contract: ContractQuery, what: str,
                             error: tuple[int, str] = messages.NO_SECURITY_DEFINITION) -> Instrument | None:
        instrument = find_instrument(contract)
        if instrument is None:
            self.session.log(f"{what} {request_id} for unknown contract {contract.describe()}: error {error[0]}")
            self.session.send_error(request_id, *error)
        return instrument

    def _price(self, instrument: Instrument) -> float:
        return self.session.gateway.market.quote(instrument).last

    # --- market data ----------------------------------------------------------------------

    def market_data(self, request: MarketDataRequest) -> None:
        session, request_id = self.session, request.request_id
        instrument = self._instrument_or_error(request_id, request.contract, "reqMktData")
        if instrument is None:
            return
        if request_id in session.subscriptions:
            session.send_error(request_id, DUPLICATE_TICKER_ID,
                               f"Error processing request: duplicate ticker id {request_id}")
            return
        quote = session.gateway.market.quote(instrument)
        session.send(messages.market_data_type(request_id, self.market_data_type),
                     messages.tick_request_parameters(request_id, instrument))
        session.send(*opening_ticks(request_id, instrument, quote))
        if request.snapshot:
            session.send(messages.tick_snapshot_end(request_id))
        else:
            session.subscriptions[request_id] = instrument

    def cancel_market_data(self, request: CancelMarketData) -> None:
        if self.session.subscriptions.pop(request.request_id, None) is None:
            self.session.send_error(request.request_id, TICKER_NOT_FOUND,
                                    f"Can't find EId with tickerId:{request.request_id}")

    def set_market_data_type(self, request: MarketDataTypeRequest) -> None:
        if request.data_type not in (1, 2, 3, 4):
            self.session.send_error(-1, VALIDATION_FAILED, f"Error validating request: market data type "
                                                           f"{request.data_type} is not 1, 2, 3 or 4")
            return
        self.market_data_type = request.data_type

    # --- reference and historical data ------------------------------------------------------

    def contract_details(self, request: ContractDetailsRequest) -> None:
        session = self.session
        instrument = self._instrument_or_error(request.request_id, request.contract, "reqContractDetails")
        if instrument is None:
            return
        exchange = request.contract.exchange or instrument.default_exchange
        session.send(messages.contract_details(session.server_version, request.request_id, instrument, exchange),
                     messages.contract_details_end(request.request_id))

    def historical_data(self, request: HistoricalDataRequest) -> None:
        session, request_id = self.session, request.request_id
        instrument = self._instrument_or_error(request_id, request.contract, "reqHistoricalData",
                                               messages.HISTORICAL_NO_SECURITY)
        if instrument is None:
            return
        bar_seconds, duration = parse_bar_size(request.bar_size), parse_duration(request.duration)
        if bar_seconds is None or duration is None:
            field, value = ("barSizeSetting", request.bar_size) if bar_seconds is None else \
                ("durationStr", request.duration)
            session.log(f"bad input: reqHistoricalData {request_id} field {field!r} is {value!r}")
            session.send_error(request_id, VALIDATION_FAILED,
                               f"Error validating request: reqHistoricalData {field} {value!r} is invalid")
            return
        now = session.gateway.clock.now()
        bars = session.gateway.market.history(instrument, now, bar_seconds, max(1, duration // bar_seconds))
        session.send(messages.historical_data(request_id, instrument, bars, bar_seconds, request.format_date))

    # --- account, positions, orders ---------------------------------------------------------

    def positions(self, request: SimpleRequest) -> None:
        account = self.session.gateway.account
        for holding in account.holdings:
            self.session.send(messages.position(account.account_id, holding.instrument, holding.quantity,
                                                holding.average_cost))
        self.session.send(messages.position_end())

    def account_updates(self, request: AccountUpdatesRequest) -> None:
        if not request.subscribe:
            return
        session = self.session
        account = session.gateway.account
        name = request.account or account.account_id
        if name == account.account_id:
            for key, value, currency in account.values(self._price):
                session.send(messages.account_value(key, value, currency, name))
            for line in account.portfolio(self._price):
                session.send(messages.portfolio_value(line, name))
            session.send(messages.account_time(session.gateway.clock.now()))
        session.send(messages.account_download_end(name))

    def account_updates_multi(self, request: AccountUpdatesMultiRequest) -> None:
        session = self.session
        account = session.gateway.account
        if request.account in ("", account.account_id):
            for key, value, currency in account.values(self._price):
                session.send(messages.account_update_multi(request.request_id, account.account_id,
                                                           request.model_code, key, value, currency))
        session.send(messages.account_update_multi_end(request.request_id))

    def account_summary(self, request: AccountSummaryRequest) -> None:
        session = self.session
        account = session.gateway.account
        wanted = {tag.strip() for tag in request.tags.split(",") if tag.strip()}
        for key, value, currency in account.values(self._price):
            if not wanted or key in wanted:
                session.send(messages.account_summary(request.request_id, account.account_id, key, value,
                                                      currency))
        session.send(messages.account_summary_end(request.request_id))

    def open_orders(self, request: SimpleRequest) -> None:
        self.session.send(messages.open_order_end())

    def completed_orders(self, request: SimpleRequest) -> None:
        self.session.send(messages.completed_orders_end())

    def executions(self, request: SimpleRequest) -> None:
        self.session.send(messages.execution_details_end(request.request_id))

    def ids(self, request: IdsRequest) -> None:
        self.session.send(messages.next_valid_id(self.next_order_id))

    def reject_order(self, request: OrderRequest) -> None:
        self.next_order_id = max(self.next_order_id, request.order_id + 1)
        self.session.log(f"placeOrder {request.order_id} rejected: the simulator does not trade")
        self.session.send_error(request.order_id, ORDER_REJECTED,
                                "Order rejected - reason:the gateway simulator does not accept orders")

    def managed_accounts(self, request: SimpleRequest) -> None:
        self.session.send(messages.managed_accounts([self.session.gateway.account.account_id]))

    def current_time(self, request: SimpleRequest) -> None:
        self.session.send(messages.current_time(int(self.session.gateway.clock.now().timestamp())))

    def simple(self, request: SimpleRequest) -> None:
        handler = self._simple.get(request.name)
        if handler is not None:
            handler(request)
        # The rest (cancelPositions, cancelHistoricalData, reqAutoOpenOrders, ...) need no answer.

    def unsupported(self, request: UnsupportedRequest) -> None:
        self.session.log(f"{request.name} (message id {request.message_id}) is not simulated; "
                         f"answered with error {VALIDATION_FAILED}")
        self.session.send_error(-1, VALIDATION_FAILED, f"Error validating request: {request.name} "
                                                       f"(message id {request.message_id}) is not supported "
                                                       f"by the gateway simulator")


def opening_ticks(request_id: int, instrument: Instrument, quote: Quote) -> list[bytes]:
    """The full picture a new subscription starts with: book, last trade and the day's statistics."""
    price = messages.price_text
    return [
        messages.tick_price(request_id, messages.BID, price(quote.bid, instrument), quote.bid_size),
        messages.tick_price(request_id, messages.ASK, price(quote.ask, instrument), quote.ask_size),
        messages.tick_price(request_id, messages.LAST, price(quote.last, instrument), quote.last_size),
        messages.tick_size(request_id, messages.VOLUME, quote.volume),
        messages.tick_price(request_id, messages.HIGH, price(quote.high, instrument), 0),
        messages.tick_price(request_id, messages.LOW, price(quote.low, instrument), 0),
        messages.tick_price(request_id, messages.CLOSE, price(quote.close, instrument), 0),
        messages.tick_price(request_id, messages.OPEN, price(quote.open, instrument), 0),
    ]

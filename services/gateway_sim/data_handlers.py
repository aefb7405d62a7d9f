"""Historical and reference data: contract details, bars, ticks, schedules, option chains and
computations, symbol search, market rules, scanner, news and the account-level odds and ends.

Each request gets its own answer on its own reqId, or the error a Gateway sends for it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from ibproto.codes import say
from ibproto.messages import ClientMessage as C
from services.gateway_sim import history, messages
from services.gateway_sim.calendar import EXCHANGE_ZONE, EXCHANGE_ZONE_NAME, is_trading_day, session as trading_session
from services.gateway_sim.calendar import trading_hours
from services.gateway_sim.catalog import INSTRUMENTS, ContractQuery, Instrument, find_instrument, matching
from services.gateway_sim.handlers import instrument_or_error
from services.gateway_sim.market import Quote, Trade, round_to_tick
from services.gateway_sim.requests import ContractRequest, ScannerRequest, Simple

if TYPE_CHECKING:
    from services.gateway_sim.session import Session

PACING_IDENTICAL = 15.0
PACING_BURST = (6, 2.0)
PACING_WINDOW = (60, 600.0)
SCANNER_XML = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ScanParameterResponse><InstrumentList>"
               "<Instrument><name>US Stocks</name><type>STK</type></Instrument></InstrumentList>"
               "<LocationTree><Location><displayName>US Stocks</displayName><locationCode>STK.US.MAJOR"
               "</locationCode></Location></LocationTree><ScanTypeList>"
               + "".join(f"<ScanType><displayName>{name}</displayName><scanCode>{code}</scanCode>"
                         f"<instruments>STK</instruments></ScanType>"
                         for code, name in (("TOP_PERC_GAIN", "Top % Gainers"), ("TOP_PERC_LOSE", "Top % Losers"),
                                            ("MOST_ACTIVE", "Most Active")))
               + "</ScanTypeList></ScanParameterResponse>")


def contract_details(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqContractDetails")
    if instrument is None:
        return
    exchange = request.contract.exchange or instrument.default_exchange
    now = session.gateway.now()
    session.send(messages.contract_details(session.server_version, request.request_id, instrument, exchange,
                                           trading_hours(now), trading_hours(now, extended=False)),
                 messages.contract_details_end(request.request_id))


# --- bars -------------------------------------------------------------------------------------

def _pacing_refusal(session: "Session", request: ContractRequest, now: float) -> str | None:
    """IB's historical pacing rules, with ``--pacing ib`` only."""
    identity = (request.contract.describe(), request.end, request.bar_size, request.duration, request.what_to_show)
    log = [(t, i) for t, i in session.history_requests if now - t < PACING_WINDOW[1]]
    session.history_requests = log + [(now, identity)]
    if session.gateway.policy.pacing != "ib":
        return None
    if any(i == identity and now - t < PACING_IDENTICAL for t, i in log):
        return "Historical data request pacing violation (identical request within 15 seconds)"
    same = [t for t, i in log if i[0] == identity[0] and i[4] == identity[4] and now - t < PACING_BURST[1]]
    if len(same) >= PACING_BURST[0] - 1:
        return "Historical data request pacing violation (six or more requests for one contract within 2 seconds)"
    if len(log) >= PACING_WINDOW[0]:
        return "Historical data request pacing violation (more than 60 requests within 10 minutes)"
    return None


def historical_data(session: "Session", request: ContractRequest) -> None:
    rid = request.request_id
    instrument = instrument_or_error(session, rid, request.contract, "reqHistoricalData",
                                     messages.HISTORICAL_NO_SECURITY)
    if instrument is None:
        return
    gateway = session.gateway
    now = gateway.now()
    if request.what_to_show.upper() == "SCHEDULE":
        return _schedule(session, request, instrument, now)
    try:
        pacing = _pacing_refusal(session, request, now)
        if pacing:
            raise history.Refused(pacing)
        query = history.validate(instrument, request.bar_size, request.duration, request.what_to_show, request.end,
                                 request.use_rth, request.format_date, request.keep_up_to_date, now)
    except history.Refused as refusal:
        session.log(f"reqHistoricalData {rid} refused: error {refusal.code} {refusal.text}")
        session.send_error(rid, refusal.code, refusal.text)
        return
    bars = history.bars(gateway.market.path, instrument, query)
    start = history.format_time(query.start, 60, 1)
    end = history.format_time(query.end, 60, 1)
    session.send(messages.historical_data(rid, instrument, bars, start, end, query.bar_seconds, query.format_date))
    if request.keep_up_to_date:
        session.streams[rid] = BarUpdates(rid, instrument, query.bar_seconds, query.format_date)


@dataclass
class BarUpdates:
    """keepUpToDate: the bar in progress, re-sent (about once a second) as the market moves."""

    request_id: int
    instrument: Instrument
    bar_seconds: int
    format_date: int
    start: float = 0.0
    prices: list[float] = field(default_factory=list)
    volume: float = 0.0
    sent_at: float = 0.0

    def update(self, quote: Quote, trades: list[Trade], now: float) -> list[bytes]:
        bucket = now - now % self.bar_seconds
        if bucket != self.start:
            self.start, self.prices, self.volume = bucket, [], 0.0
        self.prices.append(quote.last if trades else quote.mid)
        self.volume += sum(t.size for t in trades)
        if now - self.sent_at < 1.0:
            return []
        self.sent_at = now
        p = [round_to_tick(x, self.instrument) for x in self.prices]
        bar = history.Bar(self.start, p[0], max(p), min(p), p[-1], self.volume,
                          round(sum(p) / len(p), self.instrument.price_decimals + 2), len(self.prices))
        return [messages.historical_data_update(self.request_id, self.instrument, bar, self.bar_seconds,
                                                self.format_date)]


def _schedule(session: "Session", request: ContractRequest, instrument: Instrument, now: float) -> None:
    day = datetime.fromtimestamp(now, EXCHANGE_ZONE).date()
    sessions = []
    for offset in range(10):
        current = day - timedelta(days=9 - offset)
        if is_trading_day(current):
            opens, closes = trading_session(current, extended=not request.use_rth)
            sessions.append((f"{opens:%Y%m%d-%H:%M:%S}", f"{closes:%Y%m%d-%H:%M:%S}", f"{current:%Y%m%d}"))
    start, end = (sessions[0][0], sessions[-1][1]) if sessions else ("", "")
    session.send(messages.historical_schedule(request.request_id, start, end, EXCHANGE_ZONE_NAME, sessions))


def head_timestamp(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqHeadTimeStamp",
                                     messages.HISTORICAL_NO_SECURITY)
    if instrument is not None:
        session.send(messages.head_timestamp(request.request_id, history.head_timestamp(instrument,
                                                                                        request.format_date)))


def histogram(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqHistogramData")
    if instrument is None:
        return
    center = session.gateway.price_of(instrument)
    rows = [(round_to_tick(center * (1 + k / 200), instrument), int(1000 * math.exp(-(k / 4) ** 2)))
            for k in range(-8, 9)]
    session.send(messages.histogram(request.request_id, rows))


def historical_ticks(session: "Session", request: ContractRequest) -> None:
    instrument = instrument_or_error(session, request.request_id, request.contract, "reqHistoricalTicks")
    if instrument is None:
        return
    what = request.what_to_show.upper()
    if what not in ("TRADES", "MIDPOINT", "BID_ASK") or (instrument.is_forex and what == "TRADES"):
        session.send_error(request.request_id, *say(162, f"Invalid whatToShow {what!r} for historical ticks"))
        return
    gateway = session.gateway
    try:
        end = history.parse_end(request.end, gateway.now()) if request.end else None
        start = history.parse_end(request.start, gateway.now()) if request.start else None
    except history.Refused as refusal:
        session.send_error(request.request_id, refusal.code, refusal.text)
        return
    count = max(1, min(request.count or 100, 1000))
    end = end or ((start + count) if start else gateway.now())
    path, price = gateway.market.path, messages.price_text
    rows = []
    for k in range(count):
        t = int(end - (count - k))
        mid = path.mid(instrument.con_id, instrument.start_price, t)
        if what == "MIDPOINT":
            rows.append((t, 0, price(round_to_tick(mid, instrument), instrument), 0))
        elif what == "BID_ASK":
            rows.append((t, 0, price(round_to_tick(mid - instrument.min_tick, instrument), instrument),
                         price(round_to_tick(mid + instrument.min_tick, instrument), instrument), 100, 100))
        else:
            rows.append((t, 0, price(round_to_tick(mid, instrument), instrument), 100, "NASDAQ", ""))
    session.send(messages.historical_ticks(what, request.request_id, rows))


# --- reference --------------------------------------------------------------------------------

def sec_def_opt_params(session: "Session", request: Simple) -> None:
    symbol = request.texts[0] if request.texts else ""
    instrument = find_instrument(ContractQuery(symbol=symbol, sec_type="STK"))
    if instrument is None:
        session.send(messages.sec_def_opt_params_end(request.request_id))
        return
    today = datetime.fromtimestamp(session.gateway.now(), EXCHANGE_ZONE).date()
    fridays = [today + timedelta(days=(4 - today.weekday()) % 7 + 7 * k) for k in range(8)]
    expirations = [f"{day:%Y%m%d}" for day in fridays]
    center = session.gateway.price_of(instrument)
    step = 5.0 if center > 100 else 1.0
    strikes = [round(center - center % step + step * k, 2) for k in range(-10, 11)]
    for exchange in ("SMART", "CBOE"):
        session.send(messages.sec_def_opt_params(request.request_id, exchange, instrument.con_id, instrument.symbol,
                                                 expirations, strikes))
    session.send(messages.sec_def_opt_params_end(request.request_id))


def option_calculation(session: "Session", request: ContractRequest) -> None:
    """Black-Scholes (no dividends, 4% rate) for calculateImpliedVolatility / calculateOptionPrice."""
    contract = request.contract
    under = find_instrument(ContractQuery(symbol=contract.symbol, sec_type="STK"))
    if contract.sec_type.upper() != "OPT" or under is None or contract.strike <= 0 or contract.right[:1] not in "CP":
        session.send_error(request.request_id, *messages.NO_SECURITY_DEFINITION)
        return
    spot = request.under_price or session.gateway.price_of(under)
    try:
        expiry = datetime.strptime(contract.last_trade_date[:8], "%Y%m%d").replace(hour=16, tzinfo=EXCHANGE_ZONE)
    except ValueError:
        session.send_error(request.request_id, *messages.NO_SECURITY_DEFINITION)
        return
    years = max(1 / 365, (expiry.timestamp() - session.gateway.now()) / (365 * 86_400))
    call = contract.right[:1].upper() == "C"
    if request.message is C.REQ_CALC_OPTION_PRICE:
        vol = request.value or 0.3
    else:
        vol = implied_volatility(request.value, spot, contract.strike, years, call)
    price, delta, gamma, vega, theta = black_scholes(spot, contract.strike, years, vol, call)
    tick = 13 if request.message is C.REQ_CALC_OPTION_PRICE else 53
    session.send(messages.tick_option_computation(request.request_id, tick,
                                                  (round(vol, 6), round(delta, 6), round(price, 4), 0.0,
                                                   round(gamma, 6), round(vega, 6), round(theta, 6), spot)))


def black_scholes(spot: float, strike: float, years: float, vol: float, call: bool,
                  rate: float = 0.04) -> tuple[float, float, float, float, float]:
    vol = max(vol, 1e-4)
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    discount = math.exp(-rate * years)
    if call:
        price, delta = spot * cdf(d1) - strike * discount * cdf(d2), cdf(d1)
    else:
        price, delta = strike * discount * cdf(-d2) - spot * cdf(-d1), cdf(d1) - 1
    gamma = pdf / (spot * vol * math.sqrt(years))
    vega = spot * pdf * math.sqrt(years) / 100
    theta = (-spot * pdf * vol / (2 * math.sqrt(years)) - rate * strike * discount * (cdf(d2) if call else -cdf(-d2))) / 365
    return price, delta, gamma, vega, theta


def implied_volatility(price: float, spot: float, strike: float, years: float, call: bool) -> float:
    low, high = 1e-4, 5.0
    for _ in range(60):
        middle = (low + high) / 2
        if black_scholes(spot, strike, years, middle, call)[0] > price:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def matching_symbols(session: "Session", request: Simple) -> None:
    session.send(messages.symbol_samples(session.server_version, request.request_id, matching(request.text)))


def market_rule(session: "Session", request: Simple) -> None:
    increments = {26: [(0.0, 0.01)], 239: [(0.0, 0.00005)]}.get(request.value)
    if increments is None:
        session.send_error(-1, *say(321, "bN", f"Invalid market rule id {request.value}"))
        return
    session.send(messages.market_rule(request.value, increments))


def smart_components(session: "Session", request: Simple) -> None:
    rows = [(1, "NYSE", "N"), (2, "NASDAQ", "Q"), (3, "ARCA", "P"), (4, "BATS", "Z"), (5, "IEX", "V")]
    session.send(messages.smart_components(request.request_id, rows))


def depth_exchanges(session: "Session", request: Simple) -> None:
    session.send(messages.depth_exchanges([("NASDAQ", "STK", "NASDAQ", "Deep2", 1), ("ARCA", "STK", "ARCA", "Deep", 1),
                                           ("IDEALPRO", "CASH", "", "Deep", 4)]))


def news_providers(session: "Session", request: Simple) -> None:
    session.send(messages.news_providers([("BRFG", "Briefing.com General Market Columns"),
                                          ("BRFUPDN", "Briefing.com Analyst Actions"), ("DJNL", "Dow Jones Newsletters")]))


def historical_news(session: "Session", request: Simple) -> None:
    session.send(messages.historical_news_end(request.request_id))


def refuse(code: int, *values: object) -> Callable[["Session", object], None]:
    def answer(session: "Session", request: object) -> None:
        session.send_error(getattr(request, "request_id", -1), *say(code, *values))
    return answer


def scanner_parameters(session: "Session", request: Simple) -> None:
    session.send(messages.scanner_parameters(SCANNER_XML))


def scanner(session: "Session", request: ScannerRequest) -> None:
    gateway = session.gateway
    now = gateway.now()
    stocks = [i for i in INSTRUMENTS if i.sec_type == "STK"]
    if request.scan_code not in ("TOP_PERC_GAIN", "TOP_PERC_LOSE", "MOST_ACTIVE"):
        session.send_error(request.request_id, *say(162, f"Scanner {request.scan_code!r} is not available"))
        return
    def change(instrument: Instrument) -> float:
        quote = gateway.market.quote(instrument, now)
        return (quote.mid - quote.close) / quote.close
    if request.scan_code == "MOST_ACTIVE":
        ranked = sorted(stocks, key=lambda i: -gateway.market.quote(i, now).volume)
    else:
        ranked = sorted(stocks, key=change, reverse=request.scan_code == "TOP_PERC_GAIN")
    ranked = [i for i in ranked if (not request.above_price or gateway.price_of(i) > request.above_price)
              and (not request.below_price or gateway.price_of(i) < request.below_price)]
    rows = request.rows if request.rows > 0 else 50
    session.send(messages.scanner_data(request.request_id, list(enumerate(ranked[:rows]))))


def simple_answer(builder: Callable[["Session", Simple], bytes]) -> Callable[["Session", Simple], None]:
    return lambda session, request: session.send(builder(session, request))


_BY_MESSAGE: dict[object, Callable] = {
    C.REQ_CONTRACT_DATA: contract_details, C.REQ_HISTORICAL_DATA: historical_data,
    C.REQ_HEAD_TIMESTAMP: head_timestamp, C.REQ_HISTOGRAM_DATA: histogram, C.REQ_HISTORICAL_TICKS: historical_ticks,
    C.REQ_SEC_DEF_OPT_PARAMS: sec_def_opt_params, C.REQ_CALC_IMPLIED_VOLAT: option_calculation,
    C.REQ_CALC_OPTION_PRICE: option_calculation, C.REQ_MATCHING_SYMBOLS: matching_symbols,
    C.REQ_MARKET_RULE: market_rule, C.REQ_SMART_COMPONENTS: smart_components,
    C.REQ_MKT_DEPTH_EXCHANGES: depth_exchanges, C.REQ_NEWS_PROVIDERS: news_providers,
    C.REQ_HISTORICAL_NEWS: historical_news, C.REQ_NEWS_ARTICLE: refuse(10172, "No data available"),
    C.REQ_FUNDAMENTAL_DATA: refuse(430, "Failed to fetch: the simulator has no fundamental data"),
    C.REQ_WSH_META_DATA: refuse(10285, "no Wall Street Horizon subscription"),
    C.REQ_WSH_EVENT_DATA: refuse(10285, "no Wall Street Horizon subscription"),
    C.REQ_SCANNER_PARAMETERS: scanner_parameters,
    C.REQ_SOFT_DOLLAR_TIERS: simple_answer(lambda s, r: messages.soft_dollar_tiers(r.request_id)),
    C.REQ_FAMILY_CODES: simple_answer(lambda s, r: messages.family_codes(s.gateway.account.account_id)),
    C.REQ_USER_INFO: simple_answer(lambda s, r: messages.user_info(r.request_id)),
    C.QUERY_DISPLAY_GROUPS: simple_answer(lambda s, r: messages.display_group_list(r.request_id)),
    C.SUBSCRIBE_TO_GROUP_EVENTS: simple_answer(lambda s, r: messages.display_group_updated(r.request_id, "")),
    C.UPDATE_DISPLAY_GROUP: simple_answer(lambda s, r: messages.display_group_updated(r.request_id, r.text)),
    C.UNSUBSCRIBE_FROM_GROUP_EVENTS: lambda session, request: None,
    C.REQ_FA: refuse(321, "bB", "FA data operations ignored for non FA customers."),
    C.REPLACE_FA: refuse(321, "bB", "FA data operations ignored for non FA customers."),
    C.EXERCISE_OPTIONS: refuse(200),
}

HANDLERS: dict[type, Callable] = {ScannerRequest: scanner}


def by_message(message: object) -> Callable | None:
    from services.gateway_sim import order_handlers

    return _BY_MESSAGE.get(message) or order_handlers.BY_MESSAGE.get(message)

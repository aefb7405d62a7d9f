"""The instruments the simulator knows: US stocks plus the EUR.USD pair, with stable conIds.

Anything not listed here is an unknown symbol and gets error 200, as an
unknown symbol does from the real Gateway. The conIds are the ones IB uses
for these instruments, so a contract qualified against the simulator looks
like one qualified against a real account. Start prices are realistic
(late 2025) so strategies see plausible numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

STOCK_ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,GAT,GTC,GTD,LIT,LMT,MIT,MKT,MOC,MTL,OCA,REL,RTH,SCALE,STP,STPLMT,TRAIL,TRAILLIMIT,WHATIF"
STOCK_EXCHANGES = "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,NASDAQ,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,LTSE,MEMX,PEARL,PSX"
US_TRADING_HOURS = "20251124:0400-20251124:2000;20251125:0400-20251125:2000"
US_LIQUID_HOURS = "20251124:0930-20251124:1600;20251125:0930-20251125:1600"


@dataclass(frozen=True, eq=False)
class Instrument:
    """One tradable contract and the reference data contractDetails reports for it.

    Each instrument exists once (in :data:`INSTRUMENTS`), so identity is equality;
    hashing by identity keeps the per-tick dictionary lookups cheap.
    """

    symbol: str
    con_id: int
    long_name: str
    start_price: float
    primary_exchange: str = "NASDAQ"
    sec_type: str = "STK"
    currency: str = "USD"
    default_exchange: str = "SMART"
    min_tick: float = 0.01
    price_decimals: int = 2
    industry: str = "Technology"
    category: str = "Computers"
    subcategory: str = "Computers"
    local_symbol: str = ""
    trading_class: str = "NMS"
    lot_size: int = 100
    daily_volume: int = 40_000_000
    listed_since: str = "19901231"  # reqHeadTimeStamp's answer for TRADES

    @property
    def display_symbol(self) -> str:
        """The symbol as traders write it: ``AAPL``, ``EUR.USD``."""
        return self.local_symbol or self.symbol

    @property
    def is_forex(self) -> bool:
        return self.sec_type == "CASH"

    @property
    def display_lot(self) -> int:
        """The unit of displayed sizes: round lots of shares, or a million of base currency for forex."""
        return 1_000_000 if self.is_forex else self.lot_size

    @property
    def market_rule_id(self) -> int:
        """IB's market rule: 26 is US stocks' penny tick, 239 IDEALPRO's half pip."""
        return 239 if self.is_forex else 26


def _stock(symbol: str, con_id: int, name: str, price: float, exchange: str = "NASDAQ", **extra) -> Instrument:
    trading_class = "NMS" if exchange == "NASDAQ" else symbol
    return Instrument(symbol, con_id, name, price, primary_exchange=exchange, local_symbol=symbol,
                      trading_class=trading_class, **extra)


INSTRUMENTS: tuple[Instrument, ...] = (
    _stock("AAPL", 265598, "APPLE INC", 271.50, daily_volume=50_000_000, listed_since="19801212"),
    _stock("NVDA", 4815747, "NVIDIA CORP", 182.50, category="Semiconductors", subcategory="Electronic Compo-Semicon",
           daily_volume=180_000_000, listed_since="19990122"),
    _stock("TSLA", 76792991, "TESLA INC", 395.20, industry="Consumer, Cyclical", category="Auto Manufacturers",
           subcategory="Auto-Cars/Light Trucks"),
    _stock("MSFT", 272093, "MICROSOFT CORP", 478.40, category="Software", subcategory="Applications Software"),
    _stock("AMZN", 3691937, "AMAZON.COM INC", 221.10, industry="Communications", category="Internet",
           subcategory="E-Commerce/Products"),
    _stock("GOOGL", 208813719, "ALPHABET INC-CL A", 299.70, industry="Communications", category="Internet",
           subcategory="Web Portals/ISP"),
    _stock("META", 107113386, "META PLATFORMS INC-CLASS A", 594.30, industry="Communications", category="Internet",
           subcategory="Internet Content-Entmnt"),
    _stock("AMD", 4391, "ADVANCED MICRO DEVICES", 203.80, category="Semiconductors",
           subcategory="Electronic Compo-Semicon"),
    _stock("NFLX", 15124833, "NETFLIX INC", 104.60, industry="Communications", category="Internet",
           subcategory="Internet Content-Entmnt"),
    _stock("INTC", 270639, "INTEL CORP", 34.90, category="Semiconductors", subcategory="Electronic Compo-Semicon"),
    _stock("JPM", 1520593, "JPMORGAN CHASE & CO", 303.20, "NYSE", industry="Financial", category="Banks",
           subcategory="Money Center Banks"),
    _stock("SPY", 756733, "SPDR S&P 500 ETF TRUST", 659.00, "ARCA", industry="Funds", category="Equity Fund",
           subcategory="Growth&Income-Large Cap"),
    _stock("QQQ", 320227571, "INVESCO QQQ TRUST SERIES 1", 598.80, "NASDAQ", industry="Funds",
           category="Equity Fund", subcategory="Growth-Large Cap"),
    # The Watchdog in ib_async probes with a historical request for Forex('EURUSD').
    Instrument("EUR", 12087792, "European Monetary Union Euro", 1.15420, primary_exchange="IDEALPRO",
               sec_type="CASH", default_exchange="IDEALPRO", min_tick=0.00005, price_decimals=5,
               industry="", category="", subcategory="", local_symbol="EUR.USD", trading_class="EUR.USD",
               lot_size=1, daily_volume=0, listed_since="20050301"),
)

_BY_CON_ID = {instrument.con_id: instrument for instrument in INSTRUMENTS}
_BY_KEY = {(i.symbol, i.sec_type, i.currency): i for i in INSTRUMENTS}
_BY_LOCAL_SYMBOL = {i.local_symbol: i for i in INSTRUMENTS if i.local_symbol}


@dataclass(frozen=True)
class ContractQuery:
    """The identifying fields of a contract a client sent (what a lookup needs of it)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    currency: str = ""
    exchange: str = ""
    local_symbol: str = ""
    last_trade_date: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    primary_exchange: str = ""
    trading_class: str = ""

    def describe(self) -> str:
        """A short label for logs: ``AAPL STK USD`` or ``conId 265598``."""
        parts = [self.symbol or self.local_symbol, self.sec_type, self.currency]
        text = " ".join(p for p in parts if p)
        if self.con_id:
            text = f"{text} conId {self.con_id}".strip()
        return text or "(empty contract)"


def find_instrument(query: ContractQuery) -> Instrument | None:
    """The instrument a client's contract names, or ``None`` when it names none we list.

    A conId wins when given (the way a qualified contract is looked up), but it
    must agree with any symbol also given; otherwise symbol, security type and
    currency must match (the latter two may be left empty).
    """
    if query.con_id:
        found = _BY_CON_ID.get(query.con_id)
        if found is None or (query.symbol and query.symbol.upper() != found.symbol):
            return None
        return found
    symbol = query.symbol.upper()
    if not symbol and query.local_symbol:
        return _compatible(_BY_LOCAL_SYMBOL.get(query.local_symbol.upper()), query)
    candidates = [i for (s, _, _), i in _BY_KEY.items() if s == symbol]
    matches = [i for i in candidates if _compatible(i, query)]
    return matches[0] if len(matches) == 1 else None


def _compatible(instrument: Instrument | None, query: ContractQuery) -> Instrument | None:
    if instrument is None:
        return None
    if query.sec_type and query.sec_type.upper() != instrument.sec_type:
        return None
    if query.currency and query.currency.upper() != instrument.currency:
        return None
    return instrument


def matching(pattern: str, limit: int = 16) -> list[Instrument]:
    """reqMatchingSymbols: listed instruments whose symbol or name starts with ``pattern``."""
    wanted = pattern.strip().upper()
    if not wanted:
        return []
    hits = [i for i in INSTRUMENTS if i.symbol.startswith(wanted) or i.display_symbol.startswith(wanted)]
    hits += [i for i in INSTRUMENTS if i not in hits and wanted in i.long_name]
    return hits[:limit]


def instrument_by_symbol(symbol: str) -> Instrument:
    """Look up a listed instrument by its display symbol (``AAPL``, ``EUR.USD``); KeyError if unlisted."""
    for instrument in INSTRUMENTS:
        if instrument.display_symbol == symbol:
            return instrument
    raise KeyError(symbol)

"""Recorded transcripts: request/answer sequences of a few calls, compared with golden files that name
every field, so a layout change is a visible diff (``UPDATE_GOLDEN=1`` rewrites them after a deliberate
change). The simulator runs in-process on a fixed clock, seed and timezone, so the bytes are stable."""

from __future__ import annotations

import os
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ibproto.wire import FrameDecoder, build_handshake, encode_message, split_fields
from services.gateway_sim import history, order_messages, session as session_module
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.gateway import Gateway
from services.gateway_sim.market import MarketModel
from services.gateway_sim.prices import PricePath
from services.gateway_sim.session import Session
from tests.gateway_sim.test_session import MOMENT, FixedClock

GOLDEN = Path(__file__).parent / "transcripts"
AAPL_SMART = (0, "AAPL", "STK", "", 0.0, "", "", "SMART", "", "USD", "", "")

CONTRACT = ["conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
            "exchange", "currency", "localSymbol", "tradingClass"]
OPEN_ORDER_178 = (
    ["msgId", "orderId", *CONTRACT, "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif",
     "ocaGroup", "account", "openClose", "origin", "orderRef", "clientId", "permId", "outsideRth", "hidden",
     "discretionaryAmt", "goodAfterTime", "sharesAllocation(deprecated)", "faGroup", "faMethod", "faPercentage",
     "modelCode", "goodTillDate", "rule80A", "percentOffset", "settlingFirm", "shortSaleSlot",
     "designatedLocation", "exemptCode", "auctionStrategy", "startingPrice", "stockRefPrice", "delta",
     "stockRangeLower", "stockRangeUpper", "displaySize", "blockOrder", "sweepToFill", "allOrNone", "minQty",
     "ocaType", "eTradeOnly(deprecated)", "firmQuoteOnly(deprecated)", "nbboPriceCap(deprecated)", "parentId",
     "triggerMethod", "volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice",
     "continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent", "basisPoints",
     "basisPointsType", "comboLegsDescrip", "comboLegsCount", "orderComboLegsCount", "smartComboRoutingParamsCount",
     "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement", "hedgeType", "optOutSmartRouting",
     "clearingAccount", "clearingIntent", "notHeld", "deltaNeutralContractPresent", "algoStrategy", "solicited",
     "whatIf", "status", "initMarginBefore", "maintMarginBefore", "equityWithLoanBefore", "initMarginChange",
     "maintMarginChange", "equityWithLoanChange", "initMarginAfter", "maintMarginAfter", "equityWithLoanAfter",
     "commission", "minCommission", "maxCommission", "commissionCurrency", "warningText", "randomizeSize",
     "randomizePrice", "conditionsCount", "adjustedOrderType", "triggerPrice", "trailStopPrice", "lmtPriceOffset",
     "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit",
     "softDollarTier.name", "softDollarTier.value", "softDollarTier.displayName", "cashQty",
     "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo",
     "duration(158+)", "postToAts(160+)", "autoCancelParent(162+)", "minTradeQty(170+)", "minCompeteSize(170+)",
     "competeAgainstBestOffset(170+)", "midOffsetAtWhole(170+)", "midOffsetAtHalf(170+)"])
NAMES = {
    "server": ["serverVersion", "connectionTime"],
    "4": ["msgId", "version", "reqId", "code", "message", "advancedOrderRejectJson(166+)"],
    "9": ["msgId", "version", "orderId"],
    "15": ["msgId", "version", "accountsList"],
    "10": ["msgId", "reqId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "exchange",
           "currency", "localSymbol", "marketName", "tradingClass", "conId", "minTick", "multiplier", "orderTypes",
           "validExchanges", "priceMagnifier", "underConId", "longName", "primaryExchange", "contractMonth",
           "industry", "category", "subcategory", "timeZoneId", "tradingHours", "liquidHours", "evRule",
           "evMultiplier", "secIdListCount", "aggGroup", "underSymbol", "underSecType", "marketRuleIds",
           "realExpirationDate", "stockType", "minSize(164+)", "sizeIncrement(164+)", "suggestedSizeIncrement(164+)"],
    "52": ["msgId", "version", "reqId"],
    "58": ["msgId", "version", "reqId", "marketDataType"],
    "81": ["msgId", "reqId", "minTick", "bboExchange", "snapshotPermissions"],
    "1": ["msgId", "version", "reqId", "tickType", "price", "size", "attrMask"],
    "2": ["msgId", "version", "reqId", "tickType", "size"],
    "45": ["msgId", "version", "reqId", "tickType", "value"],
    "46": ["msgId", "version", "reqId", "tickType", "value"],
    "57": ["msgId", "version", "reqId"],
    "5": OPEN_ORDER_178,
    "3": ["msgId", "orderId", "status", "filled", "remaining", "avgFillPrice", "permId", "parentId",
          "lastFillPrice", "clientId", "whyHeld", "mktCapPrice"],
    "11": ["msgId", "reqId", "orderId", *CONTRACT, "execId", "time", "acctNumber", "exchange", "side", "shares",
           "price", "permId", "clientId", "liquidation", "cumQty", "avgPrice", "orderRef", "evRule", "evMultiplier",
           "modelCode", "lastLiquidity", "pendingPriceRevision(178+)"],
    "59": ["msgId", "version", "execId", "commission", "currency", "realizedPNL", "yield", "yieldRedemptionDate"],
    "17": ["msgId", "reqId", "startDate", "endDate", "barCount",
           *[f"bar{n}.{f}" for n in range(1, 3) for f in ("date", "open", "high", "low", "close", "volume", "wap",
                                                        "count")]],
}


REQUEST_CONTRACT = ["conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
                    "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass"]
REQUESTS = {
    "handshake": ["prefix", "versionRange"],
    "71": ["msgId", "version", "clientId", "optionalCapabilities"],
    "9": ["msgId", "version", "reqId", *REQUEST_CONTRACT, "includeExpired", "secIdType", "secId", "issuerId(176+)"],
    "1": ["msgId", "version", "reqId", *REQUEST_CONTRACT, "deltaNeutralContractPresent", "genericTickList",
          "snapshot", "regulatorySnapshot", "mktDataOptions"],
    "20": ["msgId", "reqId", *REQUEST_CONTRACT, "includeExpired", "endDateTime", "barSizeSetting", "durationStr",
           "useRTH", "whatToShow", "formatDate", "keepUpToDate", "chartOptions"],
    "3": ["msgId", "orderId", *REQUEST_CONTRACT, "secIdType", "secId", "action", "totalQuantity", "orderType",
          "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin", "orderRef", "transmit",
          "parentId", "blockOrder", "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden",
          "sharesAllocation(deprecated)", "discretionaryAmt", "goodAfterTime", "goodTillDate", "faGroup",
          "faMethod", "faPercentage", "modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType"],
}


def annotate(direction: str, fields: list[str], kind: str | None = None) -> str:
    if kind in ("request", "handshake"):
        names = REQUESTS.get("handshake" if kind == "handshake" else fields[0], [])
        kind = None if kind == "request" else kind
    else:
        names = NAMES.get(kind or fields[0], [])
    parts = []
    for index, value in enumerate(fields):
        name = names[index] if index < len(names) else f"field{index} (not read by the simulator)"
        parts.append(f"    {name} = {value!r}")
    return f"{direction} {fields[0] if kind is None else kind}\n" + "\n".join(parts)


def run(requests: list[tuple[str, bytes]]) -> str:
    clock = FixedClock()
    gateway = Gateway(MarketModel(PricePath(5, MOMENT.timestamp()), random.Random(5)), PaperAccount(), clock)
    session = Session(1, gateway)
    lines: list[str] = []
    for label, data in requests:
        lines.append(f"# {label}")
        if not data:
            clock.advance(0.25)
            gateway.step()
            payload = session.take_output()[0]
        else:
            if data.startswith(b"API\0"):
                lines.append(annotate(">", ["API\\0", "v157..178"], "handshake"))
            else:
                lines.append(annotate(">", split_fields(FrameDecoder().feed(data)[0]), "request"))
            payload = session.receive(data).payload
        for index, frame in enumerate(FrameDecoder().feed(payload)):
            fields = split_fields(frame)
            lines.append(annotate("<", fields, "server" if label == "handshake" and index == 0 else None))
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def new_york_login(monkeypatch):
    zone = ("America/New_York", ZoneInfo("America/New_York"))
    for module in (session_module, order_messages, history):
        monkeypatch.setattr(module, "login_zone", lambda: zone)


SCENARIOS = {
    "session_start": [("handshake", build_handshake()), ("startApi client 7", encode_message(71, 2, 7, ""))],
    "contract_details": [("handshake", build_handshake()), ("startApi", encode_message(71, 2, 7, "")),
                         ("reqContractDetails AAPL", encode_message(9, 8, 3, *AAPL_SMART, 0, "", "", ""))],
    "market_data_snapshot": [("handshake", build_handshake()), ("startApi", encode_message(71, 2, 7, "")),
                             ("reqMktData AAPL snapshot", encode_message(1, 11, 4, *AAPL_SMART, 0, "", 1, 0, ""))],
    "market_order_fill": [("handshake", build_handshake()), ("startApi", encode_message(71, 2, 7, "")),
                          ("placeOrder 1: BUY 100 AAPL MKT", None)],
    "historical_refused": [("handshake", build_handshake()), ("startApi", encode_message(71, 2, 7, "")),
                           ("reqHistoricalData 1-second bars over 10 D",
                            encode_message(20, 5, *AAPL_SMART, 0, "", "1 secs", "10 D", 1, "TRADES", 1, 0, ""))],
}


def _place_order() -> bytes:
    from ib_async import MarketOrder, Stock
    from tests.gateway_sim.test_messages import sent_by_ib_async

    return encode_message(*sent_by_ib_async(lambda c: c.placeOrder(1, Stock("AAPL", "SMART", "USD"),
                                                                   MarketOrder("BUY", 100))))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transcript_matches_its_golden_file(name):
    steps = [(label, data if data is not None else _place_order()) for label, data in SCENARIOS[name]]
    text = run(steps)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text(), f"{name}: the answer changed; if on purpose, rerun with UPDATE_GOLDEN=1"

"""A small program written against the official ``ibapi`` (any release): connect, stream market data,
fetch historical bars, place a market order and wait for its fill; print one JSON line of what it saw.

Run as ``python tests/gateway_sim/ibapi_session.py PORT CLIENT_ID [MAX_VERSION]`` with the release's
folder on PYTHONPATH (tests/ibapi_clients.py). Exits 0 when everything arrived, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

DEADLINE = 30.0


class App(EWrapper, EClient):
    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.seen: dict[str, object] = {"ticks": 0, "bars": 0, "errors": [], "statuses": [], "fills": 0}
        self.ready = threading.Event()
        self.bars_done = threading.Event()
        self.filled = threading.Event()
        self.next_id = 0

    # --- callbacks (signatures accept both generations' extra arguments) ---
    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId
        self.ready.set()

    def error(self, reqId, *args) -> None:  # 9.81: (reqId, code, text); 10.x adds time and/or reject json
        codes = [a for a in args if isinstance(a, int) and a > 0 and a != reqId]
        code = codes[0] if codes else args[0]
        if code not in (2104, 2106, 2158):
            self.seen["errors"].append([reqId, code])

    def tickPrice(self, reqId, tickType, price, attrib) -> None:
        self.seen["ticks"] += 1

    def historicalData(self, reqId, bar) -> None:
        self.seen["bars"] += 1

    def historicalDataEnd(self, reqId, start, end) -> None:
        self.bars_done.set()

    def orderStatus(self, orderId, status, filled, remaining, *rest) -> None:
        self.seen["statuses"].append(status)
        if status == "Filled":
            self.filled.set()

    def execDetails(self, reqId, contract, execution) -> None:
        self.seen["fills"] += 1


def stock(symbol: str) -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = symbol, "STK", "SMART", "USD"
    return contract


def main() -> int:
    port, client_id = int(sys.argv[1]), int(sys.argv[2])
    app = App()
    if len(sys.argv) > 3:  # force a lower version: the client offers only up to this one
        import ibapi.client as client_module
        client_module.MAX_CLIENT_VER = int(sys.argv[3])
    app.connect("127.0.0.1", port, client_id)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    ok = app.ready.wait(DEADLINE)
    app.seen["server_version"] = app.serverVersion()
    if ok:
        app.reqMktData(1, stock("AAPL"), "", False, False, [])
        # A fixed session day (Monday 2025-11-24, UTC): "1 D" ending now has no TRADES bars between midnight and the open.
        app.reqHistoricalData(2, stock("AAPL"), "20251124-21:00:00", "1 D", "5 mins", "TRADES", 1, 1, False, [])
        ok = app.bars_done.wait(DEADLINE)
        order = Order()
        order.action, order.totalQuantity, order.orderType = "BUY", 10, "MKT"
        order.eTradeOnly = order.firmQuoteOnly = False
        app.placeOrder(app.next_id, stock("AAPL"), order)
        ok = ok and app.filled.wait(DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while app.seen["ticks"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for ticks the simulator streams
        ok = ok and app.seen["ticks"] >= 5
    app.disconnect()
    print(json.dumps(app.seen), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

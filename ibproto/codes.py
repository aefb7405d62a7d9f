"""Error and notice codes of the TWS API: what the Gateway says, and what it means for a trader.

Each :class:`Code` carries the Gateway's wording (``text``; ``{}`` fields are filled in by
:meth:`Code.say`), a plain-words ``meaning`` and a ``severity``:

* ``info``: the Gateway reporting normal state (data farm connection OK).
* ``warning``: degraded but the session works (a data farm broken, read-only API).
* ``fatal``: the session is unusable (client id in use, not connected).

The simulator sends these texts; the launcher's probe and doctor explain them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["info", "warning", "fatal"]


@dataclass(frozen=True)
class Code:
    """One error or notice code."""

    code: int
    text: str
    meaning: str
    severity: Severity = "warning"

    def say(self, *values: object) -> str:
        """The Gateway's text with its blanks filled (``{}`` placeholders, in order; none given: left out)."""
        return self.text.format(*values) if values else self.text.replace("{}", "")


def _table(*codes: Code) -> dict[int, Code]:
    return {code.code: code for code in codes}


CODES: dict[int, Code] = _table(
    Code(100, "Max rate of messages per second has been exceeded:max={} rec={}",
         "more than 50 messages a second: pace your requests (repeated violations disconnect)"),
    Code(101, "Max number of tickers has been reached", "market-data line limit reached (100 by default)"),
    Code(102, "Duplicate ticker ID", "a reqId already in use for another subscription"),
    Code(103, "Duplicate order id", "an order id used before: take ids from nextValidId"),
    Code(104, "Can't modify a filled order", "the order is already filled"),
    Code(110, "The price does not conform to the minimum price variation for this contract.",
         "price not a multiple of the minimum tick"),
    Code(135, "Can't find order with id ={}", "no such order"),
    Code(161, "Cancel attempted when order is not in a cancellable state.  Order permId ={}",
         "the order can no longer be cancelled"),
    Code(162, "Historical Market Data Service error message:{}", "historical data request refused"),
    Code(165, "Historical Market Data Service query message:{}", "historical data notice", "info"),
    Code(200, "No security definition has been found for the request", "unknown contract"),
    Code(201, "Order rejected - reason:{}", "order rejected"),
    Code(202, "Order Canceled - reason:{}", "order cancelled"),
    Code(300, "Can't find EId with tickerId:{}", "cancel of a subscription that does not exist"),
    Code(309, "Max number ({}) of market depth requests has been reached",
         "market depth line limit reached"),
    Code(310, "Can't find the subscribed market depth with tickerId:{}", "no such depth subscription"),
    Code(317, "Market depth data has been RESET. Please empty deep book contents before applying any "
              "new entries.", "depth book reset", "info"),
    Code(321, "Error validating request.-'{}' : cause - {}",
         "request refused by validation (often a read-only API: untick 'Read-Only API')"),
    Code(322, "Error processing request.-'{}' : cause - {}", "request could not be processed"),
    Code(326, "Unable to connect as the client id is already in use. Retry with a unique client id.",
         "client id already in use by another connection; use another client id", "fatal"),
    Code(354, "Requested market data is not subscribed.", "no market data subscription"),
    Code(366, "No historical data query found for ticker id:{}", "cancel of an unknown historical request"),
    Code(420, "Invalid Real-time Query:{}", "real-time bars request refused"),
    Code(430, "We are sorry, but fundamentals data for the security specified is not available.{}",
         "no fundamental data"),
    Code(434, "The order size cannot be zero.", "order quantity zero"),
    Code(502, "Couldn't connect to TWS. Confirm that \"Enable ActiveX and Socket EClients\" is enabled "
              "and connection port is the same as \"Socket Port\" on the TWS \"Edit->Global "
              "Configuration...->API->Settings\" menu.",
         "couldn't connect to TWS/Gateway: API not enabled, wrong port, or not logged in", "fatal"),
    Code(503, "The TWS is out of date and must be upgraded.", "server version too old for the client", "fatal"),
    Code(504, "Not connected", "not connected: the Gateway is not connected to this client", "fatal"),
    Code(1100, "Connectivity between IB and Trader Workstation has been lost.",
         "connectivity between the Gateway and IB's servers is lost", "fatal"),
    Code(1101, "Connectivity between IB and Trader Workstation has been restored - data lost.",
         "connectivity restored, market data lost: subscriptions must be renewed"),
    Code(1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.{}",
         "connectivity restored, data maintained", "info"),
    Code(1300, "TWS socket port has been reset and this connection is being dropped. Please reconnect "
               "on the new port - {}", "the Gateway's socket port was reset; reconnect on the new port", "fatal"),
    Code(2103, "Market data farm connection is broken:{}", "a market data farm connection is broken"),
    Code(2104, "Market data farm connection is OK:{}", "market data farm connection OK", "info"),
    Code(2105, "HMDS data farm connection is broken:{}", "a historical data farm connection is broken"),
    Code(2106, "HMDS data farm connection is OK:{}", "historical data farm connection OK", "info"),
    Code(2107, "HMDS data farm connection is inactive but should be available upon demand.{}",
         "historical data farm inactive but available on demand", "info"),
    Code(2108, "Market data farm connection is inactive but should be available upon demand.{}",
         "market data farm inactive but available on demand", "info"),
    Code(2110, "Connectivity between Trader Workstation and server is broken. It will be restored "
               "automatically.", "connectivity between the Gateway and IB's servers is broken; "
                               "restoring automatically"),
    Code(2119, "Market data farm is connecting:{}", "market data farm is connecting", "info"),
    Code(2157, "Sec-def data farm connection is broken:{}", "the security definition server connection is broken"),
    Code(2158, "Sec-def data farm connection is OK:{}", "security definition server connection OK", "info"),
    Code(10090, "Part of requested market data is not subscribed. Subscription-independent ticks are still "
                "active.{}", "some ticks need a subscription", "info"),
    Code(10147, "OrderId {} that needs to be cancelled is not found.", "cancel of an unknown order id"),
    Code(10148, "OrderId {} that needs to be cancelled cannot be cancelled, state: {}.",
         "cancel of an order that is already done"),
    Code(10167, "Requested market data is not subscribed. Displaying delayed market data.",
         "delayed market data shown", "info"),
    Code(10172, "Failed to request news article: {}", "news article unavailable"),
    Code(10197, "No market data during competing live session",
         "another session of the same user holds the market data (competing live session)"),
    Code(10276, "News feed is not allowed.", "no news subscription"),
    Code(10285, "Wall Street Horizon data is not available: {}", "no WSH subscription"),
)

# Codes named where the code decides something.
CLIENT_ID_IN_USE = 326
CONNECTIVITY_LOST = 1100
CONNECTIVITY_RESTORED = (1101, 1102)
FARM_OK_NOTICES = ((2104, "usfarm"), (2106, "ushmds"), (2158, "secdefnj"))


def code(number: int) -> Code:
    """The :class:`Code` for ``number``; unknown ones get a generic meaning by range."""
    known = CODES.get(number)
    if known is not None:
        return known
    if 2100 <= number < 2200:
        return Code(number, "", "Gateway notice", "info")
    return Code(number, "", "Gateway error", "warning")


def say(number: int, *values: object) -> tuple[int, str]:
    """``(code, text)`` ready for an error record: ``say(202, "")``."""
    return number, code(number).say(*values)

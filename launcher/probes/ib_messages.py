"""What a Gateway tells an API client at session start, interpreted as values (no I/O).

The ``ib_api`` probe's session check sends startApi and reads nextValidId,
managedAccounts and error records; this module builds that request, decodes
those messages (field layouts as ``ib_async``'s decoder reads them) and says
what each error code means for a trader, with a severity:

* ``info``: the Gateway reporting normal state (data farm connection OK).
* ``warning``: degraded but the session works (a data farm broken, read-only API).
* ``fatal``: the session is unusable (client id in use, not connected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ibproto.wire import encode_message

ERROR_MESSAGE = 4
NEXT_VALID_ID = 9
MANAGED_ACCOUNTS = 15
START_API = 71
START_API_VERSION = 2
# From this server version on, an error record ends with advancedOrderRejectJson.
ADVANCED_ORDER_REJECT_VERSION = 166

Severity = Literal["info", "warning", "fatal"]

CLIENT_ID_IN_USE = 326
CONNECTIVITY_LOST = 1100
CONNECTIVITY_RESTORED = (1101, 1102)


@dataclass(frozen=True)
class CodeMeaning:
    """What an error code tells a trader, and how much it matters."""

    meaning: str
    severity: Severity


CODE_MEANINGS: dict[int, CodeMeaning] = {
    326: CodeMeaning("client id already in use by another connection; use another client id", "fatal"),
    502: CodeMeaning("couldn't connect to TWS/Gateway: API not enabled, wrong port, or not logged in", "fatal"),
    504: CodeMeaning("not connected: the Gateway is not connected to this client", "fatal"),
    321: CodeMeaning("request refused by validation (often a read-only API: untick 'Read-Only API')", "warning"),
    1100: CodeMeaning("connectivity between the Gateway and IB's servers is lost", "fatal"),
    1101: CodeMeaning("connectivity restored, market data lost: subscriptions must be renewed", "warning"),
    1102: CodeMeaning("connectivity restored, data maintained", "info"),
    1300: CodeMeaning("the Gateway's socket port was reset; reconnect on the new port", "fatal"),
    2103: CodeMeaning("a market data farm connection is broken", "warning"),
    2104: CodeMeaning("market data farm connection OK", "info"),
    2105: CodeMeaning("a historical data farm connection is broken", "warning"),
    2106: CodeMeaning("historical data farm connection OK", "info"),
    2107: CodeMeaning("historical data farm inactive but available on demand", "info"),
    2108: CodeMeaning("market data farm inactive but available on demand", "info"),
    2110: CodeMeaning("connectivity between the Gateway and IB's servers is broken; restoring automatically", "warning"),
    2119: CodeMeaning("market data farm is connecting", "info"),
    2157: CodeMeaning("the security definition server connection is broken", "warning"),
    2158: CodeMeaning("security definition server connection OK", "info"),
}


def meaning_of(code: int) -> CodeMeaning:
    """The meaning of any code; unknown ones get a generic meaning by range (2100-2199 are warnings)."""
    known = CODE_MEANINGS.get(code)
    if known is not None:
        return known
    if 2100 <= code < 2200:
        return CodeMeaning("Gateway notice", "info")
    return CodeMeaning("Gateway error", "warning")


@dataclass(frozen=True)
class ErrorRecord:
    """One error message (msg 4) from the Gateway."""

    request_id: int
    code: int
    message: str
    meaning: str
    severity: Severity
    advanced_order_reject: str = ""


def encode_start_api(client_id: int, capabilities: str = "") -> bytes:
    """The framed startApi request ``71, 2, <client id>, <capabilities>``, as ib_async sends it."""
    return encode_message(START_API, START_API_VERSION, client_id, capabilities)


def parse_error_record(fields: list[str], server_version: int) -> ErrorRecord:
    """Decode ``4, version, reqId, code, message[, advancedOrderRejectJson]``.

    The trailing JSON field exists from server version 166 on (the probe never
    offers versions that drop the leading version field). ``ValueError`` or
    ``IndexError`` for a malformed record.
    """
    request_id, code, message = int(fields[2]), int(fields[3]), fields[4]
    advanced = fields[5] if server_version >= ADVANCED_ORDER_REJECT_VERSION and len(fields) > 5 else ""
    meaning = meaning_of(code)
    return ErrorRecord(request_id, code, message, meaning.meaning, meaning.severity, advanced)


@dataclass
class SessionTranscript:
    """What the Gateway said after startApi, accumulated message by message."""

    server_version: int
    next_valid_id: int | None = None
    accounts: list[str] | None = None  # None until managedAccounts arrived
    errors: list[ErrorRecord] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    messages: int = 0

    def absorb(self, fields: list[str]) -> None:
        """Take in one message's fields; a malformed message is noted, never raised."""
        self.messages += 1
        try:
            message_id = int(fields[0])
            if message_id == NEXT_VALID_ID:
                self.next_valid_id = int(fields[2])
            elif message_id == MANAGED_ACCOUNTS:
                self.accounts = [account for account in fields[2].split(",") if account]
            elif message_id == ERROR_MESSAGE:
                self.errors.append(parse_error_record(fields, self.server_version))
        except (ValueError, IndexError):
            self.malformed.append(",".join(fields)[:80])

    @property
    def complete(self) -> bool:
        """nextValidId and managedAccounts both arrived: the session is what ib_async calls ready."""
        return self.next_valid_id is not None and self.accounts is not None

    @property
    def client_id_refused(self) -> bool:
        return any(error.code == CLIENT_ID_IN_USE for error in self.errors)

    def fatal_errors(self) -> list[ErrorRecord]:
        """Fatal errors still in force: a connectivity loss followed by a restore no longer counts."""
        fatal: list[ErrorRecord] = []
        for error in self.errors:
            if error.code in CONNECTIVITY_RESTORED:
                fatal = [e for e in fatal if e.code != CONNECTIVITY_LOST]
            elif error.severity == "fatal":
                fatal.append(error)
        return fatal

    def warnings(self) -> list[ErrorRecord]:
        return [error for error in self.errors if error.severity == "warning"]

"""The client side of session start, as values: startApi out; nextValidId, managedAccounts and
error records in (layouts as the official clients read them). Used by the launcher's ``ib_api``
probe; the meanings come from :mod:`ibproto.codes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ibproto import versions
from ibproto.codes import CLIENT_ID_IN_USE, CONNECTIVITY_LOST, CONNECTIVITY_RESTORED, Code, Severity, code
from ibproto.fields import parse_int
from ibproto.errors import ProtocolError
from ibproto.messages import ClientMessage, ServerMessage
from ibproto.wire import encode_message

START_API_VERSION = 2
REQ_CURRENT_TIME_VERSION = 1

CodeMeaning = Code  # what older callers called a code's meaning


def meaning_of(number: int) -> Code:
    """The meaning and severity of any code (see :func:`ibproto.codes.code`)."""
    return code(number)


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
    return encode_message(ClientMessage.START_API, START_API_VERSION, client_id, capabilities)


def encode_req_current_time() -> bytes:
    """The framed reqCurrentTime request ``49, 1``: the cheapest request every Gateway answers
    (with currentTime), so an answer proves the API layer is alive, not just the socket."""
    return encode_message(ClientMessage.REQ_CURRENT_TIME, REQ_CURRENT_TIME_VERSION)


def parse_error_record(fields: list[str], server_version: int) -> ErrorRecord:
    """Decode ``4, version, reqId, code, message[, advancedOrderRejectJson]``.

    The trailing JSON field exists from server version 166 on. ``ValueError`` (a
    :class:`ProtocolError`) or ``IndexError`` for a malformed record.
    """
    request_id, number, message = parse_int(fields[2], "reqId"), parse_int(fields[3], "code"), fields[4]
    advanced = fields[5] if server_version >= versions.ADVANCED_ORDER_REJECT and len(fields) > 5 else ""
    meaning = code(number)
    return ErrorRecord(request_id, number, message, meaning.meaning, meaning.severity, advanced)


@dataclass
class SessionTranscript:
    """What the Gateway said after startApi, accumulated message by message."""

    server_version: int
    next_valid_id: int | None = None
    accounts: list[str] | None = None  # None until managedAccounts arrived
    errors: list[ErrorRecord] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    messages: int = 0
    current_times: int = 0  # currentTime answers received (one per reqCurrentTime, in order)
    last_current_time: int | None = None  # the Gateway's clock, seconds since the epoch

    def absorb(self, fields: list[str]) -> None:
        """Take in one message's fields; a malformed message is noted, never raised."""
        self.messages += 1
        try:
            message_id = parse_int(fields[0], "message id")
            if message_id == ServerMessage.NEXT_VALID_ID:
                self.next_valid_id = parse_int(fields[2], "orderId")
            elif message_id == ServerMessage.MANAGED_ACCTS:
                self.accounts = [account for account in fields[2].split(",") if account]
            elif message_id == ServerMessage.ERR_MSG:
                self.errors.append(parse_error_record(fields, self.server_version))
            elif message_id == ServerMessage.CURRENT_TIME:
                self.last_current_time = parse_int(fields[2], "time")
                self.current_times += 1
        except (ProtocolError, IndexError):
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

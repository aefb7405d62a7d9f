"""What may cross the WebSocket server's sockets, checked on values with no I/O.

Publishers send one JSON object per text frame, with a ``type`` the server knows.
Subscribers may send ``{"subscribe": [...]}`` to choose which types they receive.
Anything else is refused with a one-line reason that goes back to the sender as
``{"type": "error", "error": "..."}``; the connection stays open.

JSON is read strictly, since subscribers must be able to parse whatever is relayed:
no ``NaN``/``Infinity`` (not JSON, though Python writes and reads them), no lone
surrogates (``"\\ud800"`` is valid JSON text but no valid string), and nesting at most
MAX_NESTING deep, checked before parsing (a 60 KB ``[[[[...`` used to crash the
connection with a RecursionError).

Browsers connect with an ``Origin`` header: only loopback origins are accepted unless
the command line allows more (:func:`origin_allowed`), so a web page the trader opens
cannot read the stream.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from services.errors import ServiceError

# The event types the default stack publishes. A stack that publishes more can
# extend the set on the command line (--event-types).
DEFAULT_EVENT_TYPES = frozenset({"tick", "status", "position", "order", "execution", "account", "fill", "pnl"})

# Types the server itself sends; a publisher may never forge them.
SERVER_TYPES = frozenset({"error", "subscribed"})

ALL_TYPES = "*"
ANY_ORIGIN = "*"
MAX_NESTING = 32  # events are flat records; this is far more than any needs

_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings are skipped, brackets counted
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadMessage(ServiceError):
    """A frame the server refuses; ``str(err)`` is the one line sent back to the client."""


@dataclass(frozen=True)
class Event:
    """A validated published event: its type and the exact UTF-8 bytes to relay."""

    type: str
    payload: bytes


def parse_event(frame: str | bytes, known_types: frozenset[str]) -> Event:
    """Validate one publisher frame and return it ready to relay.

    The original text is relayed unchanged (no re-encoding), so what subscribers
    receive is byte for byte what the publisher sent.
    """
    if isinstance(frame, bytes):
        raise BadMessage("binary frames are not accepted: send each event as a JSON text frame")
    document = _json_object(frame)
    event_type = document.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise BadMessage('an event needs a "type" field holding a non-empty string')
    if event_type not in known_types:
        raise BadMessage(f'unknown event type "{_clip(event_type)}" (known: {", ".join(sorted(known_types))})')
    return Event(event_type, frame.encode("utf-8"))


def parse_subscription(frame: str | bytes, known_types: frozenset[str]) -> frozenset[str] | None:
    """Read a subscriber's ``{"subscribe": [...]}``; None means every type.

    ``["*"]``, ``"*"`` and ``null`` all mean every type; an empty list is refused
    because a subscriber that wants nothing should disconnect instead.
    """
    if isinstance(frame, bytes):
        raise BadMessage('binary frames are not accepted: send {"subscribe": ["tick", ...]} as text')
    document = _json_object(frame)
    if "type" in document and "subscribe" not in document:
        raise BadMessage("subscribers cannot publish: publishers connect to /publish")
    if set(document) != {"subscribe"}:
        extra = sorted(set(document) - {"subscribe"})
        what = f'unexpected field "{_clip(extra[0])}"' if extra else 'missing field "subscribe"'
        raise BadMessage(f'{what}: a subscriber may only send {{"subscribe": ["tick", ...]}}')
    wanted = document["subscribe"]
    if wanted is None or wanted == ALL_TYPES:
        return None
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        raise BadMessage('"subscribe" must be a list of event type names, like ["tick", "status"]')
    if not wanted:
        raise BadMessage('"subscribe" is empty: name at least one event type, or "*" for all')
    if ALL_TYPES in wanted:
        return None
    for name in wanted:
        if name not in known_types:
            raise BadMessage(f'unknown event type "{_clip(name)}" in "subscribe" (known: {", ".join(sorted(known_types))})')
    return frozenset(wanted)


def error_message(reason: str) -> str:
    """The JSON text the server sends back to a client whose frame it refused."""
    return json.dumps({"type": "error", "error": reason})


def subscribed_message(types: frozenset[str] | None) -> str:
    """The acknowledgement of a subscription, so a client knows from when the filter applies."""
    return json.dumps({"type": "subscribed", "types": ALL_TYPES if types is None else sorted(types)})


def parse_event_types(text: str) -> frozenset[str]:
    """Read ``--event-types tick,status,...``; the server's own types are refused."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise BadMessage(f'--event-types: empty name in "{text}"')
    forged = sorted(set(names) & SERVER_TYPES)
    if forged:
        raise BadMessage(f'--event-types: "{forged[0]}" is reserved for messages the server sends')
    return frozenset(names)


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_accepted(expected: str | None, presented: str | None) -> bool:
    """True if publishing is open (no token configured) or the presented token matches.

    Compared in constant time so a local attacker cannot guess it byte by byte.
    """
    if expected is None:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def _json_object(frame: str) -> dict:
    _check_nesting(frame)
    try:
        document = json.loads(frame, parse_constant=_refuse_constant)
    except RecursionError as err:  # a second line of defence; _check_nesting should have said it
        raise BadMessage(f"JSON nested deeper than {MAX_NESTING} levels") from err
    except ValueError as err:
        raise BadMessage(f"invalid JSON: {err}") from err
    if not isinstance(document, dict):
        raise BadMessage(f"expected a JSON object, got {type(document).__name__}")
    _refuse_lone_surrogates(document)
    return document


def _check_nesting(text: str) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise BadMessage(f"JSON nested deeper than {MAX_NESTING} levels")
        elif token in "]}":
            depth -= 1


def _refuse_constant(name: str) -> float:
    raise BadMessage(f"{name} is not a JSON number (send finite numbers, or null)")


def _refuse_lone_surrogates(value: object) -> None:
    """Refuse strings (and keys) holding half of a UTF-16 surrogate pair: no encoder can write them."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise BadMessage("a string holds a lone surrogate (like \\ud800): not valid Unicode")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def is_loopback_origin(origin: str) -> bool:
    """True for http(s)://localhost, 127.x.x.x and [::1], on any port: a page served from this machine."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str | None, allowed: Iterable[str] = ()) -> bool:
    """Whether a connection with this ``Origin`` header may open a WebSocket.

    No header: not a browser (the trader, a script), accepted. A loopback origin is
    accepted; any other only if listed in `allowed` (``--allow-origin``), or ``*`` is.
    """
    if origin is None:
        return True
    listed = set(allowed)
    return ANY_ORIGIN in listed or origin in listed or is_loopback_origin(origin)


def _clip(text: str, limit: int = 40) -> str:
    """Keep an echoed client string short enough for a one-line error."""
    return text if len(text) <= limit else text[:limit] + "..."

"""The TWS API socket wire format, as a pure codec: bytes in, values out, no I/O.

Both sides of the protocol use it: the Gateway simulator (server side) and the
launcher's ``ib_api`` probe and ``doctor`` (client side). Keeping it free of
sockets means every framing rule is tested on plain bytes.

The format (V100+, what IB Gateway and TWS speak since API 9.72):

* The client opens with the 4 bytes ``API\\0`` followed by one frame whose
  payload is ``v<min>..<max>`` plus optional `` <connect options>``.
* Every frame is a 4-byte big-endian length followed by that many bytes.
* A frame's payload is a sequence of fields, each terminated by ``\\0``.
* The server answers the handshake with a frame of two fields: the negotiated
  server version and the connection time (``YYYYMMDD HH:MM:SS <tz>``).
* After that, every message is a frame whose first field is the message id.
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from ibproto.errors import BadHandshake, FrameTooLarge, ProtocolError

API_PREFIX = b"API\0"
LENGTH_PREFIX = struct.Struct(">I")
# The real client libraries refuse anything bigger; a larger prefix is garbage.
MAX_FRAME_SIZE = 16 * 1024 * 1024

# The range ib_async (and the official clients of this era) offer.
CLIENT_MIN_VERSION = 157
CLIENT_MAX_VERSION = 178

# ASCII digits only, at most 9 of them: `\d` would take any script's digits, and a 4300-digit
# version is an attack, not a version.
_VERSION_RANGE = re.compile(r"v([0-9]{1,9})(?:\.\.([0-9]{1,9}))?(?: (.*))?", re.DOTALL)


def encode_field(value: object) -> str:
    """Render one value the way the TWS API expects it on the wire.

    ``None`` is the empty field, booleans are ``1``/``0``, an enum member is its value (``str()`` of an
    IntEnum member is its name on Python 3.10); everything else is ``str()``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, enum.Enum):
        value = value.value
    return str(value)


def encode_fields(fields: Iterable[object]) -> bytes:
    """Join fields into a payload: each field followed by a NUL byte."""
    return "".join(encode_field(f) + "\0" for f in fields).encode()


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its 4-byte big-endian length."""
    if len(payload) > MAX_FRAME_SIZE:
        raise FrameTooLarge(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_SIZE}")
    return LENGTH_PREFIX.pack(len(payload)) + payload


def encode_message(*fields: object) -> bytes:
    """A complete framed message: ``encode_message(9, 1, 42)`` is nextValidId 42."""
    return frame(encode_fields(fields))


def split_fields(payload: bytes) -> list[str]:
    """Split a frame's payload into its fields (the trailing NUL ends the last one).

    Invalid UTF-8 is replaced rather than raised on: a field's text is for
    display and logging, and one bad byte must not take the connection down.
    """
    text = payload.decode("utf-8", errors="replace")
    fields = text.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


class FrameDecoder:
    """Incremental frame parser: feed it whatever the socket returned, get whole payloads.

    Partial frames are kept until the rest arrives. A length prefix above
    ``max_frame_size`` raises :class:`FrameTooLarge`; the caller should drop
    the connection since the stream can no longer be re-synchronised.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE):
        self._buffer = bytearray()
        self._max = max_frame_size

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every payload now complete, in order."""
        self._buffer += data
        payloads: list[bytes] = []
        while len(self._buffer) >= LENGTH_PREFIX.size:
            (size,) = LENGTH_PREFIX.unpack_from(self._buffer)
            if size > self._max:
                raise FrameTooLarge(f"length prefix {size} exceeds {self._max} bytes")
            end = LENGTH_PREFIX.size + size
            if len(self._buffer) < end:
                break
            payloads.append(bytes(self._buffer[LENGTH_PREFIX.size:end]))
            del self._buffer[:end]
        return payloads

    def take_pending(self) -> bytes:
        """Hand over the bytes of an incomplete frame and forget them."""
        pending = bytes(self._buffer)
        self._buffer.clear()
        return pending


@dataclass(frozen=True)
class VersionRange:
    """What a client offered in its handshake: ``v<low>..<high> <options>``."""

    low: int
    high: int
    options: str = ""


def build_handshake(low: int = CLIENT_MIN_VERSION, high: int = CLIENT_MAX_VERSION, options: str = "") -> bytes:
    """The bytes a V100+ client sends first: ``API\\0`` and the framed version range."""
    text = f"v{low}..{high}" + (f" {options}" if options else "")
    return API_PREFIX + frame(text.encode())


def parse_version_range(text: str) -> VersionRange:
    """Parse ``v100..176 +PACEAPI`` (a single ``v176`` is allowed too)."""
    match = _VERSION_RANGE.fullmatch(text)
    if not match:
        raise BadHandshake(f"expected 'v<min>..<max>', got {text[:40]!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if low > high:
        raise BadHandshake(f"version range {low}..{high} is empty")
    return VersionRange(low, high, match.group(3) or "")


def negotiate(offer: VersionRange, server_low: int, server_high: int) -> int | None:
    """The highest version both sides support, or ``None`` when the ranges do not meet."""
    best = min(offer.high, server_high)
    if best < max(offer.low, server_low):
        return None
    return best


class HandshakeDecoder:
    """Server side: consume ``API\\0`` plus the version frame from the first bytes of a connection.

    ``feed`` returns ``None`` until the handshake is complete, then the
    :class:`VersionRange`; bytes after it are available as :attr:`rest`.
    A wrong prefix (such as the ``API=9.72\\0`` one seed sent) raises
    :class:`BadHandshake` as soon as it can be told apart.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE):
        self._buffer = bytearray()
        self._frames = FrameDecoder(max_frame_size)
        self._prefix_seen = False
        self.rest = b""

    def feed(self, data: bytes) -> VersionRange | None:
        """Add received bytes; return the offered range once the handshake is whole."""
        if not self._prefix_seen:
            self._buffer += data
            head = bytes(self._buffer[: len(API_PREFIX)])
            if not API_PREFIX.startswith(head):
                raise BadHandshake(f"connection did not start with 'API\\0' (got {head!r})")
            if len(self._buffer) < len(API_PREFIX):
                return None
            self._prefix_seen = True
            data = bytes(self._buffer[len(API_PREFIX):])
            self._buffer.clear()
        payloads = self._frames.feed(data)
        if not payloads:
            return None
        offer = parse_version_range(payloads[0].decode("ascii", errors="replace"))
        self.rest = b"".join(frame(p) for p in payloads[1:]) + self._frames.take_pending()
        return offer


def format_connection_time(moment: datetime, zone: str) -> str:
    """The connection-time field: ``20251005 15:39:19 EST`` style."""
    return f"{moment:%Y%m%d %H:%M:%S} {zone}"


def encode_handshake_reply(server_version: int, connection_time: str) -> bytes:
    """The server's framed answer to a handshake."""
    return encode_message(server_version, connection_time)


@dataclass(frozen=True)
class HandshakeReply:
    """What the server answered: the negotiated version and its connection time."""

    server_version: int
    connection_time: str


def parse_handshake_reply(fields: list[str]) -> HandshakeReply:
    """Client side: interpret the first frame the server sent."""
    if len(fields) != 2 or not re.fullmatch(r"[0-9]{1,9}", fields[0]):
        shown = [field[:40] for field in fields[:4]]
        raise ProtocolError(f"expected '<version>\\0<time>\\0' as handshake reply, got {shown!r}")
    return HandshakeReply(int(fields[0]), fields[1])

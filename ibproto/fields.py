"""Reading a message's fields: strict numbers and a reader that names what it could not read.

Python's ``str.isdigit()`` accepts ``²`` and ``int()`` accepts 4300 digits (or raises past
them): neither is a TWS API number. :func:`parse_int` takes ASCII digits with an optional sign,
at most :data:`MAX_INT_DIGITS` of them; :func:`parse_float` takes a short, finite decimal.
Everything else raises :class:`BadField`, a :class:`~ibproto.errors.ProtocolError`, so a
caller can always answer with an error record instead of dropping the connection.
"""

from __future__ import annotations

import math
import re

from ibproto.errors import ProtocolError

# 18 digits hold any id or count IB uses (order ids, perm ids, conIds are 32/64-bit integers).
MAX_INT_DIGITS = 18
MAX_FLOAT_TEXT = 40
_INTEGER = re.compile(r"-?[0-9]{1,%d}" % MAX_INT_DIGITS)
_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
# IB's "unset" double (Double.MAX_VALUE) as Java prints it, and the plain-text "Infinity".
UNSET_DOUBLE = 1.7976931348623157e308
_UNSET_TEXTS = {"1.7976931348623157E308", "1.7976931348623157e+308", "Infinity", "Infinite"}


class BadField(ProtocolError):
    """A field that does not hold what its position requires."""


def parse_int(text: str, what: str = "field") -> int:
    """An ASCII integer of at most 18 digits; :class:`BadField` otherwise."""
    if not _INTEGER.fullmatch(text):
        raise BadField(f"{what} must be an integer, got {text[:40]!r}")
    return int(text)


def parse_float(text: str, what: str = "field") -> float:
    """A finite decimal number (or IB's unset marker, returned as :data:`UNSET_DOUBLE`)."""
    if text in _UNSET_TEXTS:
        return UNSET_DOUBLE
    if len(text) > MAX_FLOAT_TEXT or not _DECIMAL.fullmatch(text):
        raise BadField(f"{what} must be a number, got {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise BadField(f"{what} must be a finite number, got {text[:40]!r}")
    return value


def is_unset(value: float) -> bool:
    """True for IB's "no value" double."""
    return value >= UNSET_DOUBLE


class BadRequest(BadField):
    """A request whose fields cannot be read; the connection itself is still in sync.

    ``request`` names the request, ``request_id`` is its reqId (or -1 when not read yet), so
    the answer can go to the request that failed.
    """

    def __init__(self, request: str, message: str, *, request_id: int = -1):
        self.request = request
        self.request_id = request_id
        super().__init__(f"{request}: {message}")


class FieldReader:
    """Reads a message's fields in order, converting and naming each for error messages.

    ``position`` starts after the message id. Every failure is a :class:`BadRequest` naming
    the message and the field, carrying the reqId once :meth:`request_id_field` has read it.
    """

    def __init__(self, name: str, fields: list[str], position: int = 1):
        self.name = name
        self._fields = fields
        self._position = position
        self.request_id = -1

    @property
    def remaining(self) -> int:
        return max(0, len(self._fields) - self._position)

    def text(self, field: str) -> str:
        if self._position >= len(self._fields):
            raise BadRequest(self.name, f"message ends before field {field!r}", request_id=self.request_id)
        value = self._fields[self._position]
        self._position += 1
        return value

    def optional_text(self, field: str, default: str = "") -> str:
        """A trailing field older clients may leave out."""
        return self.text(field) if self._position < len(self._fields) else default

    def integer(self, field: str, default: int = 0) -> int:
        value = self.text(field)
        if value == "":
            return default
        try:
            return parse_int(value, f"field {field!r}")
        except BadField as problem:
            raise BadRequest(self.name, str(problem), request_id=self.request_id) from None

    def number(self, field: str, default: float = 0.0) -> float:
        value = self.text(field)
        if value == "":
            return default
        try:
            return parse_float(value, f"field {field!r}")
        except BadField as problem:
            raise BadRequest(self.name, str(problem), request_id=self.request_id) from None

    def flag(self, field: str) -> bool:
        return self.integer(field) != 0

    def count(self, field: str, limit: int = 1000) -> int:
        """A repeat count (legs, tag-values): bounded, so a hostile count cannot make us loop."""
        value = self.integer(field)
        if not 0 <= value <= limit:
            raise BadRequest(self.name, f"field {field!r} must be 0..{limit}, got {value}",
                             request_id=self.request_id)
        return value

    def skip(self, field: str, count: int = 1) -> None:
        for _ in range(count):
            self.text(field)

    def request_id_field(self, field: str = "reqId") -> int:
        self.request_id = self.integer(field)
        return self.request_id

    def fail(self, message: str) -> BadRequest:
        """A :class:`BadRequest` for this message, for checks beyond one field's syntax."""
        return BadRequest(self.name, message, request_id=self.request_id)

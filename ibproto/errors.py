"""Errors of the TWS API wire format. The launcher and the services each turn these into their own
messages; they derive from ValueError because they describe bad input, not a failure of ours."""

from __future__ import annotations


class ProtocolError(ValueError):
    """Bytes that do not follow the TWS API wire format."""


class FrameTooLarge(ProtocolError):
    """A length prefix announced a frame larger than the protocol allows."""


class BadHandshake(ProtocolError):
    """The connection did not open with ``API\\0`` and a valid ``v<min>..<max>`` range."""

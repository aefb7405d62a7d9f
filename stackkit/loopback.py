"""What counts as "this machine" for a Host header, an Origin or a bind address.

The dashboard's HTTP API and the WebSocket server both accept browsers only from
loopback pages, and refuse Host names that are not loopback (a DNS-rebinding page
on evil.example resolving to 127.0.0.1 still sends ``Host: evil.example``). One
rule for both, so the two never disagree about what a loopback origin is.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
LOOPBACK_ORIGIN_SCHEMES = frozenset({"http", "https"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, any 127.0.0.0/8 address and ``::1`` (brackets allowed), nothing else."""
    name = host.strip().lower()
    if name.endswith("."):
        name = name[:-1]  # "localhost." is the same name, fully qualified
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host_port(authority: str) -> tuple[str, int | None] | None:
    """``127.0.0.1:8790`` -> ("127.0.0.1", 8790); ``[::1]`` -> ("::1", None); None if malformed."""
    text = authority.strip()
    if not text or any(c.isspace() or c in "/?#@" for c in text):
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text = text.partition(":")
        if ":" in port_text:
            return None  # an unbracketed IPv6 address is not a valid Host
        port_text = port_text if colon else None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        return None
    return host, int(port_text)


def is_loopback_authority(authority: str) -> bool:
    """A Host header value naming this machine: a loopback host, with or without a port."""
    parts = split_host_port(authority)
    return parts is not None and is_loopback_host(parts[0])


def is_loopback_origin(origin: str) -> bool:
    """An Origin header of a page served from this machine: ``http://127.0.0.1:*``, ``http://localhost:*``,
    ``http://[::1]:*`` (or https). ``null``, file pages and everything else are not."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in LOOPBACK_ORIGIN_SCHEMES or parts.path or parts.query or parts.fragment:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    return is_loopback_authority(parts.netloc)

"""Hosts and URLs a stack file may probe, checked at load (pure) and again by the probes.

A probe URL that cannot work (``not a url``, ``ftp://``, port 70000, a remote host)
used to fail only after `startup_timeout`; it is now a one-line error naming the
field before anything starts. Only loopback hosts are probed: robostack checks its
own machine.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

_MAX_URL = 2048
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # whitespace and control characters have no place in a URL or host


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_probe_url(url: str, schemes: tuple[str, ...]) -> SplitResult | str:
    """The parsed URL, or a one-line reason it cannot be probed."""
    shown = url if len(url) <= 80 else url[:80] + "..."
    if len(url) > _MAX_URL:
        return f"URL {shown!r} is longer than {_MAX_URL} characters"
    if _UNSAFE.search(url):
        return f"URL {shown!r} contains a space or a control character"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        return f"invalid URL {shown!r}: {err}"
    if parts.scheme not in schemes:
        return f"unsupported URL scheme in {shown!r} (expected {' or '.join(s + '://' for s in schemes)})"
    if not parts.hostname:
        return f"URL {shown!r} has no host"
    if not is_loopback_host(parts.hostname):
        return f"refusing to probe {parts.hostname}: only loopback hosts (127.0.0.1, ::1, localhost) are probed"
    return parts


def check_url(url: str, schemes: tuple[str, ...]) -> str:
    """A pydantic after-validator: `url` unchanged, or ValueError with the reason."""
    parsed = parse_probe_url(url, schemes)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return url


def check_host(host: str) -> str:
    """A host name or address to connect to: not empty, no spaces or control characters."""
    if not host or len(host) > 253 or _UNSAFE.search(host):
        shown = host if len(host) <= 40 else host[:40] + "..."
        raise ValueError(f'"{shown}" is not a host name or address')
    return host

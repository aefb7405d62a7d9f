"""How the stack's `alerts:` settings are shown to a person: destinations without their secrets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from launcher.stack.durations import format_duration
from launcher.stack.redaction import MASK
from launcher.stack.resolved import ResolvedAlerts


def shown_url(url: str) -> str:
    """The URL with its path, query and credentials hidden: webhook URLs carry their token in the path."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    hidden = f"/{MASK}" if parts.path not in ("", "/") or parts.query else parts.path
    return f"{parts.scheme}://{host}{port}{hidden}"


def describe_alerts(alerts: ResolvedAlerts) -> dict[str, Any]:
    """The settings as `robostack config` shows them (header values and the URL's path masked)."""
    spec = alerts.spec
    shown: dict[str, Any] = {}
    if alerts.command is not None:
        shown["command"] = list(alerts.command)
    if alerts.url is not None:
        shown["url"] = shown_url(alerts.url)
        shown["headers"] = {key: MASK for key in alerts.headers}
    shown["events"] = list(spec.events)
    shown["dedup"] = format_duration(spec.dedup)
    shown["rate_limit"] = f"{spec.rate_limit.count} per {format_duration(spec.rate_limit.window)}"
    shown["timeout"] = format_duration(spec.timeout)
    return shown

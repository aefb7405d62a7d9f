"""What the Gateway's lifecycle asks the server to do: its actions, as plain values.

:class:`~services.gateway_sim.lifecycle.GatewayLife` returns them and
:class:`~services.gateway_sim.driver.LifecycleDriver` carries them out, so the
decisions are tested on values and only the driver touches sockets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union


class ApiState(enum.Enum):
    """What the API port does: refuse connections, accept TCP but hold the handshake, or answer."""

    CLOSED = "closed"
    SILENT = "silent"
    READY = "ready"


@dataclass(frozen=True)
class Notify:
    """Send error record ``code``/``text`` to every started session (or once per market data subscription)."""

    code: int
    text: str
    per_subscription: bool = False


@dataclass(frozen=True)
class DropMarketData:
    """Every session loses all its market data subscriptions (what 1101 means)."""


class Voice(enum.Enum):
    SIM = "sim"        # 2025-01-06 09:30:00.123 gateway_sim: state ready: ...
    IBC = "ibc"        # 2025-01-06 09:30:00:123 IBC: Login has completed
    SCRIPT = "script"  # autorestart file found at ...: authentication will not be required


@dataclass(frozen=True)
class Say:
    voice: Voice
    text: str


@dataclass(frozen=True)
class SetApi:
    state: ApiState
    reason: str


@dataclass(frozen=True)
class Exit:
    status: int


Action = Union[Say, SetApi, Notify, DropMarketData, Exit]


@dataclass(frozen=True)
class CommandReply:
    """IBC's answer lines to one command, and whether it then closes the command connection."""

    lines: tuple[str, ...]
    close: bool = False

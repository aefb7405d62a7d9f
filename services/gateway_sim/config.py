"""The simulator's command line: ``python -m services.gateway_sim --port 4002 [...]``.

argparse rather than click: the simulator is a stand-alone service and should
start with nothing but the standard library and the shared wire codec. Bad
arguments give one line on stderr naming the option, and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
import sys
from dataclasses import dataclass, field
from typing import NoReturn, Sequence

from services.errors import UsageError
from pathlib import Path

from services.gateway_sim.account import DEFAULT_ACCOUNT
from services.gateway_sim.gateway import DEFAULT_MARKET_DATA_LINES, DEFAULT_MAX_CLIENTS
from services.gateway_sim.scenario import WeekConfig, add_week_options, week_config

FAULT_KINDS = ("none", "silent", "close-wait", "crash-after", "hang-after", "no-next-valid-id")
TIMED_FAULTS = ("crash-after", "hang-after")
# Paper accounts are DU...; a U... id makes the simulator look like a live account (to test refusals).
_ACCOUNT = re.compile(r"(DU|U)[0-9]{1,12}")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Fault:
    """A failure mode: ``kind`` from :data:`FAULT_KINDS`, ``after`` seconds for the timed ones."""

    kind: str = "none"
    after: float = 0.0

    def describe(self) -> str:
        return f"{self.kind} {self.after:g}s" if self.kind in TIMED_FAULTS else self.kind


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything the command line decides."""

    port: int
    host: str = "127.0.0.1"
    seed: int | None = None
    tick_interval: float = 0.25
    fault: Fault = Fault()
    api_delay: float = 0.0
    account: str = DEFAULT_ACCOUNT
    max_clients: int = DEFAULT_MAX_CLIENTS
    trusted_ips: tuple[IpNetwork, ...] = field(default_factory=lambda: (ipaddress.ip_network("127.0.0.1"),))
    # --- paper trading and limits (issue 13) ---
    orders: str = "fill"
    read_only: bool = False
    pacing: str = "off"
    market_data_lines: int = DEFAULT_MARKET_DATA_LINES
    state_file: Path | None = None
    handshake_timeout: float = 10.0
    idle_limit: float = 60.0
    # --- the Gateway's week: login, IBC, restarts, data conditions (issue 12) ---
    week: WeekConfig = field(default_factory=WeekConfig)

    def trusts(self, address: str) -> bool:
        """True if a client connecting from ``address`` may use the API."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted_ips)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m services.gateway_sim",
        description="A paper-trading IB Gateway stand-in speaking the TWS API socket protocol (server "
                    "versions 157..178): market data, historical data and orders filled against a seeded "
                    "simulated market, with the field's failure modes and the Gateway's week under IBC.",
        epilog="Readiness: prints 'listening on HOST:PORT' once the socket accepts connections (with a login, "
               "once it completes); every change of the simulated Gateway is a 'state NAME: ...' or "
               "'condition NAME: ...' line. SIGTERM/SIGINT close every client and exit 0.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, help="seed of the market random walk (default: random, logged)")
    parser.add_argument("--tick-interval", type=float, default=0.25, metavar="S",
                        help="seconds between market steps sent to subscribers (default 0.25)")
    parser.add_argument("--fault", nargs="+", metavar="MODE", default=["none"],
                        help="silent | close-wait | crash-after S | hang-after S | no-next-valid-id "
                             "(default none)")
    parser.add_argument("--api-delay", type=float, default=None, metavar="S",
                        help="answer handshakes only S seconds after the API port opens (API initialisation "
                             "after login; default 0)")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT,
                        help=f"account id (default {DEFAULT_ACCOUNT}); U... looks like a live account, which a "
                             f"paper-only trader must refuse")
    parser.add_argument("--max-clients", type=int, default=DEFAULT_MAX_CLIENTS, metavar="N",
                        help=f"API clients allowed at once (default {DEFAULT_MAX_CLIENTS})")
    parser.add_argument("--trusted-ips", default="127.0.0.1", metavar="LIST",
                        help="comma-separated addresses or networks allowed to connect (default 127.0.0.1)")
    add_trading_options(parser)
    add_week_options(parser)
    return parser


def add_trading_options(parser: argparse.ArgumentParser) -> None:
    """Paper trading, IB's limits and the per-connection limits (issue 13)."""
    parser.add_argument("--orders", choices=("fill", "reject"), default="fill",
                        help="fill: paper-trade every order against the simulated market (default); "
                             "reject: refuse every order with error 201")
    parser.add_argument("--read-only", action="store_true",
                        help="behave as a Gateway with 'Read-Only API' ticked: orders refused with error 321")
    parser.add_argument("--pacing", choices=("off", "ib"), default="off",
                        help="ib: enforce IB's limits (50 messages/s with error 100 and disconnection, "
                             "historical pacing with error 162); default off")
    parser.add_argument("--market-data-lines", type=int, default=DEFAULT_MARKET_DATA_LINES, metavar="N",
                        help=f"market-data lines per client before error 101 (default {DEFAULT_MARKET_DATA_LINES}, "
                             f"as IB)")
    parser.add_argument("--state-file", metavar="PATH",
                        help="where order ids and the paper account are kept across restarts (default "
                             "~/.local/state/robostack-gateway-sim/ACCOUNT-PORT.json, or in "
                             "$ROBOSTACK_GATEWAY_SIM_STATE_DIR; nothing with --port 0; 'none' keeps nothing)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, metavar="S",
                        help="close a connection that has not completed the API handshake within S seconds "
                             "(default 10)")
    parser.add_argument("--idle-limit", type=float, default=60.0, metavar="S",
                        help="close a connection that sends no startApi, or leaves a frame incomplete, for S "
                             "seconds (default 60); a started, quiet API session is never closed")


def parse_fault(tokens: Sequence[str]) -> Fault:
    """``["crash-after", "5"]`` (or ``["crash-after=5"]``) -> ``Fault("crash-after", 5.0)``."""
    if len(tokens) == 1 and "=" in tokens[0]:
        tokens = tokens[0].split("=", 1)
    kind, rest = tokens[0], list(tokens[1:])
    if kind not in FAULT_KINDS:
        raise UsageError(f"--fault: unknown mode {kind!r} (choose from {', '.join(FAULT_KINDS)})")
    if kind not in TIMED_FAULTS:
        if rest:
            raise UsageError(f"--fault {kind} takes no value, got {' '.join(rest)!r}")
        return Fault(kind)
    if len(rest) != 1:
        raise UsageError(f"--fault {kind} needs exactly one value in seconds, e.g. '--fault {kind} 5'")
    return Fault(kind, _seconds(f"--fault {kind}", rest[0], allow_zero=True))


def _seconds(option: str, text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise UsageError(f"{option}: expected {bound} seconds, got {text!r}")
    return value


def parse_trusted_ips(text: str) -> tuple[IpNetwork, ...]:
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise UsageError(f"--trusted-ips: {item!r} is not an IP address or network") from None
    if not networks:
        raise UsageError("--trusted-ips: give at least one address")
    return tuple(networks)


def parse_arguments(argv: Sequence[str] | None = None) -> SimulatorConfig:
    """Parse and validate the command line; raises :class:`UsageError` with a one-line message."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a TCP port (0..65535)")
    if not _ACCOUNT.fullmatch(args.account):
        raise UsageError(f"--account: {args.account!r} is not an account id (DU, or U for a live-looking one, "
                         f"followed by digits)")
    if args.max_clients < 1:
        raise UsageError(f"--max-clients: must be at least 1, got {args.max_clients}")
    if args.market_data_lines < 1:
        raise UsageError(f"--market-data-lines: must be at least 1, got {args.market_data_lines}")
    from services.gateway_sim.store import default_path

    state_file = None if args.state_file == "none" else (
        Path(args.state_file) if args.state_file else default_path(args.account, args.port))
    week = week_config(args)
    api_delay = args.api_delay if args.api_delay is not None else week.api_delay or 0.0
    return SimulatorConfig(
        orders=args.orders, read_only=args.read_only, pacing=args.pacing,
        market_data_lines=args.market_data_lines, state_file=state_file,
        handshake_timeout=_seconds("--handshake-timeout", str(args.handshake_timeout), allow_zero=False),
        idle_limit=_seconds("--idle-limit", str(args.idle_limit), allow_zero=False),
        port=args.port, host=args.host, seed=args.seed,
        tick_interval=_seconds("--tick-interval", str(args.tick_interval), allow_zero=False),
        fault=parse_fault(args.fault),
        api_delay=_seconds("--api-delay", str(api_delay), allow_zero=True),
        account=args.account, max_clients=args.max_clients, trusted_ips=parse_trusted_ips(args.trusted_ips),
        week=week,
    )

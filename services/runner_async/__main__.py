"""``python -m services.runner_async``: stream market data from the Gateway to the WebSocket server.

Exit codes: 0 after SIGTERM/SIGINT (market data cancelled, sockets closed),
2 for bad arguments or when no requested symbol is known to the Gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from services.errors import ServiceError
from stackkit.notify import Notifier, watchdog_interval
from services.runner_async.backoff import Backoff
from services.runner_async.events import parse_symbols
from services.runner_async.strategy import STRATEGIES, RiskLimits
from services.runner_async.trader import Trader, TraderSettings
from services.arguments import WS_TOKEN_VARIABLE, OneLineErrorParser, positive_float

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m services.runner_async",
        description="Stream market data for SYMBOLS from an IB Gateway to the stack's WebSocket server.",
        epilog=f"The publisher token comes from {WS_TOKEN_VARIABLE}; readiness goes to NOTIFY_SOCKET when set.",
    )
    parser.add_argument("--symbols", required=True, help="comma-separated tickers, e.g. AAPL,NVDA,TSLA")
    parser.add_argument("--host", default="127.0.0.1", help="Gateway host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4002, help="Gateway API port: 4002 paper, 4001 live (default 4002)")
    parser.add_argument("--client-id", type=int, default=10, help="TWS API client id, unique per connection (default 10)")
    parser.add_argument("--ws-url", default="ws://127.0.0.1:8765/publish",
                        help="the WebSocket server's publish address (default %(default)s)")
    parser.add_argument("--connect-timeout", type=positive_float, default=10.0,
                        help="seconds to wait for the Gateway's API to answer (default 10)")
    parser.add_argument("--api-check-interval", type=positive_float, default=10.0,
                        help="seconds between checks that the Gateway still answers API requests (default 10)")
    parser.add_argument("--max-backoff", type=positive_float, default=30.0,
                        help="longest wait between reconnect attempts, in seconds (default 30)")
    parser.add_argument("--data-timeout", type=positive_float, default=None, metavar="S",
                        help="not ready (WATCHDOG=1 stops, STATUS= says why) when no tick arrives for S seconds while "
                             "subscribed; ready again with the next tick (default: off, for markets that go quiet)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none",
                        help="none: stream market data only (default); momentum: paper-trade the example strategy "
                             "(paper accounts, DU..., only)")
    parser.add_argument("--max-position", type=positive_int, default=200, metavar="SHARES",
                        help="hard limit on the position per symbol, long or short (default 200)")
    parser.add_argument("--max-orders-per-minute", type=positive_int, default=6, metavar="N",
                        help="hard limit on orders sent in any 60 seconds, all symbols together (default 6)")
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        symbols = parse_symbols(args.symbols)
    except ValueError as err:
        parser.error(f"--symbols: {err}")  # exits with status 2
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The trader logs connection failures and Gateway errors itself, each once, with context;
    # ib_async's own lines for the same things would say it two or three times over.
    logging.getLogger("ib_async").setLevel(logging.ERROR)
    logging.getLogger("ib_async.client").setLevel(logging.CRITICAL)
    logging.getLogger("ib_async.wrapper").setLevel(logging.CRITICAL)
    settings = TraderSettings(
        symbols=tuple(symbols), host=args.host, port=args.port, client_id=args.client_id,
        ws_url=args.ws_url, ws_token=os.environ.get(WS_TOKEN_VARIABLE) or None,
        connect_timeout=args.connect_timeout, api_check_interval=args.api_check_interval,
        watchdog_interval=watchdog_interval(os.environ),
        backoff=Backoff(initial=min(0.5, args.max_backoff), maximum=args.max_backoff),
        strategy=args.strategy, risk=RiskLimits(args.max_position, args.max_orders_per_minute),
        data_timeout=args.data_timeout,
    )
    try:
        asyncio.run(run_until_signalled(settings))
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return err.exit_code
    return 0


async def run_until_signalled(settings: TraderSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    trader = Trader(settings, notifier=Notifier.from_environment())
    await trader.run(stop)


if __name__ == "__main__":
    sys.exit(main())

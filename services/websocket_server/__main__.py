"""``python -m services.websocket_server``: the stack's event fan-out.

Prints ``listening on ws://HOST:PORT`` once it accepts connections (the
readiness line), then one log line per connection and per refused input.
SIGTERM or SIGINT closes every client with a close frame and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from services.websocket_server.messages import DEFAULT_EVENT_TYPES, BadMessage, parse_event_types
from services.websocket_server.server import ServerSettings, WebSocketServer
from services.arguments import WS_TOKEN_VARIABLE, OneLineErrorParser, bounded_int, port_number, positive_float

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m services.websocket_server",
        description="Relay JSON events from publishers (/publish) to subscribers (/); GET /healthz for counters.",
        epilog=f"When {WS_TOKEN_VARIABLE} is set, publishers must send 'Authorization: Bearer <token>'.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8765, help="port to bind (default 8765; 0 picks a free one)")
    parser.add_argument("--queue-size", type=bounded_int(1, 10_000_000), default=1000,
                        help="events kept per subscriber before the oldest are dropped (default 1000)")
    parser.add_argument("--stuck-timeout", type=positive_float, default=10.0,
                        help="seconds a subscriber may make no progress with events waiting before it is disconnected (default 10)")
    parser.add_argument("--max-message-bytes", type=bounded_int(1, 64 * 1024 * 1024), default=64 * 1024,
                        help="largest frame accepted; bigger ones close the connection with 1009 (default 65536)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="also accept browser connections from ORIGIN (like https://dashboard.example), or '*' for "
                             "any; by default only pages from this machine (loopback origins) may connect")
    parser.add_argument("--event-types", default=",".join(sorted(DEFAULT_EVENT_TYPES)),
                        help="comma-separated event types publishers may send (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        event_types = parse_event_types(args.event_types)
    except BadMessage as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    settings = ServerSettings(
        host=args.host, port=args.port, token=os.environ.get(WS_TOKEN_VARIABLE) or None,
        event_types=event_types, queue_limit=args.queue_size, stuck_after=args.stuck_timeout,
        max_message_bytes=args.max_message_bytes, allowed_origins=frozenset(args.allow_origin),
    )
    try:
        asyncio.run(serve_until_signalled(settings))
    except (OSError, OverflowError) as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


async def serve_until_signalled(settings: ServerSettings) -> None:
    """Serve until SIGTERM or SIGINT, then close every connection cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = WebSocketServer(settings)
    port = await server.start()
    logging.getLogger("websocket_server").info(
        "publishing %s", "needs a token" if settings.token else f"is open ({WS_TOKEN_VARIABLE} not set)")
    print(f"listening on ws://{settings.host}:{port}", flush=True)
    await stop.wait()
    logging.getLogger("websocket_server").info("stopping: closing %d subscribers and %d publishers",
                                               *(server.hub.stats()[key] for key in ("subscribers", "publishers")))
    await server.stop()


if __name__ == "__main__":
    sys.exit(main())

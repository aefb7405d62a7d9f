"""``python -m services.gateway_sim --port 4002 [...]``: run the IB Gateway simulator until SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from typing import Sequence

from services.errors import ServiceError, UsageError
from services.gateway_sim.config import parse_arguments
from services.gateway_sim.server import GatewayServer

PROG = "python -m services.gateway_sim"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve, and turn expected failures into one line and an exit status."""
    try:
        config = parse_arguments(argv)
    except UsageError as problem:
        sys.stderr.write(f"{PROG}: error: {problem}\n")
        return problem.exit_code
    server = GatewayServer(config)
    try:
        return asyncio.run(server.run())
    except ServiceError as problem:  # a port it cannot listen on
        sys.stderr.write(f"{PROG}: error: {problem}\n")
        return problem.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the stack's own services share on their command lines."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

# The publishers' shared secret for the WebSocket server's /publish, from the environment.
WS_TOKEN_VARIABLE = "ROBOSTACK_WS_TOKEN"


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_float(text: str) -> float:
    """An argparse type: a finite number of seconds (or similar) that must be above zero.

    ``nan`` and ``inf`` parse as floats but are no duration: ``--stuck-timeout nan`` would
    never evict anyone (every comparison with nan is false).
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above zero, got {text}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (let the system pick) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0-65535)")
    return value


def bounded_int(low: int, high: int):
    """An argparse type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse

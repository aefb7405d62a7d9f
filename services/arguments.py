"""What the stack's own services share on their command lines."""

from __future__ import annotations

import argparse
from typing import NoReturn

# The publishers' shared secret for the WebSocket server's /publish, from the environment.
WS_TOKEN_VARIABLE = "ROBOSTACK_WS_TOKEN"


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds (or similar) that must be above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value

"""The one rule for ticker symbols: stack.yaml, `robostack up SYMBOLS` and the trader all use it."""

from __future__ import annotations

import re
from typing import Iterable

_SYMBOL = re.compile(r"[A-Za-z0-9.]+")


def validate_symbols(symbols: Iterable[object]) -> list[str]:
    """Tickers are letters, digits and dots; no empties, no duplicates. Returns them upper-cased.

    Raises ValueError naming the offending entry.
    """
    seen: list[str] = []
    for raw in symbols:
        symbol = str(raw).strip().upper()
        if not symbol:
            raise ValueError("empty symbol in the symbol list")
        if not _SYMBOL.fullmatch(symbol):
            raise ValueError(f'"{raw}" is not a symbol (letters, digits and "." only)')
        if symbol in seen:
            raise ValueError(f'symbol "{symbol}" is listed twice')
        seen.append(symbol)
    return seen

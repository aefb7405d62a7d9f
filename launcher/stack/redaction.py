"""Which values are secrets, and hiding them in anything shown to a person.

A variable is secret when its name says so (``TWSPASSWORD``, ``TWS_PASSWORD``,
``IB_PASS``, ``API_KEY``, ``apiToken``...). Erring towards hiding is fine:
an innocent value shown as ``***`` costs a look at the file, a leaked
password costs an account.
"""

from __future__ import annotations

import re
from typing import Iterable

MASK = "***"
_SECRET_INSIDE = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL")
_SECRET_ENDINGS = ("PASS", "PWD", "KEY")
# A secret this short also occurs by chance inside other values ("1" in "4001"); mask it only whole.
_SHORTEST_MASKED_INSIDE = 4


def looks_secret(name: str) -> bool:
    """True if the variable name looks like it holds a password, token, key or credential."""
    for word in re.split(r"[^A-Z0-9]+", name.upper()):
        if any(marker in word for marker in _SECRET_INSIDE) or word.endswith(_SECRET_ENDINGS):
            return True
    return False


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret value replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if not secret:
            continue
        if text == secret:
            return MASK
        if len(secret) >= _SHORTEST_MASKED_INSIDE:
            text = text.replace(secret, MASK)
    return text

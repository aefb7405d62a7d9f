"""Which values are secrets, and hiding them in anything shown to a person.

A variable is secret when its name says so (``TWSPASSWORD``, ``TWS_PASSWORD``,
``IB_PASS``, ``API_KEY``, ``apiToken``...). Erring towards hiding is fine:
an innocent value shown as ``***`` costs a look at the file, a leaked
password costs an account.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

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


def mask_all(value: Any, secrets: Iterable[str], *, assignments: bool = False) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with every secret masked in every string;
    with `assignments`, also the values of secret-looking ``NAME=value`` pairs (see mask_assignments)."""
    hidden = frozenset(secrets)
    if isinstance(value, str):
        text = mask(value, hidden)
        return mask_assignments(text) if assignments else text
    if isinstance(value, dict):
        return {key: mask_all(item, hidden, assignments=assignments) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_all(item, hidden, assignments=assignments) for item in value]
    return value


# `NAME=value` / `NAME: value` where NAME looks secret (TWSPASSWORD=..., "api_token": "...").
_ASSIGNMENT = re.compile(r"""(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<quote>["']?)(?P<sep>\s*[=:]\s*)(?P<open>["']?)(?P<value>[^\s"',;&]+)""")


def mask_assignments(text: str) -> str:
    """`text` with the value of every secret-looking ``NAME=value`` (or ``NAME: value``) masked.

    For text robostack did not write, such as a service's log: a secret the stack file
    never named is still hidden when it is printed next to its name.
    """
    def hide(match: re.Match[str]) -> str:
        if not looks_secret(match["name"]) or match["value"] == MASK:
            return match[0]
        return f'{match["name"]}{match["quote"]}{match["sep"]}{match["open"]}{MASK}'

    return _ASSIGNMENT.sub(hide, text)

"""`env_file`: a plain ``KEY=VALUE`` file, as written for docker compose or a shell.

Supported, one assignment per line: blank lines and ``#`` comments, an
optional ``export `` prefix, values in double quotes (with ``\\n``, ``\\t``,
``\\"`` and ``\\\\`` escapes), in single quotes (taken literally) or bare (a
`` #`` starts a trailing comment). Values are not substituted: ``$`` is just
a character here, so a password holding one survives intact.
"""

from __future__ import annotations

import re

from launcher.errors import StackFileError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def parse_env_file(text: str, display_path: str) -> dict[str, str]:
    """The file's assignments in order (a later one wins); malformed lines raise StackFileError with their line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, equals, rest = line.partition("=")
        key = key.strip()
        if not equals:
            raise StackFileError(display_path, f'expected KEY=VALUE, got "{line}"', line=number)
        if not _KEY.match(key):
            raise StackFileError(display_path, f'"{key}" is not a variable name', line=number)
        try:
            values[key] = _value(rest.strip())
        except ValueError as err:
            raise StackFileError(display_path, f"{key}: {err}", line=number) from err
    return values


def _value(text: str) -> str:
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise ValueError("the single quote is never closed")
        _only_comment_after(text[end + 1:])
        return text[1:end]
    if text.startswith('"'):
        return _double_quoted(text)
    comment = re.search(r"\s#", text)
    return (text[: comment.start()] if comment else text).rstrip()


def _double_quoted(text: str) -> str:
    result: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            result.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        if char == '"':
            _only_comment_after(text[index + 1:])
            return "".join(result)
        result.append(char)
        index += 1
    raise ValueError("the double quote is never closed")


def _only_comment_after(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f'unexpected "{rest}" after the closing quote')

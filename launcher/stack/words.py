"""Splitting a command into words like a POSIX shell would, in time linear in its length (pure).

The same rules as ``shlex.split(text)`` (whitespace ``' \\t\\r\\n'`` separates words,
``'...'`` is literal, ``"..."`` keeps a backslash except before ``"`` or ``\\``, a
backslash outside quotes escapes the next character, ``''`` is an empty word), but
``shlex`` grows each word one character at a time and takes quadratic time: a stack
file with one 800 KB command took 24 s to load. Here each run of plain characters,
quoted text or escape is one regular-expression match. A test compares both on
random text.
"""

from __future__ import annotations

import re

_PIECE = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<plain>[^ \t\r\n'"\\]+)
      | '(?P<single>[^']*)'
      | "(?P<double>(?:[^"\\]|\\.)*)"
      | \\(?P<escaped>.)
      | (?P<unclosed>'|"(?P<unclosed_body>(?:[^"\\]|\\.)*))
      | (?P<dangling>\\)""",
    re.VERBOSE | re.DOTALL,
)
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\(["\\])')


def split_words(text: str) -> list[str]:
    """The words of `text`; ValueError("No closing quotation" / "No escaped character") like shlex."""
    words: list[str] = []
    pieces: list[str] = []
    started = False  # a word has begun (even an empty quoted one)
    for match in _PIECE.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            if started:
                words.append("".join(pieces))
                pieces, started = [], False
            continue
        if kind == "unclosed":
            # Like shlex: an unclosed "..." that stops short of the end stops at a final lone backslash.
            ends_in_escape = match.group("unclosed_body") is not None and match.end() < len(text)
            raise ValueError("No escaped character" if ends_in_escape else "No closing quotation")
        if kind == "dangling":
            raise ValueError("No escaped character")
        value = match.group(kind)
        if kind == "double":
            value = _DOUBLE_QUOTED_ESCAPE.sub(r"\1", value)
        pieces.append(value)
        started = True
    if started:
        words.append("".join(pieces))
    return words

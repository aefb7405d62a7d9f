"""Stale patterns that could only do harm, refused at load (pure).

A `stale` pattern names leftovers pre-flight may stop. One that matches any shell, init,
a terminal, or robostack itself would stop exactly what must never be stopped, so each
pattern is tried on such command lines when the stack file is loaded, and refused with
its file, line and field. What can only be known on the running machine (the pattern
matches this very robostack, its parent shell, or more than a handful of processes) is
checked again by pre-flight (:mod:`launcher.hygiene.stale_check`).

Every stale match, here and on the machine, goes through :class:`StaleRegex`: the ``regex``
engine with a time limit per command line and in all, so a pattern that backtracks without
end (``(x+x+)+y`` on a long command line) is refused as too slow instead of freezing `up`.
"""

from __future__ import annotations

import time

import regex

# Command lines no stale pattern may match, by what they are. Kept short and generic:
# a pattern written for a service (its module, its port) matches none of them.
NEVER_MATCH: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("every process (it matches an empty command line)", ("",)),
    ("a shell", ("bash", "-bash", "/bin/bash", "/bin/bash --login", "sh", "/bin/sh", "/bin/sh -c true",
                 "dash", "/bin/dash", "zsh", "-zsh", "/usr/bin/zsh", "fish", "/usr/bin/fish", "ksh", "tcsh", "csh")),
    ("init", ("init", "/sbin/init", "/sbin/init splash", "/lib/systemd/systemd --system --deserialize 31",
              "/usr/lib/systemd/systemd --user")),
    ("a terminal or login session", ("sshd: trader@pts/0", "/usr/sbin/sshd -D", "tmux", "tmux new -s trading",
                                     "screen", "login -- trader", "su -", "sudo -i")),
    ("robostack itself", ("robostack up", "/home/trader/.venv/bin/python /home/trader/.venv/bin/robostack up AAPL",
                          "/home/trader/.venv/bin/robostack -f stack.yaml up --detach",
                          "python -m launcher up", "/usr/bin/python3 -m launcher -f stack.yaml down")),
)

EXAMPLE = r"'services\.gateway_sim\b.*--port[= ]4002\b'"


LINE_LIMIT = 0.05  # seconds to search one command line: a sane pattern takes microseconds
TOTAL_LIMIT = 1.0  # seconds for one pattern over a whole process table


class SlowPattern(ValueError):
    """A stale pattern took longer than its time limit (it backtracks catastrophically)."""


class StaleRegex:
    """One stale pattern, compiled once; :meth:`search` raises SlowPattern rather than run unbounded.

    ValueError (from the constructor) for a pattern that is not a valid regular expression.
    """

    def __init__(self, pattern: str, *, total: float = TOTAL_LIMIT):
        try:
            self._regex = regex.compile(pattern, regex.VERSION0)
        except regex.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
        self.pattern = pattern
        self._left = total

    def search(self, command: str) -> bool:
        """True if the pattern is found in `command`."""
        began = time.monotonic()
        try:
            return self._regex.search(command, timeout=max(0.001, min(LINE_LIMIT, self._left))) is not None
        except TimeoutError:
            raise SlowPattern(f'"{self.pattern}" is too slow: it did not finish on a {len(command)}-character '
                              "command line within its time limit (nested repetition such as (a+)+ backtracks "
                              "without end); write it without nested repeats") from None
        finally:
            self._left -= time.monotonic() - began


def harmful_match(pattern: str) -> tuple[str, str] | None:
    """(what, example command line) for the first forbidden command line `pattern` matches, or None.

    ValueError if it is not a regular expression, SlowPattern if it is too slow.
    """
    stale = StaleRegex(pattern)
    for what, commands in NEVER_MATCH:
        for command in commands:
            if stale.search(command):
                return what, command
    return None


def check_stale_pattern(pattern: str) -> str:
    """A pydantic after-validator: the pattern unchanged, or ValueError saying what it would stop."""
    found = harmful_match(pattern)
    if found is not None:
        what, command = found
        example = f' (it matches "{command}")' if command else ""
        raise ValueError(f'"{pattern}" would match {what}{example}; a stale pattern must match only the '
                         f"service's own command line, like {EXAMPLE}")
    return pattern

"""Stale patterns that could only do harm, refused at load (pure).

A `stale` pattern names leftovers pre-flight may stop. One that matches any shell, init,
a terminal, or robostack itself would stop exactly what must never be stopped, so each
pattern is tried on such command lines when the stack file is loaded, and refused with
its file, line and field. What can only be known on the running machine (the pattern
matches this very robostack, its parent shell, or more than a handful of processes) is
checked again by pre-flight (:mod:`launcher.hygiene.stale_check`).
"""

from __future__ import annotations

import re

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


def harmful_match(pattern: str) -> tuple[str, str] | None:
    """(what, example command line) for the first forbidden command line `pattern` matches, or None."""
    regex = re.compile(pattern)
    for what, commands in NEVER_MATCH:
        for command in commands:
            if regex.search(command):
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

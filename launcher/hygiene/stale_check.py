"""Stale patterns judged against the machine they would run on, before pre-flight stops anything.

The loader already refuses patterns that match a shell, init or robostack in general
(:mod:`launcher.stack.stale`). Here each pattern is tried on the real process table: a
pattern that matches this very robostack, one of its ancestors (the shell, the terminal,
sudo), any shell or init process of this user, or more than a handful of processes cannot
be naming one service's leftovers. It is refused with the stack file, line and field and
the list of what it matched; nothing is signalled. Judging is pure
(:func:`stale_pattern_problems`); :func:`check_stale_patterns` reads the table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import psutil

from launcher.hygiene.findings import short_command
from launcher.process.search import ancestors_of_self
from launcher.stack.problems import Problem
from launcher.stack.stale import SlowPattern, StaleRegex
from launcher.stack.source import format_field_path
from launcher.stack.resolved import ResolvedStack

# More matches than this is not "the service's leftovers" (a Gateway, a server with a few workers).
MAX_STALE_MATCHES = 8
SHELLS_AND_SESSIONS = frozenset({
    "sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "tcsh", "csh", "busybox", "login", "sshd", "su", "sudo",
    "tmux", "tmux: server", "screen", "init", "systemd",
})
_LISTED = 6  # matches named in the message


@dataclass(frozen=True)
class ProcessRow:
    """What the judgement needs of one process."""

    pid: int
    command: str
    name: str = ""
    uid: int | None = None


def is_shell_or_init(row: ProcessRow) -> bool:
    if row.pid == 1:
        return True
    words = row.command.split()
    first = os.path.basename(words[0]).lstrip("-") if words else ""
    return row.name in SHELLS_AND_SESSIONS or first in SHELLS_AND_SESSIONS


def stale_pattern_problems(stack: ResolvedStack, rows: Iterable[ProcessRow], *, uid: int,
                           protected: set[int]) -> list[tuple[tuple, str]]:
    """(field path, message) for each pattern that would reach what it must not (pure).

    `protected` are robostack itself and its ancestors; only `uid`'s processes (and init)
    are counted, since only those could be stopped.
    """
    table = [row for row in rows if row.command and (row.uid == uid or row.pid == 1 or row.pid in protected)]
    problems = []
    for name, service in stack.services.items():
        if service.external:
            continue
        for index, pattern in enumerate(service.spec.stale):
            stale = StaleRegex(pattern)
            try:
                matched = [row for row in table if stale.search(row.command)]
            except SlowPattern as slow:
                problems.append((("services", name, "stale", index), f"{slow}; nothing was stopped"))
                continue
            reason = _reason(matched, protected)
            if reason:
                problems.append((("services", name, "stale", index), f'"{pattern}" {reason}; a stale pattern must '
                                 "match only leftovers of this service (its module and port), nothing was stopped"))
    return problems


def _reason(matched: list[ProcessRow], protected: set[int]) -> str | None:
    mine = [row for row in matched if row.pid in protected]
    if mine:
        return f"matches robostack itself or the shell it runs in: {_listing(mine)}"
    shells = [row for row in matched if is_shell_or_init(row)]
    if shells:
        return f"matches a shell, a login session or init: {_listing(shells)}"
    if len(matched) > MAX_STALE_MATCHES:
        return f"matches {len(matched)} processes, more than the {MAX_STALE_MATCHES} a service's leftovers could be: {_listing(matched)}"
    return None


def _listing(rows: list[ProcessRow]) -> str:
    shown = ", ".join(f"pid {row.pid} ({short_command(row.command, 40)})" for row in rows[:_LISTED])
    return shown + (f" and {len(rows) - _LISTED} more" if len(rows) > _LISTED else "")


def process_rows() -> list[ProcessRow]:
    """The process table as the judgement needs it (thin I/O)."""
    rows = []
    for process in psutil.process_iter(["name", "cmdline", "uids"]):
        info = process.info
        uids = info.get("uids")
        rows.append(ProcessRow(process.pid, " ".join(info.get("cmdline") or ()), info.get("name") or "",
                               uids.real if uids else None))
    return rows


def check_stale_patterns(stack: ResolvedStack) -> None:
    """Raise StackFileError (file, line, field, what matched) if a stale pattern is dangerous on this machine."""
    if not any(service.spec.stale for service in stack.services.values() if not service.external):
        return
    problems = stale_pattern_problems(stack, process_rows(), uid=os.getuid(),
                                      protected={os.getpid()} | ancestors_of_self())
    if problems:
        raise stack.problems_error([Problem(message, stack.line_of(path), format_field_path(path))
                                    for path, message in problems])

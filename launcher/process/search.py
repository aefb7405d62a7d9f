"""Finding leftovers: processes whose command line matches a service's declared `stale` patterns.

Pre-flight stops what this finds and doctor reports it, so the search is deliberately
narrow: a process is a candidate only if it belongs to the current user, matches one of
the service's own regular expressions on its full command line (arguments joined with
spaces), and is neither this process, one of its ancestors (the shell, the terminal,
`robostack up` itself) nor anything the caller excludes (the managed services, external
ones). There is no matching by process name, ever. Matching has a time limit
(:class:`launcher.stack.stale.StaleRegex`): a pattern too slow on a long command line is
refused, never left to run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from launcher.errors import UsageError
from launcher.process.identity import ProcessIdentity
from launcher.stack.stale import SlowPattern, StaleRegex

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class MatchedProcess:
    """A process that matched `pattern`, one of `service`'s stale patterns."""

    service: str
    pattern: str
    identity: ProcessIdentity
    command: str

    @property
    def pid(self) -> int:
        return self.identity.pid


def find_matching_processes(patterns: Mapping[str, Sequence[str]], *,
                            exclude_pids: Iterable[int] = ()) -> list[MatchedProcess]:
    """Processes of the current user whose command line matches a service's patterns.

    `patterns` maps a service name to regular expressions searched (``search``, with a time limit) in
    the command line. A process matching several services is listed once per service,
    with the first pattern that matched. Sorted by service, then pid. An invalid regular
    expression, or one too slow to search a command line, raises UsageError naming the
    service and the pattern.
    """
    import psutil  # here, not at the top: `status` imports this module and needs psutil only to search

    compiled = compile_patterns(patterns)
    if not any(compiled.values()):
        return []
    spared = {os.getpid()} | ancestors_of_self() | set(exclude_pids)
    user = os.getuid()
    matches = []
    for process in psutil.process_iter(["cmdline", "uids", "create_time"]):
        info = process.info
        if process.pid in spared or not info.get("cmdline") or info.get("uids") is None:
            continue  # spared, a kernel thread or zombie (no command line), or unreadable
        if info["uids"].real != user:
            continue
        command = " ".join(info["cmdline"])
        identity = ProcessIdentity(process.pid, info["create_time"])
        try:
            matches.extend(match_command(compiled, command, identity))
        except SlowPattern as slow:
            raise UsageError(str(slow)) from None
    matches.sort(key=lambda match: (match.service, match.pid))
    return matches


def match_command(compiled: Mapping[str, Sequence[StaleRegex]], command: str,
                  identity: ProcessIdentity) -> list[MatchedProcess]:
    """One MatchedProcess per service with a pattern found in `command` (pure).

    SlowPattern (its message starting with the service's field) if a pattern runs out of time.
    """
    found = []
    for service, regexes in compiled.items():
        for stale in regexes:
            try:
                hit = stale.search(command)
            except SlowPattern as slow:
                raise SlowPattern(f"services.{service}.stale: {slow}") from None
            if hit:
                found.append(MatchedProcess(service, stale.pattern, identity, command))
                break
    return found


def compile_patterns(patterns: Mapping[str, Sequence[str]]) -> dict[str, list[StaleRegex]]:
    """Compile every service's patterns, refusing an empty or invalid one with a one-line error."""
    compiled: dict[str, list[StaleRegex]] = {}
    for service, texts in patterns.items():
        compiled[service] = []
        for text in texts:
            if not text:
                raise UsageError(f"services.{service}.stale: an empty pattern would match every process")
            try:
                compiled[service].append(StaleRegex(text))
            except ValueError as error:
                raise UsageError(f"services.{service}.stale: {error}") from error
    return compiled


def ancestors_of_self() -> set[int]:
    """The pids of this process's parent, grandparent, ... up to pid 1 (this process excluded)."""
    import psutil

    ancestors: set[int] = set()
    pid = os.getppid()
    while pid > 0 and pid not in ancestors:
        ancestors.add(pid)
        try:
            pid = psutil.Process(pid).ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            break
    return ancestors


def find_processes_carrying(variable: str, value: str, *, exclude_pids: Iterable[int] = (),
                            marked: str | None = None, marked_only: bool = False) -> list[ProcessIdentity]:
    """Processes of this user whose environment has `variable`=`value`.

    robostack gives every service a per-run token in its environment; children inherit
    it, so a process that escaped its group with setsid() and was orphaned is still
    recognisable as ours, even after the supervisor itself was killed. The token is
    random, so matching it cannot reach a stranger. With `marked` (a variable name),
    only the processes whose environment lacks it are returned, or with `marked_only`
    only those that have it (log writers carry ROBOSTACK_LOG_WRITER).
    """
    return find_processes_with_environment({variable: value}, exclude_pids=exclude_pids, marked=marked,
                                           marked_only=marked_only)


def find_processes_with_environment(wanted: Mapping[str, str], *, exclude_pids: Iterable[int] = (),
                                    marked: str | None = None, marked_only: bool = False) -> list[ProcessIdentity]:
    """Processes of this user (not zombies) whose environment has every `wanted` variable with its value
    (and, given `marked`, lacks that variable, or has it with `marked_only`).

    Each process's environment is read raw from /proc and matched as bytes; only the few
    that match are looked at further (owner, state, create time). Much cheaper than
    parsing every environment: `down` and every stop of the supervisor look this way.
    """
    import psutil

    needles = {f"{name}={value}".encode() for name, value in wanted.items()}
    mark = f"{marked}=".encode() if marked else None
    spared = set(exclude_pids) | {os.getpid()}
    user = os.getuid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                variables = set(handle.read().split(b"\0"))
        except OSError:
            continue  # gone, or not ours to read
        if not needles <= variables:
            continue
        if mark is not None and any(variable.startswith(mark) for variable in variables) != marked_only:
            continue
        try:
            process = psutil.Process(int(entry.name))
            with process.oneshot():
                if process.uids().real != user or process.status() == psutil.STATUS_ZOMBIE:
                    continue
                found.append(ProcessIdentity(process.pid, process.create_time()))
        except psutil.Error:
            continue
    return found

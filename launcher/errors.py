"""The one exception hierarchy for robostack.

Every error the launcher raises on purpose derives from :class:`RobostackError`
and carries the process exit code the CLI should use. Only the CLI entry point
(`launcher.cli`) turns these into a one-line message and an exit code; every
other module raises, chaining the underlying cause with ``raise ... from``.

Exit codes (also documented in ``robostack --help`` and the README):

====  ==========================================================
0     success
1     a service failed: a gate, a probe, doctor found a problem
2     bad stack file, bad arguments or usage
3     the stack is already running (another supervisor holds the lock)
4     pre-flight refused: a foreign process holds a port, zombie sockets
5     the stack is not running (nothing to stop, restart or follow)
6     unsafe or unusable state: the state folder or a file in it is not
      yours, writable by others, a symbolic link, or damaged
130   interrupted (Ctrl-C)
====  ==========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_SERVICE_FAILED = 1
EXIT_USAGE = 2
EXIT_ALREADY_RUNNING = 3
EXIT_PREFLIGHT_REFUSED = 4
EXIT_NOT_RUNNING = 5
EXIT_STATE = 6
EXIT_INTERRUPTED = 130


class RobostackError(Exception):
    """Base of every deliberate robostack error; ``str(err)`` is the one-line message."""

    exit_code: int = EXIT_SERVICE_FAILED


class UsageError(RobostackError):
    """Bad command-line input: an invalid symbol list, an unknown service name."""

    exit_code = EXIT_USAGE


class StackFileError(RobostackError):
    """The stack file is missing, unreadable or invalid.

    The message names the file, the line (when known) and the field path, e.g.
    ``stack.yaml:12 services.trader.health.interval: expected a duration, got "fast"``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = path if line is None else f"{path}:{line}"
        if field:
            where = f"{where} {field}"
        super().__init__(f"{where}: {message}")


class AlreadyRunningError(RobostackError):
    """A second `up` while a supervisor for the same stack holds the lock."""

    exit_code = EXIT_ALREADY_RUNNING


class NotRunningError(RobostackError):
    """A command that needs a running stack found none."""

    exit_code = EXIT_NOT_RUNNING


class PreflightRefused(RobostackError):
    """Pre-flight found something robostack must not touch (a foreign port holder, zombie sockets)."""

    exit_code = EXIT_PREFLIGHT_REFUSED


class ServiceFailed(RobostackError):
    """A service could not be started or did not become healthy before its deadline."""

    exit_code = EXIT_SERVICE_FAILED

    def __init__(self, service: str, message: str, *, log_tail: list[str] | None = None):
        self.service = service
        self.detail = message
        self.log_tail = log_tail or []
        super().__init__(f"{service}: {message}")


class StateError(RobostackError):
    """The per-stack state folder or a file in it is unsafe or unusable.

    Another user's folder, a folder others may write, a symbolic link where robostack
    keeps a file, a damaged run state: the message names the path and what is wrong.
    """

    exit_code = EXIT_STATE


class StackStopping(RobostackError):
    """The supervisor has begun stopping the stack: nothing is started or restarted any more."""

    exit_code = EXIT_NOT_RUNNING


class Interrupted(RobostackError):
    """A signal (Ctrl-C, SIGTERM, a closed terminal's SIGHUP) stopped a foreground `up`; everything was stopped."""

    exit_code = EXIT_INTERRUPTED


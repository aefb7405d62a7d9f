"""The services' own errors: each one is a one-line message and the exit status the service uses.

The services are separate programs with their own command lines; they never import the launcher.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2


class ServiceError(Exception):
    """A failure a service reports in one line before exiting with `exit_code`."""

    exit_code: int = EXIT_FAILED


class UsageError(ServiceError):
    """A bad command-line value: the message names the option and the value."""

    exit_code = EXIT_USAGE

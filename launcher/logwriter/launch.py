"""Starting a service's log writer from the launcher, and keeping track of it.

:func:`start_log_writer` makes the pipe (1 MiB where the kernel allows, so a
burst during a rotation does not stall the service), starts the writer on its
read end in its own session (a Ctrl-C or a stop of the service's group never
reaches it; it ends when the pipe ends) and returns the write end, which the
caller gives the service as stdout and stderr and then closes.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import launcher
from launcher.logwriter import files
from launcher.logwriter.policy import RotationPolicy
from launcher.logwriter.status import read_writer_status
from launcher.process.exits import wait_for_exits
from launcher.process.identity import ProcessIdentity, identify

RUN_TOKEN_VARIABLE = "ROBOSTACK_RUN"
WRITER_MARK = "robostack-log-writer"  # the last word of every writer's command line
WRITER_VARIABLE = "ROBOSTACK_LOG_WRITER"  # in every writer's environment: the service it writes for
FILE_VARIABLE, MAX_SIZE_VARIABLE, KEEP_VARIABLE = "ROBOSTACK_LOG_FILE", "ROBOSTACK_LOG_MAX_SIZE", "ROBOSTACK_LOG_KEEP"
PIPE_SIZE = 1024 * 1024
DRAIN_DEADLINE = 2.0  # how long a service's wait() gives its writer to write the last lines
_PACKAGE_ROOT = str(Path(launcher.__file__).resolve().parent.parent)
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from launcher.logwriter.writer import main; main()"


def writer_command() -> list[str]:
    """The writer's argv: this interpreter, isolated (-I) and without site (-S), so it starts fast and small.

    The same for every writer: what it writes for comes in its environment, so a
    service's `stale` patterns (matched against command lines) can never match its writer.
    """
    return [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, _PACKAGE_ROOT, WRITER_MARK]


def writer_environment(service: str, log_path: Path, policy: RotationPolicy, env: Mapping[str, str]) -> dict[str, str]:
    """The writer's whole environment: its settings and the run token, none of the service's secrets."""
    writer_env = {WRITER_VARIABLE: service, FILE_VARIABLE: str(log_path.absolute()),
                  MAX_SIZE_VARIABLE: str(policy.max_size), KEEP_VARIABLE: str(policy.keep)}
    if env.get(RUN_TOKEN_VARIABLE):
        writer_env[RUN_TOKEN_VARIABLE] = env[RUN_TOKEN_VARIABLE]
    return writer_env


class LogWriterProcess:
    """One running writer (our child): its pid, where it writes, its status record."""

    def __init__(self, service: str, popen: subprocess.Popen, log_path: Path):
        self.service = service
        self.log_path = log_path
        self.status_path = Path(files.status_path(str(log_path)))
        self._popen = popen
        self.identity: ProcessIdentity | None = identify(popen.pid)
        self._gave_up_waiting = False

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def status(self) -> dict | None:
        """Its status record (see :mod:`launcher.logwriter.status`), or None if it has none."""
        return read_writer_status(self.status_path)

    async def wait(self, timeout: float = DRAIN_DEADLINE) -> bool:
        """Wait up to `timeout` for it to end (the pipe's end reached it) and reap it; True if it has.

        It outlives the service when a descendant still holds the pipe; then this
        gives up once and never waits again (it is reaped whenever it ends).
        """
        if self._popen.poll() is not None:
            return True
        if self._gave_up_waiting or self.identity is None:
            return False
        await wait_for_exits([self.identity], timeout)
        if self._popen.poll() is None:
            self._gave_up_waiting = True
            return False
        return True

    def __repr__(self) -> str:
        return f"<LogWriterProcess {self.service} pid={self.pid} returncode={self.returncode}>"


def start_log_writer(service: str, log_path: Path, policy: RotationPolicy, env: Mapping[str, str],
                     error_fd: int | None = None) -> tuple[LogWriterProcess, int]:
    """Start the writer for `service`; return it and the pipe's write end (the caller closes it).

    Only the run token of `env` is passed on (the service's environment holds
    secrets the writer has no use for). `error_fd` receives the writer's own
    stderr (the log file itself, so a writer that cannot even start says why there).
    Raises OSError if the writer cannot be started.
    """
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # above the user's pipe quota: the default 64 KiB works too
    try:
        popen = subprocess.Popen(writer_command(), stdin=read_fd, stdout=subprocess.DEVNULL,
                                 stderr=error_fd if error_fd is not None else subprocess.DEVNULL,
                                 cwd="/", env=writer_environment(service, log_path, policy, env),
                                 start_new_session=True)
    except OSError:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)
    return LogWriterProcess(service, popen, log_path), write_fd

"""Starting a service: its own session, stdin from /dev/null, stdout and stderr into its log writer.

The service writes into a pipe; its log writer (:mod:`launcher.logwriter`, a
tiny process of its own) reads it, stamps each line with the time it arrived,
appends to the log file and rotates it by size. The supervisor is never in the
data path, so no line is lost when it dies, and the writer (SIGTERM-proof,
ending only when the pipe ends) writes a stopped service's last lines. Each
start begins with a header line, written into the pipe by the child itself
just before it execs the service, so ``logs`` shows restarts and the header
always comes before the service's first byte:

    2025-10-24T01:05:00.017Z --- robostack: starting trader (pid 4242) at 2025-10-23T18:05:00-07:00: python -m services.runner_async

The header is written by a ``/bin/sh`` that then ``exec``s the command: the pid and
create time stay the same through the exec, and no Python runs between fork and exec
(``preexec_fn`` is unsafe in a threaded process).

The child is reaped by :meth:`ServiceProcess.wait`, woken by a pidfd where the kernel
has them. Nobody else reaps it, so the pid cannot be reused while this object has not
seen the exit: its identity is read once, right after the fork, and is always valid.
``wait`` also gives the log writer a moment to write the last lines before it returns.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from stackkit.clock import Clock, SystemClock
from launcher.errors import ServiceFailed, StateError
from launcher.logwriter.launch import LogWriterProcess, start_log_writer
from launcher.logwriter.policy import RotationPolicy
from launcher.process.identity import ProcessIdentity, identify, pidfds_supported, signal_process
from launcher.process.membership import GroupTarget
from launcher.stack.redaction import Redactor
from launcher.state import files

LOG_FILE_MODE = 0o600
# $1 service name, $2 start time, $3 the command as one quoted string, then the command.
_HEADER_SCRIPT = 'printf "%s\\n" "--- robostack: starting $1 (pid $$) at $2: $3"; shift 3; exec "$@"'


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended: an exit code, or the signal that killed it."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_returncode(cls, returncode: int) -> "ExitStatus":
        """From subprocess's convention: negative means killed by that signal."""
        return cls(signal=-returncode) if returncode < 0 else cls(code=returncode)

    @property
    def returncode(self) -> int:
        return -self.signal if self.signal is not None else (self.code or 0)

    @property
    def success(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        """'exited with code 3', 'killed by SIGKILL'."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with code {self.code}"


class ServiceProcess:
    """A running (or finished) service started by :func:`spawn_service`."""

    def __init__(self, name: str, argv: Sequence[str], popen: subprocess.Popen, identity: ProcessIdentity,
                 log_path: Path, started_at: datetime, writer: LogWriterProcess | None = None):
        self.name = name
        self.writer = writer
        self.argv = tuple(argv)
        self.log_path = log_path
        self.started_at = started_at
        self.identity = identity
        self._popen = popen
        self._pidfd = _open_child_pidfd(popen.pid)
        self._exit: ExitStatus | None = None
        self._waiter: asyncio.Future[ExitStatus] | None = None

    @property
    def pid(self) -> int:
        return self.identity.pid

    @property
    def pgid(self) -> int:
        """Its own process group (and session): the group id is its pid."""
        return self.identity.pid

    @property
    def target(self) -> GroupTarget:
        """What :func:`launcher.process.stop.stop_group` needs to stop this service's tree."""
        return GroupTarget(self.pgid, self.identity)

    @property
    def returncode(self) -> int | None:
        """None while it runs; else the exit code, or minus the signal that killed it."""
        if self._exit is not None:
            return self._exit.returncode
        returncode = self._popen.poll()
        if returncode is not None:
            self._record_exit(returncode)
        return returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        """How it ended, or None while it runs."""
        return self._exit if self.returncode is not None else None

    async def wait(self) -> ExitStatus:
        """Wait for the process to exit (without blocking the event loop) and reap it.

        Then give its log writer up to ``DRAIN_DEADLINE`` to write the last lines,
        so whoever reads the log next (an exit's last lines) finds them there.
        """
        if self._exit is None:
            if self._waiter is None or (self._waiter.done() and self._waiter.cancelled()):
                self._waiter = asyncio.ensure_future(self._wait_for_exit())
            await asyncio.shield(self._waiter)
        if self.writer is not None:
            await self.writer.wait()
        assert self._exit is not None
        return self._exit

    def log_status(self) -> dict | None:
        """The log writer's status record (``state`` ``failing`` with ``error`` on a full disk), or None."""
        return self.writer.status() if self.writer is not None else None

    def send_signal(self, signal_number: int) -> bool:
        """Signal the leader alone (not its group); False if it has already exited."""
        if self._exit is not None:
            return False
        return signal_process(self.identity, signal_number)

    async def _wait_for_exit(self) -> ExitStatus:
        pidfd = self._pidfd
        if pidfd is not None:
            loop = asyncio.get_running_loop()
            readable = loop.create_future()
            loop.add_reader(pidfd, lambda: readable.done() or readable.set_result(None))
            try:
                await readable  # a pidfd stays readable once its process has exited, reaped or not
            finally:
                loop.remove_reader(pidfd)
            returncode = self._popen.wait()  # the child is a zombie (or already reaped): returns at once
        else:
            returncode = await asyncio.to_thread(self._popen.wait)
        status = self._record_exit(returncode)
        self._close_pidfd()
        return status

    def _record_exit(self, returncode: int) -> ExitStatus:
        if self._exit is None:
            self._exit = ExitStatus.from_returncode(returncode)
            if self._waiter is None or self._waiter.done():
                # Not while _wait_for_exit watches it: closing a descriptor the event loop is
                # waiting on would leave that wait hanging (a returncode read reaps the child too).
                self._close_pidfd()
        return self._exit

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        self._close_pidfd()

    def __repr__(self) -> str:
        return f"<ServiceProcess {self.name} pid={self.pid} returncode={self.returncode}>"


class Spawner(Protocol):
    """Starts services; the supervisor takes one so tests and tools can change how."""

    async def spawn_service(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                            log_path: Path, log_policy: RotationPolicy | None = None) -> ServiceProcess:
        """Start `argv` as service `name`; see :func:`spawn_service`."""


class SubprocessSpawner:
    """The real spawner: fork and exec via :mod:`subprocess`, header stamped with `clock`."""

    def __init__(self, clock: Clock | None = None):
        self.clock = clock or SystemClock()

    async def spawn_service(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                            log_path: Path, log_policy: RotationPolicy | None = None) -> ServiceProcess:
        """Start `argv` in its own session, stdin /dev/null, stdout+stderr through a log writer into `log_path`.

        `env` is merged over this process's environment; its ``ROBOSTACK_RUN`` also
        marks the writer. `log_policy` says when the log is rotated (default 10 MiB,
        10 files kept). Raises ServiceFailed with a one-line reason if the command
        cannot be started (not found, not executable, bad interpreter, missing
        working directory, unwritable log).
        """
        argv = list(argv)
        merged_env = {**os.environ, **env}
        cwd = Path(cwd)
        check_command(name, argv, cwd=cwd, search_path=merged_env.get("PATH", os.defpath))
        started_at = self.clock.now()
        # The header and any error show the command with its secrets hidden (`--password X`, known values).
        command_line = shlex.join(Redactor.from_environment(merged_env).mask_argv(argv)).replace("\n", "\\n")
        wrapped = ["/bin/sh", "-c", _HEADER_SCRIPT, "robostack-spawn", name,
                   started_at.isoformat(timespec="seconds"), command_line, *argv]
        log_descriptor = _open_log(name, Path(log_path))
        try:
            writer, pipe = start_log_writer(name, Path(log_path), log_policy or RotationPolicy(), env,
                                            error_fd=log_descriptor)
        except OSError as error:
            raise ServiceFailed(name, f"could not start its log writer: {error.strerror or error}") from error
        finally:
            os.close(log_descriptor)
        try:
            popen = subprocess.Popen(wrapped, cwd=cwd, env=merged_env, stdin=subprocess.DEVNULL,
                                     stdout=pipe, stderr=pipe, start_new_session=True)
        except OSError as error:
            os.close(pipe)
            await writer.wait()  # the pipe has ended: the writer exits at once
            raise ServiceFailed(name, f"could not start {command_line}: {error.strerror or error}") from error
        os.close(pipe)
        # Not reaped until wait(), so even a child that already exited still has its identity.
        identity = identify(popen.pid)
        if identity is None:  # /proc unreadable: without an identity it could never be stopped safely
            popen.kill()
            popen.wait()
            raise ServiceFailed(name, f"could not read the create time of pid {popen.pid}; /proc unavailable?")
        return ServiceProcess(name, argv, popen, identity, Path(log_path), started_at, writer)


async def spawn_service(name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                        log_path: Path, log_policy: RotationPolicy | None = None) -> ServiceProcess:
    """Start a service with the real spawner; see :meth:`SubprocessSpawner.spawn_service`."""
    return await SubprocessSpawner().spawn_service(name, argv, cwd=cwd, env=env, log_path=log_path,
                                                   log_policy=log_policy)


def check_command(name: str, argv: Sequence[str], *, cwd: Path, search_path: str) -> Path:
    """The executable `argv` would run, or ServiceFailed saying in one line why it cannot run."""
    if not argv or not argv[0]:
        raise ServiceFailed(name, "empty command")
    if not cwd.is_dir():
        raise ServiceFailed(name, f"working directory not found: {cwd}")
    program = argv[0]
    if "/" in program:
        executable = cwd / program
        if not executable.exists():
            raise ServiceFailed(name, f"command not found: {program}")
    else:
        found = shutil.which(program, path=search_path)
        if found is None:
            raise ServiceFailed(name, f"command not found: {program}")
        executable = Path(found)
    if executable.is_dir() or not os.access(executable, os.X_OK):
        raise ServiceFailed(name, f"not an executable file: {program}")
    _check_interpreter(name, executable)
    return executable


def _check_interpreter(name: str, executable: Path) -> None:
    """A script whose #! interpreter is missing would fail only after the fork; say so now."""
    try:
        with open(executable, "rb") as handle:
            first_line = handle.readline(512)
    except OSError:
        return  # unreadable but executable: let exec decide
    if not first_line.startswith(b"#!"):
        return
    words = first_line[2:].split()
    if not words:
        return
    interpreter = os.fsdecode(words[0])
    if not os.access(interpreter, os.X_OK):
        raise ServiceFailed(name, f"bad interpreter {interpreter} in {executable}")


def _open_log(name: str, log_path: Path) -> int:
    """The log, as `<logs>/<service>/<run>.log`: walked from `<logs>` without following any link."""
    try:
        return files.open_file(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE,
                               root=log_path.parents[1], make_dirs=True)
    except StateError as error:
        raise ServiceFailed(name, str(error)) from error
    except OSError as error:
        raise ServiceFailed(name, f"cannot open log file {log_path}: {error.strerror or error}") from error


def _open_child_pidfd(pid: int) -> int | None:
    """A pidfd for our own unreaped child (it cannot have been reused, so no check is needed)."""
    if not pidfds_supported():
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None

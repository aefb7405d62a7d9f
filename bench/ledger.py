"""Every process a benchmark starts, and the proof that none outlives the suite.

Each process is started in its own session (so its whole group can be killed) with a
per-suite token in its environment. Environments are inherited, so the token also
marks what those processes start (a manager's services, their grandchildren, even one
that escaped into its own session): :meth:`Ledger.survivors` finds them all with
psutil, and :meth:`Ledger.kill_everything` SIGKILLs their groups.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import psutil

from bench.core import REPO

TOKEN_VARIABLE = "ROBOSTACK_BENCH_TOKEN"
T = TypeVar("T")


class Ledger:
    """Starts processes marked with this suite's token; finds and kills whatever is left."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.groups: set[int] = set()
        self.children: list[Ledger] = []
        self.directories: list[Path] = []

    def temporary_directory(self, prefix: str) -> Path:
        """A new directory, removed by :meth:`kill_all_generations` (even after Ctrl-C) once nothing uses it."""
        directory = Path(tempfile.mkdtemp(prefix=prefix))
        self.directories.append(directory)
        return directory

    def child(self) -> "Ledger":
        """A ledger of its own token, for processes that must outlive this one's next clean-up.

        A benchmark that leaves measurements running in the background (waiting out a
        bound) starts them here; :meth:`kill_everything` of the parent spares them,
        :meth:`kill_all_generations` does not.
        """
        child = Ledger()
        self.children.append(child)
        return child

    def kill_all_generations(self) -> list[str]:
        """:meth:`kill_everything` here and in every child ledger; then remove their temporary directories."""
        described = self.kill_everything() + [text for child in self.children for text in child.kill_all_generations()]
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)
        return described

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment plus the token (and `extra`)."""
        return {**os.environ, TOKEN_VARIABLE: self.token, **(extra or {})}

    def spawn(self, argv: Sequence[str], *, stdout=subprocess.DEVNULL, cwd: Path = REPO,
              env: Mapping[str, str] | None = None, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
              **options) -> subprocess.Popen:
        """Start `argv` in its own session, marked with the token."""
        process = subprocess.Popen(list(argv), cwd=cwd, env=self.env(env), stdin=stdin, stdout=stdout,
                                   stderr=stderr, start_new_session=True, **options)
        self.groups.add(process.pid)
        return process

    def run(self, argv: Sequence[str], *, timeout: float, cwd: Path = REPO,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run `argv` to completion (marked, in its own session); output captured as text."""
        return subprocess.run(list(argv), cwd=cwd, env=self.env(env), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, start_new_session=True)

    def survivors(self) -> list[psutil.Process]:
        """Every live (non-zombie) process carrying this suite's token."""
        found = []
        for process in psutil.process_iter(["pid"]):
            try:
                if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if process.environ().get(TOKEN_VARIABLE) == self.token:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def kill_everything(self) -> list[str]:
        """SIGKILL every recorded group and every marked process; describe what was still alive."""
        described = []
        for process in self.survivors():
            described.append(describe(process))
            kill_group_of(process)
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        wait_for(lambda: not self.survivors(), timeout=10, poll=0.05)
        return described


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:160]}"
    except psutil.Error:
        return f"pid {process.pid}"


def kill_group_of(process: psutil.Process) -> None:
    """SIGKILL `process`'s group, or the process alone if it shares our own group."""
    try:
        group = os.getpgid(process.pid)
        if group == os.getpgrp():
            process.kill()
        else:
            os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, psutil.Error):
        pass


def alive(processes: Sequence[psutil.Process]) -> list[psutil.Process]:
    """The ones still running (same pid *and* create time) and not zombies."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.Error:
            continue
    return running


def wait_for(condition: Callable[[], T], *, timeout: float, poll: float = 0.01) -> T | None:
    """The first truthy value of `condition()`, or None once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False

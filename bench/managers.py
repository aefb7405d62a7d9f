"""The process managers compared, behind one small interface.

Each manager is given the same :class:`ServiceSpec` list and renders its own
configuration: robostack a stack file, honcho a Procfile, supervisord a
supervisord.conf with one log file per program. Everything runs in a private
working directory, on loopback ports, marked by the suite's :class:`Ledger`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from bench.core import PYTHON, REPO
from bench.ledger import Ledger, wait_for


class BenchError(Exception):
    """A benchmark could not run (a manager refused to start, a workload never became ready)."""


@dataclass
class ServiceSpec:
    """One service, as every manager is told about it."""

    name: str
    argv: list[str]
    depends_on: list[str] = field(default_factory=list)
    health: dict | None = None  # robostack's `health:` block; the other managers have no probes
    ports: list[int] = field(default_factory=list)
    stop_grace: float = 2.0
    extra: dict = field(default_factory=dict)  # more robostack service keys (restart, dependency_grace, ...)


class Manager:
    """Start services under a manager, stop it, or kill it; where each service's log goes."""

    name = "manager"

    def __init__(self, ledger: Ledger, workdir: Path, services: list[ServiceSpec]):
        self.ledger = ledger
        self.workdir = workdir
        self.services = services
        workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        raise NotImplementedError

    def log_path(self, service: str) -> Path:
        raise NotImplementedError

    def stop(self, bound: float) -> float | None:
        """Stop the manager and its services; seconds taken, or None if not finished within `bound`."""
        raise NotImplementedError

    def manager_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill_manager(self) -> None:
        """SIGKILL the manager process alone, as the OOM killer or `kill -9` would."""
        os.kill(self.manager_pid(), signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def _signal_and_wait(self, signal_number: int, bound: float) -> float | None:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal_number)
        try:
            self.process.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started


class Robostack(Manager):
    """`robostack up --detach` with a generated stack file and a private state directory."""

    name = "robostack"

    def __init__(self, ledger: Ledger, workdir: Path, services: list[ServiceSpec], *, document: dict | None = None):
        """`document`, if given, is written as the stack file as it is (and `services` ignored)."""
        super().__init__(ledger, workdir, services)
        self.stack_file = workdir / "stack.yaml"
        self.state_dir = workdir / "state"
        self.stack_file.write_text(yaml.safe_dump(document or self.stack_document(), sort_keys=False))

    def stack_document(self) -> dict:
        services = {}
        for spec in self.services:
            entry: dict = {"command": spec.argv, "cwd": str(REPO), "stop_grace": f"{spec.stop_grace}s"}
            if spec.ports:
                entry["ports"] = spec.ports
            if spec.depends_on:
                entry["depends_on"] = spec.depends_on
            if spec.health:
                entry["health"] = spec.health
            entry.update(spec.extra)
            services[spec.name] = entry
        return {"name": f"bench-{self.workdir.name}", "services": services}

    def command(self, *arguments: str) -> list[str]:
        return [PYTHON, "-m", "launcher", "-f", str(self.stack_file), *arguments]

    def cli(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run one robostack command against this stack (its own state directory)."""
        return self.ledger.run(self.command(*arguments), timeout=timeout,
                               env={"ROBOSTACK_STATE_DIR": str(self.state_dir), "COLUMNS": "200"})

    def start(self) -> None:
        """Run `up --detach` in the background; :meth:`wait_up` waits for it to return."""
        with open(self.workdir / "up.out", "wb") as output:  # the child keeps its own copy of the descriptor
            self.process = self.ledger.spawn(self.command("up", "--detach"), stdout=output,
                                             env={"ROBOSTACK_STATE_DIR": str(self.state_dir), "COLUMNS": "200"})

    def wait_up(self, timeout: float = 120) -> None:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        if code != 0:
            tail = (self.workdir / "up.out").read_text(errors="replace").splitlines()[-15:]
            raise BenchError(f"robostack up --detach exited {code}:\n" + "\n".join(tail))

    def up(self, timeout: float = 120) -> float:
        """`up --detach` in the foreground of the bench; its wall time in seconds."""
        started = time.monotonic()
        self.start()
        self.wait_up(timeout)
        return time.monotonic() - started

    def status(self) -> dict:
        result = self.cli("status", "--json", timeout=30)
        try:
            return json.loads(result.stdout)
        except ValueError as error:
            raise BenchError(f"robostack status --json said: {result.stdout[-300:]} {result.stderr[-300:]}") from error

    def service_pid(self, service: str) -> int:
        return next(entry["pid"] for entry in self.status()["services"] if entry["name"] == service)

    def manager_pid(self) -> int:
        return int(self.status()["supervisor_pid"])

    def events(self) -> list[dict]:
        result = self.cli("events", "--json", timeout=30)
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    def log_path(self, service: str) -> Path:
        return self.state_dir / "logs" / f"{service}.log"

    def stop(self, bound: float) -> float | None:
        started = time.monotonic()
        try:
            self.last_down = self.cli("down", timeout=bound)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def reported_stop_seconds(self) -> float | None:
        """The longest per-service stop time `down` reported ("7 processes stopped in 1.01s"), if it said."""
        found = re.findall(r"stopped in ([\d.]+)s", getattr(self, "last_down", None) and self.last_down.stdout or "")
        return max(map(float, found)) if found else None

    def kill_manager(self) -> None:
        pid = self.manager_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=10)


class Honcho(Manager):
    """`honcho start` with a Procfile; its multiplexed output goes to one file."""

    name = "honcho"

    def start(self) -> None:
        procfile = self.workdir / "Procfile"
        procfile.write_text("".join(f"{spec.name}: {shlex.join(spec.argv)}\n" for spec in self.services))
        with open(self.workdir / "honcho.log", "wb") as output:
            self.process = self.ledger.spawn([PYTHON, "-m", "honcho", "-f", str(procfile), "-d", str(REPO), "start"],
                                             stdout=output)

    def log_path(self, service: str) -> Path:
        return self.workdir / "honcho.log"

    def stop(self, bound: float) -> float | None:
        """SIGINT, as Ctrl-C in its terminal would send (honcho treats SIGTERM the same way)."""
        return self._signal_and_wait(signal.SIGINT, bound)


class Supervisord(Manager):
    """supervisord in the foreground (-n) with a generated config; stopped with SIGTERM (= shutdown)."""

    name = "supervisord"

    def __init__(self, ledger: Ledger, workdir: Path, services: list[ServiceSpec], *, kill_as_group: bool = False):
        if importlib.util.find_spec("supervisor") is None:
            raise BenchError("supervisor is not installed here: .venv/bin/pip install -e '.[bench]'")
        super().__init__(ledger, workdir, services)
        self.kill_as_group = kill_as_group
        self.config = workdir / "supervisord.conf"
        self.config.write_text(self.render())

    def render(self) -> str:
        socket_path = self.workdir / "supervisor.sock"
        lines = [
            "[unix_http_server]", f"file={socket_path}",
            "[supervisord]", f"logfile={self.workdir / 'supervisord.log'}", f"pidfile={self.workdir / 'supervisord.pid'}",
            "nodaemon=true", f"childlogdir={self.workdir}", "user=" + _user(),
            "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{socket_path}",
        ]
        for priority, spec in enumerate(self.services, start=1):
            lines += [f"[program:{spec.name}]", f"command={shlex.join(spec.argv)}", f"directory={REPO}",
                      f"stdout_logfile={self.log_path(spec.name)}", "stdout_logfile_maxbytes=0", "redirect_stderr=true",
                      "autorestart=false", "startsecs=0", f"stopwaitsecs={max(1, round(spec.stop_grace))}",
                      f"priority={priority}"]
            if self.kill_as_group:
                lines += ["stopasgroup=true", "killasgroup=true"]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        with open(self.workdir / "supervisord.out", "wb") as output:
            self.process = self.ledger.spawn([PYTHON, "-m", "supervisor.supervisord", "-n", "-c", str(self.config)],
                                             stdout=output)

    def log_path(self, service: str) -> Path:
        return self.workdir / f"{service}.log"

    def stop(self, bound: float) -> float | None:
        """SIGTERM: supervisord stops every program (stopwaitsecs, then SIGKILL) and exits."""
        return self._signal_and_wait(signal.SIGTERM, bound)


class Direct(Manager):
    """No manager: the service started by the bench, stdout straight into a file."""

    name = "direct to file"

    def start(self) -> None:
        (spec,) = self.services
        with open(self.log_path(spec.name), "ab") as log:
            self.process = self.ledger.spawn(spec.argv, stdout=log)

    def log_path(self, service: str) -> Path:
        return self.workdir / f"{service}.log"

    def stop(self, bound: float) -> float | None:
        return self._signal_and_wait(signal.SIGTERM, bound)


class PipeToCat(Manager):
    """No manager either: the service's stdout is a pipe, and `cat` copies it into the file.

    The simplest pipe reader there is: it shows what a pipe alone costs (or saves) a
    service that writes one line per write(2), next to writing the file itself.
    """

    name = "pipe into cat"

    def start(self) -> None:
        (spec,) = self.services
        with open(self.log_path(spec.name), "ab") as log:
            self.process = self.ledger.spawn(spec.argv, stdout=subprocess.PIPE)
            self.reader = self.ledger.spawn(["cat"], stdin=self.process.stdout, stdout=log)
        self.process.stdout.close()  # cat holds the read end now

    def log_path(self, service: str) -> Path:
        return self.workdir / f"{service}.log"

    def stop(self, bound: float) -> float | None:
        elapsed = self._signal_and_wait(signal.SIGTERM, bound)
        try:
            self.reader.wait(timeout=bound)  # EOF once the writer is gone
        except subprocess.TimeoutExpired:
            return None
        return elapsed


def _user() -> str:
    """The current user's name, so supervisord (when run as root) says which user it keeps."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name

"""Shared test utilities: free ports, waits with deadlines, process groups that always die.

Nothing here sleeps to synchronise: every wait watches for a condition (a line,
a port, a process state) and fails with a clear message at its deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import psutil

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
T = TypeVar("T")

# Generous deadlines: CI is a loaded 2-core machine. A wait returns as soon as
# its condition holds, so a long deadline costs nothing when things work.
DEFAULT_DEADLINE = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], T], *, timeout: float = DEFAULT_DEADLINE, what: str = "condition",
               poll: float = 0.02) -> T:
    """Return the first truthy value of `condition()`, or fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


FIXED_PORTS_LOCK = Path(os.environ.get("ROBOSTACK_FIXED_PORTS_LOCK", "/tmp/robostack-fixed-ports.lock"))


@contextlib.contextmanager
def fixed_ports_held(timeout: float = 900.0):
    """Hold the machine-wide lock on the default stack's fixed ports (4002, 8765, 7462, and 8790: its dashboard).

    Two checkouts running their suites on one machine would otherwise race for
    those ports, and one stack's pre-flight would stop the other's services as
    stale. The lock is an flock: it dies with its holder.
    """
    import fcntl

    fd = os.open(FIXED_PORTS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{FIXED_PORTS_LOCK} still held after {timeout:.0f}s") from None
                time.sleep(0.5)  # pacing a lock poll, not synchronising on the thing under test
        yield
    finally:
        os.close(fd)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    """True if a TCP connect to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, *, timeout: float = DEFAULT_DEADLINE, host: str = "127.0.0.1") -> None:
    wait_until(lambda: port_accepts(port, host), timeout=timeout, what=f"port {port} to accept connections")


def wait_for_port_free(port: int, *, timeout: float = DEFAULT_DEADLINE) -> None:
    wait_until(lambda: not port_accepts(port), timeout=timeout, what=f"port {port} to be free")


def log_lines(path: Path) -> list[str]:
    """The lines of a service's log as the service wrote them (the log writer's time stamps cut off)."""
    from launcher.logwriter.format import strip_stamps

    return strip_stamps(path.read_bytes()).decode("utf-8", errors="replace").splitlines()


def wait_for_log_line(path: Path, pattern: str, *, timeout: float = DEFAULT_DEADLINE) -> str:
    """Wait until a line of the file at `path` matches `pattern`; return that line.

    A service log's time stamps are cut off first, so patterns match what the service wrote.
    """
    regex = re.compile(pattern)

    def found() -> str | None:
        try:
            lines = log_lines(path)
        except FileNotFoundError:
            return None
        for line in lines:
            if regex.search(line):
                return line
        return None

    return wait_until(found, timeout=timeout, what=f"a line matching {pattern!r} in {path}")


def socket_states(port: int, *, pid: int | None = None) -> list[str]:
    """TCP states of every socket with `port` at either end (optionally owned by `pid`)."""
    states = []
    for conn in psutil.net_connections(kind="tcp"):
        ends = [conn.laddr.port if conn.laddr else None, conn.raddr.port if conn.raddr else None]
        if port in ends and (pid is None or conn.pid == pid):
            states.append(conn.status)
    return states


# Socket states that mean a connection was not fully closed (TIME_WAIT is judged by side, below).
OPEN_STATES = {psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT, psutil.CONN_FIN_WAIT1, psutil.CONN_FIN_WAIT2,
               psutil.CONN_LAST_ACK, psutil.CONN_CLOSING, psutil.CONN_SYN_SENT, psutil.CONN_SYN_RECV}


def leftover_sockets(port: int) -> list[str]:
    """Sockets on `port` a careful client must not leave: open or half-closed on either side,
    or TIME_WAIT on the server's side (which means the server, not the client, closed first)."""
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        local = conn.laddr.port if conn.laddr else None
        remote = conn.raddr.port if conn.raddr else None
        if port in (local, remote) and conn.status in OPEN_STATES:
            found.append(f"{conn.status} {local}->{remote}")
        elif local == port and conn.status == psutil.CONN_TIME_WAIT:
            found.append(f"TIME_WAIT on the server side {local}->{remote}")
    return found


class ProcessTracker:
    """Starts processes in their own session and guarantees their whole group dies at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], *, stdout: int | object = subprocess.PIPE, env: dict | None = None,
              cwd: Path | str | None = None, **kwargs) -> subprocess.Popen:
        merged = dict(os.environ, PYTHONUNBUFFERED="1")
        if env:
            merged.update(env)
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=merged, cwd=cwd or REPO, start_new_session=True, **kwargs)
        self.started.append(proc)
        return proc

    def python(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.start([PYTHON, *args], **kwargs)

    def cleanup(self) -> None:
        for proc in self.started:
            kill_group(proc.pid)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            pump = getattr(proc, "_pump", None)
            if pump is not None:
                pump.join(timeout=10)  # it ends at EOF, now that the process is dead
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group, ignoring one that is already gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_line_matching(proc: subprocess.Popen, pattern: str, *, timeout: float = DEFAULT_DEADLINE) -> str:
    """Read the process's stdout until a line matches `pattern` (the process must use stdout=PIPE).

    Uses a reader thread so a process that goes quiet cannot hang the test past the deadline.
    """
    import queue
    import threading

    regex = re.compile(pattern)
    lines: "queue.Queue[str | None]" = getattr(proc, "_line_queue", None) or queue.Queue()
    if not hasattr(proc, "_line_queue"):
        proc._line_queue = lines  # type: ignore[attr-defined]
        proc._seen_lines = []  # type: ignore[attr-defined]

        def pump() -> None:
            try:
                for raw in iter(proc.stdout.readline, b""):
                    lines.put(raw.decode(errors="replace").rstrip("\n"))
            except (ValueError, OSError):  # the stream was closed at teardown while we read
                pass
            lines.put(None)

        proc._pump = threading.Thread(target=pump, daemon=True)  # type: ignore[attr-defined]
        proc._pump.start()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {pattern!r}; saw: {proc._seen_lines[-20:]}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"process exited ({proc.poll()}) before printing {pattern!r}; saw: {proc._seen_lines[-20:]}")
        proc._seen_lines.append(line)
        if regex.search(line):
            return line


def processes_in_group(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return found


def alive(pids: Iterable[int]) -> list[int]:
    """The pids among `pids` that still exist and are not zombies."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.NoSuchProcess:
            continue
    return result

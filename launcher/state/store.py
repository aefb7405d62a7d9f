"""The run state (who is running, as what) and the per-stack lock.

The run state is what lets `down` work after the supervisor was SIGKILLed or
its terminal closed: every service's pid, process group and create time are
written atomically (temporary file, fsync, rename) on every change, so a
reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from launcher.errors import AlreadyRunningError, StateError
from launcher.state import files
from launcher.state.checked import MAX_PID, check_run_state
from launcher.process.identity import ProcessIdentity, identify, is_alive
from launcher.state.paths import StatePaths

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Any


@dataclass
class ServiceRecord:
    """One service as the supervisor last saw it."""

    name: str
    state: str = "stopped"  # a launcher.state.transitions.ServiceState value
    pid: int | None = None
    pgid: int | None = None
    create_time: float | None = None
    started_at: float | None = None  # wall-clock epoch seconds of the current process start
    healthy_at: float | None = None
    restarts: int = 0
    log: str | None = None
    probe: dict[str, Any] | None = None  # {"ok", "detail", "latency", "at"}
    reason: str | None = None  # why it is failed / unhealthy / waiting / restarting / blocked
    next_try_at: float | None = None  # while restarting: wall-clock epoch seconds of the next try
    last_event: dict[str, Any] | None = None
    exit: str | None = None  # how the last process ended, e.g. "exited with code 3"
    external: bool = False
    ports: list[int] = field(default_factory=list)
    stop_signal: str = "SIGTERM"  # kept here so `down` needs nothing from the (maybe edited) stack file
    stop_grace: float = 10.0
    warnings: list[str] = field(default_factory=list)  # what the running process says is wrong (unknown symbols)
    condition: dict[str, Any] | None = None  # a Gateway's condition (launcher.gateway.condition), its monitor's view
    ibc_address: str | None = None  # "host:port" of its IBC command server: `down` sends STOP before any signal


@dataclass
class RunState:
    """The whole stack's run state, as stored in run.json."""

    stack: str
    stack_file: str
    run_id: str
    symbols: list[str] = field(default_factory=list)
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    detached: bool = False
    started_at: float | None = None
    phase: str = "starting"  # starting | running | stopping | stopped
    stop_order: list[str] = field(default_factory=list)  # dependents before their dependencies
    run_token: str = ""  # random; in every service's environment as ROBOSTACK_RUN
    http_url: str | None = None  # where the supervisor serves the dashboard and HTTP API (the port it bound)
    services: dict[str, ServiceRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A deep copy as plain JSON values (what run.json holds, and what a live supervisor answers
        `status` with). Written out rather than `dataclasses.asdict`, which costs several times as much:
        the supervisor's HTTP API computes it on every change a page is shown."""
        data = {name: _copy(getattr(self, name)) for name in self.__dataclass_fields__ if name != "services"}
        data["services"] = {name: {key: _copy(getattr(record, key)) for key in record.__dataclass_fields__}
                            for name, record in self.services.items()}
        return data

    @classmethod
    def from_json(cls, data: Any) -> "RunState":
        """The run state in decoded JSON, every field checked (launcher.state.checked); ValueError if damaged."""
        checked = check_run_state(data)
        services = {name: ServiceRecord(**record) for name, record in checked.pop("services").items()}
        return cls(services=services, **checked)


def _copy(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists and tuples copied; strings, numbers and None shared)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    return value


def write_json_atomically(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON so that readers see the old or the new file, never a mix."""
    files.write_atomically(path, json.dumps(data, indent=1, sort_keys=True).encode())


def write_run_state(paths: StatePaths, state: RunState) -> None:
    write_json_atomically(paths.run_state, state.to_json())


def read_run_state(paths: StatePaths) -> RunState | None:
    """The last run state written, or None if this stack never ran here."""
    data = files.read_bytes(paths.run_state, root=paths.root)
    if data is None:
        return None
    try:
        return RunState.from_json(json.loads(data))
    except (ValueError, RecursionError) as err:  # not JSON, [] instead of an object, a string pid, NaN...
        raise StateError(f"{paths.run_state} is damaged ({err}); robostack acts on nothing it names: stop "
                         "what still runs by hand, then remove it to start afresh") from err


class StackLock:
    """An exclusive, process-lifetime lock on a stack: one supervisor per stack at a time.

    It is an flock, so the kernel drops it when the holder dies, even by SIGKILL:
    a stale lock file never blocks the next `up`.
    """

    def __init__(self, paths: StatePaths):
        self._path = paths.lock
        self._fd: int | None = None

    def acquire(self, stack_name: str) -> None:
        """Take the lock or raise AlreadyRunningError naming the supervisor that holds it."""
        fd = files.open_file(self._path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (os.read(fd, 128).decode(errors="replace").split() or ["unknown"])[0]
            os.close(fd)
            raise AlreadyRunningError(
                f"stack '{stack_name}' is already running (supervisor pid {holder}); "
                "see `robostack status`, or stop it with `robostack down`"
            ) from None
        os.ftruncate(fd, 0)
        me = identify(os.getpid())
        os.write(fd, f"{os.getpid()} {me.create_time if me else ''}\n".encode())
        self._fd = fd

    def holder(self) -> int | None:
        """The pid of the live supervisor holding the lock (-1 if it has not written it yet), or None if free."""
        held, text = self._peek()
        if not held:
            return None
        pid = _lock_pid(text.split())
        return -1 if pid is None else pid

    def holder_identity(self) -> ProcessIdentity | None:
        """The process holding the lock, if it is held and has written who it is (and is still that process)."""
        held, text = self._peek()
        words = text.split()
        pid = _lock_pid(words)
        if not held or len(words) != 2 or pid is None:
            return None
        try:
            create_time = float(words[1])
        except ValueError:
            return None
        if not math.isfinite(create_time):
            return None
        identity = ProcessIdentity(pid, create_time)
        return identity if is_alive(identity) else None  # a previous holder's words, not yet overwritten

    def _peek(self) -> tuple[bool, str]:
        try:
            fd = files.open_file(self._path, os.O_RDONLY)
        except FileNotFoundError:
            return False, ""
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, os.read(fd, 128).decode(errors="replace").strip()
        finally:
            os.close(fd)
        return False, ""

    def release(self) -> None:
        """Drop the lock; safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_pid(words: list[str]) -> int | None:
    """The pid written first in the lock file, if it is one a kernel can have."""
    if not words or not (words[0].isascii() and words[0].isdigit()) or len(words[0]) > 7:
        return None
    pid = int(words[0])
    return pid if 0 < pid <= MAX_PID else None

"""Fixtures for the hostile-machine tests: a second Unix user, code run as that user, a stranger's process.

The second user is created with `useradd` when the tests run as root and removed after;
without root the tests that need one are skipped with the reason. Code "run as" the
second user runs in a forked child that dropped to its uid, so it needs nothing on disk
that user cannot read (the interpreter lives under /root here).
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import traceback
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from tests.launcher.conftest import SERVICE_PROGRAM, harness, robostack  # noqa: F401 - re-exported fixtures

__all__ = ["harness", "robostack", "SERVICE_PROGRAM"]


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int


@pytest.fixture
def second_user():
    """A throw-away Unix user (root only); every process it still has is killed, then it is removed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second Unix user (useradd)")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel not available to create a second Unix user")
    name = "rs" + uuid.uuid4().hex[:10]
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                   capture_output=True, timeout=60)
    import pwd

    entry = pwd.getpwnam(name)
    user = UnixUser(name, entry.pw_uid, entry.pw_gid)
    try:
        yield user
    finally:
        _kill_processes_of(user.uid)
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def _kill_processes_of(uid: int) -> None:
    """SIGKILL what the throw-away user still runs (only ever processes this test started as that user)."""
    import psutil

    for process in psutil.process_iter(["uids"]):
        uids = process.info.get("uids")
        if uids is not None and uids.real == uid:
            try:
                process.kill()
            except psutil.Error:
                pass


def run_as(user: UnixUser, function: Callable[..., Any], *args: Any, timeout: float = 60.0) -> Any:
    """Call `function(*args)` in a forked child running as `user`; return its result or re-raise its error.

    Everything the function needs must already be imported: after the fork the child
    can no longer read this interpreter's files.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # The child runs only already-imported code and exits: the threads pytest keeps cannot hold it up.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: drop to the user, run, send back the outcome, never return into pytest
        os.close(read_end)
        code = 0
        try:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
            outcome = ("ok", function(*args))
        except BaseException as error:  # noqa: BLE001 - the parent re-raises it
            outcome = ("error", f"{type(error).__name__}: {error}", "".join(traceback.format_exc()))
            code = 1
        with os.fdopen(write_end, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    outcome = pickle.loads(data)
    if outcome[0] == "error":
        raise AssertionError(f"as {user.name}: {outcome[1]}\n{outcome[2]}")
    return outcome[1]


def start_as(processes, user: UnixUser, argv: list[str]) -> subprocess.Popen:
    """Start `argv` as `user` (its own session), tracked for cleanup by `processes`."""
    return processes.start(argv, user=user.uid, group=user.gid, extra_groups=[], cwd="/")


def one_line(result, code: int, *words: str) -> str:
    """A CLI result that is exit `code` with one line on stderr holding every word, and no traceback anywhere."""
    message = result.stderr.strip()
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr and "\n" not in message, result.stdout + result.stderr
    for word in words:
        assert word in message, message
    return message

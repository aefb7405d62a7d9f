"""A full disk under the state folder does not end supervision: restarts go on, status and doctor say why.

The state folder is a 1 MiB tmpfs filled to the last byte (root only: mounting needs it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess

import psutil
import pytest

from launcher.state.paths import StatePaths
from launcher.state.store import StackLock
from tests.helpers import kill_group, wait_until
from tests.launcher.stacks import restarting_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs for the state folder needs root")


@contextlib.contextmanager
def small_tmpfs(path, size: str = "1M"):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder) -> os.PathLike:
    """Write a file until the file system is full; return its path."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        chunk = b"\0" * 65536
        while True:
            try:
                handle.write(chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                if len(chunk) == 1:
                    return filler
                chunk = chunk[: len(chunk) // 2]


@contextlib.contextmanager
def restarted_on_a_full_disk(stack):
    """`up` with the state folder on a small tmpfs, filled to the last byte, then `a` killed: yields
    (a's record before, `status --json` once a new `a` is healthy, the filler file)."""
    with small_tmpfs(stack.state_dir):
        assert stack.run("up", "--detach").returncode == 0
        before = stack.run_state()["services"]["a"]
        filler = fill(stack.state_dir)
        try:
            kill_group(before["pgid"])

            def restarted():
                report = json.loads(stack.run("status", "--json").stdout)
                service = report["services"][0]
                return report if service["state"] == "healthy" and service["pid"] not in (None, before["pid"]) else None

            yield before, wait_until(restarted, timeout=60, what="a to be restarted on a full disk"), filler
        finally:
            filler.unlink(missing_ok=True)
            if StackLock(StatePaths(stack.state_dir)).holder() is not None:
                stack.run("down", timeout=60)  # the test failed half-way: nothing may outlive the tmpfs


def test_a_full_state_disk_does_not_stop_restarts_and_down_still_works(robostack):
    stack = robostack(restarting_stack())
    with restarted_on_a_full_disk(stack) as (before, report, _):
        assert report["supervisor"]["state_write_error"] == "cannot write state: No space left on device"
        assert stack.run_state()["services"]["a"]["pid"] == before["pid"]  # run.json is stale: memory is not
        status = stack.run("status")
        assert status.returncode == 1 and "cannot write state: No space left on device" in status.stdout
        doctor = stack.run("doctor", "--json")
        assert "cannot write state: No space left on device" in " ".join(json.loads(doctor.stdout)["problems"])
        assert doctor.returncode == 1

        down = stack.run("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "warning:" in down.stderr and "No space left on device" in down.stderr
        assert "Traceback" not in down.stderr
        assert stack.status()["services"][0]["state"] == "stopped"
        new_pid = report["services"][0]["pid"]
        wait_until(lambda: not psutil.pid_exists(new_pid) or psutil.Process(new_pid).status() == psutil.STATUS_ZOMBIE,
                   what="the restarted service to be stopped by `down`")


def test_timeline_lines_held_in_memory_are_written_once_there_is_room_again(robostack):
    stack = robostack(restarting_stack())
    with restarted_on_a_full_disk(stack) as (before, _, filler):
        filler.unlink()

        def events() -> list[str]:
            return [entry["event"] for entry in stack.events()]

        wait_until(lambda: "state-written" in events(), timeout=30, what="the retried write")
        written = events()
        # Nothing lost, in order (a line can still fit in the file's last page after the disk is "full").
        assert written.index("exited") < written.index("restarting") < written.index("restarted") \
            < written.index("state-written")
        assert written.index("state-unwritable") < written.index("state-written")
        assert stack.run_state()["services"]["a"]["pid"] != before["pid"]  # run.json caught up
        assert stack.run("down").returncode == 0

"""Fixtures for the log writer's tests: services that always die, and a small tmpfs for a full disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.logwriter.policy import RotationPolicy
from launcher.process.spawn import ServiceProcess, spawn_service
from launcher.process.stop import kill_group_now
from tests.helpers import REPO


@pytest.fixture
async def spawned():
    """Start services with `spawned.start(...)`; their groups are killed and their writers reaped at teardown."""

    class Spawned(list):
        async def start(self, name: str, code: str, log_path: Path, *, policy: RotationPolicy | None = None,
                        env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> ServiceProcess:
            process = await spawn_service(name, [sys.executable, "-c", code, *args], cwd=REPO, env=env or {},
                                          log_path=log_path, log_policy=policy)
            self.append(process)
            return process

    started = Spawned()
    yield started
    for process in started:
        await kill_group_now(process.target)
        await process.wait()
        if process.writer is not None and process.writer.returncode is None:
            os.kill(process.writer.pid, 9)
            await process.writer.wait(5)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only): a disk that really fills up. Unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)

"""The official ``ibapi`` clients, each in its own folder: PyPI's ``ibapi`` 9.81 and ``ibapi-latest`` 10.x
both install a module named ``ibapi``, so they cannot share one environment.

:func:`ibapi_folder` pip-installs a release into ``--target <cache>/<name>`` on first use (under an
flock, so parallel test runs install once) and returns the folder; a client script then runs with
that folder first on ``PYTHONPATH``. The cache is ``$ROBOSTACK_TEST_CACHE`` or
``~/.cache/robostack-tests``; pip needs to reach PyPI the first time (CI does).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

RELEASES = {
    "ibapi-9.81": "ibapi==9.81.1.post1",  # the last release on PyPI's 'ibapi'; speaks up to server version 157
    "ibapi-10.51": "ibapi-latest==10.51.1",  # a current 10.x; offers up to 226 (protobuf from 201)
}


def cache_root() -> Path:
    return Path(os.environ.get("ROBOSTACK_TEST_CACHE") or Path.home() / ".cache" / "robostack-tests")


def ibapi_folder(name: str) -> Path:
    """The folder holding release ``name`` (installed now if it is not there yet)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / name
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "ibapi" / "client.py").exists():
            return folder
        staging = root / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 "--no-input", "--target", str(staging), RELEASES[name]],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"pip could not install {RELEASES[name]} into {staging}: "
                               f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    return folder


def environment_for(name: str) -> dict[str, str]:
    """The environment a client script needs to import this release's ``ibapi``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ibapi_folder(name)), str(Path(__file__).resolve().parent.parent)])
    return env

"""The real default stack on private ports, up through the real CLI, served by its own supervisor.

stack.yaml is copied with every port it owns swapped for a free one (bench/default_stack.py's
DefaultStack, the dashboard's `http.port` included), so the tests never touch the fixed ports.
`robostack up --detach` prints the dashboard's URL; `robostack dashboard` prints it again
(there is no browser: DISPLAY and BROWSER are removed from the environment).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from bench.default_stack import DefaultStack
from tests.helpers import REPO, kill_group, wait_until

UP_LINE = r"is up .*\(supervisor pid \d+\); dashboard (http://127\.0\.0\.1:\d+/);"


class LiveStack:
    def __init__(self, folder: Path, name: str = "web-live"):
        self.copy = DefaultStack()
        document = self.copy.robostack_document()
        document["name"] = name
        self.folder = folder
        self.stack_file = folder / "stack.yaml"
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        self.document = document
        self.port: int = document["http"]["port"]
        self.state_dir = folder / "state"
        self.env = dict(os.environ, ROBOSTACK_STATE_DIR=str(self.state_dir), COLUMNS="200", PYTHONUNBUFFERED="1",
                        XDG_STATE_HOME=str(folder / "xdg-state"))
        for variable in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
            self.env.pop(variable, None)
        self.printed_url: str | None = None
        self.tokens: list[str] = []  # of every `up` so far: whatever carries one is this stack's

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "launcher", "-f", str(self.stack_file), *args]

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, cwd=REPO,
                              timeout=timeout)

    def up(self) -> None:
        """`robostack up --detach`; remembers the dashboard URL it printed."""
        result = self.cli("up", "--detach")
        assert result.returncode == 0, result.stdout + result.stderr
        found = re.search(UP_LINE, result.stdout)
        assert found, result.stdout
        self.printed_url = found[1]
        self.tokens.append(json.loads((self.state_dir / "run.json").read_text())["run_token"])

    def down(self) -> None:
        result = self.cli("down")
        assert result.returncode == 0, result.stdout + result.stderr

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def service(self, name: str) -> dict:
        return next(s for s in self.status()["services"] if s["name"] == name)

    def wait_healthy(self, timeout: float = 90) -> dict:
        def healthy() -> dict | None:
            status = self.status()
            return status if all(s["state"] == "healthy" for s in status["services"]) else None

        return wait_until(healthy, timeout=timeout, what="every service healthy", poll=0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        """`down`, then SIGKILL the group of anything still carrying one of this stack's run tokens (only ours)."""
        from launcher.process.search import find_processes_carrying
        from launcher.state.interpret import RUN_TOKEN_VARIABLE

        self.cli("down")
        for token in self.tokens:
            for identity in find_processes_carrying(RUN_TOKEN_VARIABLE, token):
                try:
                    kill_group(os.getpgid(identity.pid))
                except ProcessLookupError:
                    pass

"""The real default stack on private ports, up through the real CLI, and its dashboard.

Wave 1: the dashboard is served by `robostack dashboard --serve` (a second process reading the
state directory). Once the supervisor serves it itself (the stack file's `http:` section),
`LiveStack.dashboard()` returns the supervisor's URL instead and the tests stay the same.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from bench.default_stack import DefaultStack
from tests.helpers import REPO, kill_group, read_line_matching, wait_until

URL_LINE = r"^http://127\.0\.0\.1:(\d+)/$"


class LiveStack:
    def __init__(self, folder: Path, name: str = "web-live"):
        self.copy = DefaultStack()
        document = self.copy.robostack_document()
        document["name"] = name
        self.folder = folder
        self.stack_file = folder / "stack.yaml"
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        self.document = document
        self.state_dir = folder / "state"
        self.env = dict(os.environ, ROBOSTACK_STATE_DIR=str(self.state_dir), COLUMNS="200", PYTHONUNBUFFERED="1")
        self.env.pop("DISPLAY", None)
        self.env.pop("BROWSER", None)
        self.server: subprocess.Popen | None = None
        self.port: int | None = None

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "launcher", "-f", str(self.stack_file), *args]

    def cli(self, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=env or self.env, cwd=REPO,
                              timeout=timeout)

    def up(self) -> None:
        result = self.cli("up", "--detach")
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

    def serve(self, port: int = 0) -> int:
        """Start `robostack dashboard --serve` and return its port (read from the URL it prints)."""
        self.server = subprocess.Popen(self.argv("dashboard", "--serve", "--port", str(port), "--no-browser"),
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env, cwd=REPO,
                                       start_new_session=True)
        self.port = int(re.match(URL_LINE, read_line_matching(self.server, URL_LINE))[1])
        return self.port

    def stop_serving(self) -> int:
        """SIGTERM the server; return its exit status."""
        server, self.server = self.server, None
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        server.stdout.close()
        return code

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        if self.server is not None:
            kill_group(self.server.pid)
            self.server.wait(timeout=10)
            self.server.stdout.close()
        try:
            status = self.status()
        except (ValueError, subprocess.TimeoutExpired):
            status = {"services": []}
        self.cli("down")
        for record in status["services"]:
            if record.get("pid"):
                kill_group(record["pid"])

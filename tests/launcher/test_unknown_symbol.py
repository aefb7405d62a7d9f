"""A symbol the Gateway does not know, on the real default stack (private ports): `up` says so in a warning line and
exits 0 (the documented rule: the stack runs without it), `status` and `doctor` keep showing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from bench.default_stack import DefaultStack
from tests.helpers import REPO


def test_an_unknown_symbol_is_reported_by_up_status_and_doctor(tmp_path):
    document = DefaultStack().robostack_document()
    document["name"] = "unknown-symbol"
    document.pop("http", None)
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    env = dict(os.environ, ROBOSTACK_STATE_DIR=str(tmp_path / "state"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    env.pop("COLUMNS", None)

    def robostack(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "launcher", "-f", str(stack_file), *args], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=180)

    try:
        up = robostack("up", "-d", "AAPL,ZZZZQ")
        assert up.returncode == 0, up.stdout + up.stderr  # the rule: up, with a warning, exits 0
        warning = "unknown symbol ZZZZQ: the Gateway has no contract for it; skipped"
        assert any(line.split()[1:3] == ["trader", "warning"] and line.endswith(warning)
                   for line in up.stdout.splitlines()), up.stdout
        assert f"with 1 warning(s): trader: {warning}" in up.stdout

        status = robostack("status")
        assert f"trader: warning: {warning}" in status.stdout.splitlines()
        trader, = [s for s in json.loads(robostack("status", "--json").stdout)["services"] if s["name"] == "trader"]
        assert trader["state"] == "healthy" and trader["warnings"] == [warning]

        doctor = robostack("doctor", "trader")
        assert any("warnings" in line and warning in line for line in doctor.stdout.splitlines()), doctor.stdout
        assert any(line.strip().startswith("! log") and "unknown symbol ZZZZQ" in line
                   for line in doctor.stdout.splitlines()), doctor.stdout  # the trader's own log line, too
    finally:
        assert robostack("down").returncode in (0, 5)

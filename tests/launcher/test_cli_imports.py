"""The commands typed many times a day import only what they need (their speed is measured in bench/, not here).

Each command runs for real with ``python -X importtime`` and the modules it imported are read from that
report: `status`, `ps`, `logs -n`, `events -n`, `ls`, `down` of a stopped stack, `--help` and `--version` must
not import the stack model (pydantic), rich, the YAML parser, asyncio or psutil.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.helpers import REPO

HEAVY = {"pydantic", "rich", "yaml", "asyncio", "psutil", "regex", "importlib.metadata", "launcher.stack.model",
         "launcher.supervise.supervisor"}


def imported(stack, *args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    result = subprocess.run([sys.executable, "-X", "importtime", *stack.argv(*args)[1:]], capture_output=True,
                            text=True, env=stack.env, cwd=REPO, timeout=60)
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return names, result


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    from tests.launcher.conftest import Robostack

    folder = tmp_path_factory.mktemp("light")
    stack_file = folder / "stack.yaml"
    stack_file.write_text(yaml.safe_dump({"services": {"a": {"command": "sh -c 'echo hello; exec sleep 600'",
                                                             "stop_grace": "2s"}}}))
    stack = Robostack(stack_file, folder / "state")
    assert stack.run("up", "-d").returncode == 0
    yield stack
    stack.run("down")


@pytest.mark.parametrize("args", [("status",), ("ps",), ("status", "--json"), ("logs", "-n", "5"),
                                  ("events", "-n", "5"), ("ls",), ("--help",), ("--version",), ("status", "--help")])
def test_everyday_commands_import_nothing_heavy(light, args):
    names, result = imported(light, *args)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "launcher.cli" in names  # the report is read right
    assert not HEAVY & names, f"{' '.join(args)} imported {sorted(HEAVY & names)}"


def test_down_of_a_stopped_stack_imports_nothing_heavy(light):
    assert light.run("down").returncode == 0
    names, result = imported(light, "down")
    assert result.returncode == 0 and "is down" in result.stdout
    assert not HEAVY & names, sorted(HEAVY & names)
    names, result = imported(light, "status")
    assert result.returncode == 5 and not HEAVY & names  # a stopped stack's status too

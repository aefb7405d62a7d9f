"""The systemd unit `robostack service install` writes: checked by systemd-analyze, and through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launcher.stack.loader import load_stack
from launcher.systemd.unit import (UnitSettings, environment_file_text, quote_argument, render_unit, start_timeout,
                                   stop_timeout)
from tests.helpers import REPO

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def write_stack(folder: Path, services: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "stack.yaml"
    path.write_text(yaml.safe_dump({"name": "robo", "services": services}))
    return path


def verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)


def chain(folder: Path):
    return load_stack(write_stack(folder, {
        "gateway": {"command": "python -c pass", "startup_timeout": "3m", "stop_grace": "20s"},
        "server": {"command": "python -c pass", "depends_on": ["gateway"], "startup_timeout": "30s"},
        "trader": {"command": "python -c pass", "depends_on": ["server"], "startup_timeout": "1m", "stop_grace": "5s"},
        "side": {"command": "python -c pass", "startup_timeout": "10m"},
    }), environ={})


def test_timeouts_come_from_the_stack(tmp_path):
    stack = chain(tmp_path)
    assert stop_timeout(stack) == (20 + 10 + 5 + 10) + 4 * 5 + 15  # every grace in turn, plus margins
    assert start_timeout(stack) == 600 + 30  # the longest chain: `side` alone (10m) beats 3m + 30s + 1m


@needs_analyze
def test_the_unit_passes_systemd_analyze_and_says_what_robostack_needs(tmp_path):
    folder = tmp_path / "my stacks" / "100% paper $HOME"  # spaces, a specifier and a variable in the path
    stack = chain(folder)
    settings = UnitSettings(description=f"robostack stack {stack.name} ({stack.path})",
                            exec_start=(sys.executable, "-m", "launcher", "-f", str(stack.path), "up", "AAPL,NVDA"),
                            working_directory=str(stack.root), stack_file=str(stack.path),
                            timeout_start=start_timeout(stack), timeout_stop=stop_timeout(stack),
                            environment={"ROBOSTACK_STATE_DIR": str(folder / "state")},
                            environment_file=str(tmp_path / "robo.env"))
    unit = tmp_path / "robostack-robo.service"
    unit.write_text(render_unit(settings))
    result = verify(unit)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = unit.read_text()
    for line in ("Type=notify", "NotifyAccess=main", "KillMode=mixed", "Restart=on-failure", "RestartSec=5s",
                 "WatchdogSec=30s", f"TimeoutStopSec={stop_timeout(stack):g}s", "TimeoutStartSec=630s",
                 f"EnvironmentFile=-{tmp_path}/robo.env", "UMask=0077", "WantedBy=default.target"):
        assert line in text.splitlines(), line
    assert f'"{str(stack.path).replace("%", "%%").replace("$", "$$")}"' in text  # one quoted argument


def test_exec_start_words_are_quoted_for_systemd():
    assert quote_argument("/usr/bin/python3") == "/usr/bin/python3"
    assert quote_argument("/a b/stack.yaml") == '"/a b/stack.yaml"'
    assert quote_argument("100%") == "100%%" and quote_argument("$HOME") == "$$HOME"
    assert quote_argument('say "hi"\\') == '"say \\"hi\\"\\\\"'


def test_the_environment_file_holds_values_exactly():
    text = environment_file_text({"PLAIN": "abc def", "QUOTE": "it's $5 `now` \\ \"x\""})
    assert "PLAIN='abc def'" in text.splitlines()
    assert 'QUOTE="it\'s \\$5 \\`now\\` \\\\ \\"x\\""' in text.splitlines()
    with pytest.raises(ValueError, match="several lines"):
        environment_file_text({"KEY": "one\ntwo"})


class Cli:
    def __init__(self, stack: Path, units: Path):
        self.stack, self.units = stack, units

    def run(self, *args: str, env: dict[str, str] | None = None, umask: str | None = None) -> subprocess.CompletedProcess:
        environ = dict(os.environ, ROBOSTACK_SYSTEMD_DIR=str(self.units), COLUMNS="80", **(env or {}))
        argv = [sys.executable, "-m", "launcher", "-f", str(self.stack), *args]
        if umask is not None:
            argv = ["sh", "-c", f'umask {umask} && exec "$@"', "sh", *argv]
        return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=environ, timeout=120)


@pytest.fixture
def cli(tmp_path):
    stack = write_stack(tmp_path / "stack", {"trader": {"command": "python -c pass",
                                                        "env": {"TWS_PASSWORD": "${TWS_PASSWORD}"}}})
    return Cli(stack, tmp_path / "units")


@needs_analyze
def test_install_status_uninstall_through_the_cli(cli):
    secret = "hunter2-very-secret"
    installed = cli.run("service", "install", "--env", "TWS_PASSWORD", env={"TWS_PASSWORD": secret}, umask="000")
    assert installed.returncode == 0, installed.stderr
    unit, env_file = cli.units / "robostack-robo.service", cli.units / "robostack-robo.env"
    assert installed.stdout.splitlines()[0] == f"wrote {unit} (runs: robostack -f {cli.stack} up)"
    assert f"journalctl --user -u robostack-robo.service -f" in installed.stdout
    assert (env_file.stat().st_mode & 0o777) == 0o600  # even with umask 000
    assert env_file.read_text().splitlines()[-1] == f"TWS_PASSWORD='{secret}'"
    assert secret not in unit.read_text() and secret not in installed.stdout + installed.stderr
    assert verify(unit).returncode == 0

    status = cli.run("service", "status")
    assert status.returncode == 0 and f"stack file: {cli.stack}" in status.stdout
    assert "(mode 0600)" in status.stdout

    removed = cli.run("service", "uninstall")
    assert removed.returncode == 0 and not unit.exists() and not env_file.exists()
    assert cli.run("service", "status").returncode == 5


def test_install_refuses_what_it_must_not_do(cli, tmp_path):
    assert cli.run("service", "install", "--env", "NOT_SET_ANYWHERE_XYZ").returncode == 2
    assert cli.run("service", "install", "--env", "TWS_PASSWORD", env={"TWS_PASSWORD": "a\nb"}).stderr.startswith(
        "robostack: --env: the value of TWS_PASSWORD spans several lines")
    assert cli.run("service", "install", env={"TWS_PASSWORD": "x"}).returncode == 0
    other = Cli(write_stack(tmp_path / "other", {"a": {"command": "python -c pass"}}), cli.units)
    clash = other.run("service", "install")
    assert clash.returncode == 2
    assert clash.stderr.strip() == (f"robostack: {cli.units}/robostack-robo.service already runs {cli.stack}; "
                                    "choose another name with --name")
    assert other.run("service", "install", "--name", "robo-paper").returncode == 0
    assert (cli.units / "robo-paper.service").exists()
    system = other.run("service", "install", "--system", "--name", "robo-system", "--as", "nobody")
    assert system.returncode == 0
    text = (cli.units / "robo-system.service").read_text().splitlines()
    assert "User=nobody" in text and "WantedBy=multi-user.target" in text
    assert "After=network-online.target" in text
    assert "loginctl" not in system.stdout and "journalctl -u robo-system.service -f" in system.stdout

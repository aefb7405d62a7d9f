"""The stack file's `alerts:` and `logs:`: validated with file:line, substituted, shown with secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launcher.errors import StackFileError
from launcher.logwriter.policy import RotationPolicy
from launcher.stack.loader import load_stack
from tests.helpers import REPO

BASE = "services:\n  trader:\n    command: python -c pass\n"


def load(tmp_path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    return load_stack(path, environ=environ or {})


@pytest.mark.parametrize("section, message", [
    ("alerts:\n  events: [unhealthy]\n", "stack.yaml:4 alerts: alerts need a command, a url, or both"),
    ("alerts:\n  url: ftp://example.com/x\n", 'stack.yaml:5 alerts.url: expected an http:// or https:// URL, got "ftp://example.com/x"'),
    ("alerts:\n  command: notify\n  rate_limit: lots\n", 'stack.yaml:6 alerts.rate_limit: expected "N per DURATION" (like "10 per 1h"), got "lots"'),
    ("logs:\n  max_size: huge\n", 'stack.yaml:5 logs.max_size: expected a size (like 512KB, 10MB, 1GB), got "huge"'),
    ("logs:\n  keep: 0\n", "stack.yaml:5 logs.keep:"),
])
def test_bad_settings_are_refused_with_file_line_and_field(tmp_path, section, message):
    with pytest.raises(StackFileError) as raised:
        load(tmp_path, BASE + section)
    assert str(raised.value).startswith(message.replace("stack.yaml", str(tmp_path / "stack.yaml")))


def test_settings_are_substituted_and_the_log_policy_layered(tmp_path):
    stack = load(tmp_path, BASE + "    logs: {keep: 3}\n  other:\n    command: python -c pass\n"
                 "logs: {max_size: 1MB, keep: 7}\n"
                 "alerts:\n  url: https://hooks.example.com/${HOOK_PATH}\n  headers: {Authorization: 'Bearer ${TOKEN}'}\n"
                 "  command: notify-me --stack {symbols}\n  events: [gave-up, disk-full]\n  rate_limit: 5 per 10m\n",
                 environ={"HOOK_PATH": "T000/B000/xyz", "TOKEN": "s3cr3t-token"})
    assert stack.log_policy("trader") == RotationPolicy(max_size=1024 * 1024, keep=3)
    assert stack.log_policy("other") == RotationPolicy(max_size=1024 * 1024, keep=7)
    alerts = stack.alerts
    assert alerts.url == "https://hooks.example.com/T000/B000/xyz"
    assert alerts.headers == {"Authorization": "Bearer s3cr3t-token"}
    assert alerts.command[1:] == ("--stack", "")
    assert (alerts.spec.rate_limit.count, alerts.spec.rate_limit.window) == (5, 600.0)
    assert "Bearer s3cr3t-token" in stack.secret_values
    assert "s3cr3t" not in repr(stack) and "xyz" not in repr(alerts)


def test_config_shows_alerts_without_their_secrets(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text(BASE + "alerts:\n  url: https://hooks.example.com/services/${HOOK_PATH}\n"
                    "  headers: {Authorization: 'Bearer ${TOKEN}'}\n")
    env = dict(os.environ, HOOK_PATH="T000/B000/xyzzy", TOKEN="s3cr3t-token")
    result = subprocess.run([sys.executable, "-m", "launcher", "-f", str(path), "config"], capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "url: https://hooks.example.com/***" in result.stdout
    assert "Authorization: '***'" in result.stdout
    assert "xyzzy" not in result.stdout and "s3cr3t" not in result.stdout
    assert "\nlogs:\n  max_size: 10MB\n  keep: 10\n" in result.stdout  # the defaults, filled in
    assert "    logs:\n      max_size: 10MB\n      keep: 10\n" in result.stdout

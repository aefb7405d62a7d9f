"""`robostack config` output: the resolved stack as YAML, defaults shown, secrets hidden."""

from __future__ import annotations

import sys

import pytest
import yaml

from launcher.stack.redaction import Redactor, looks_secret
from launcher.stack.render import render_stack

IBC_STACK = """
    name: robo
    symbols: [AAPL]
    env_file: .env
    services:
      gateway:
        command: /opt/ibc/gatewaystart.sh --user ${TWSUSERID} --pw ${TWSPASSWORD}
        env:
          TWS_PASSWORD: "${TWSPASSWORD}"
          API_KEY: abcd-1234
          LOGIN_COPY: "${TWSPASSWORD}"
          PORT: 4002
        ports: [4002]
        restart: no
        health:
          ib_api: {port: 4002}
          start_period: 60s
          interval: 250ms
        stop_grace: 1500ms
      trader:
        command: python -m services.runner_async --symbols {symbols} --token ${IB_TOKEN}
        depends_on: [gateway]
        health:
          notify: {watchdog_timeout: 30s}
    """


@pytest.fixture
def rendered(stack_files) -> str:
    stack_files.write("TWSUSERID=robo\nTWSPASSWORD='hunter2-secret'\n", name=".env")
    return render_stack(stack_files.load(IBC_STACK, environ={"IB_TOKEN": "tok-987654"}))


def test_secrets_never_appear(rendered):
    for secret in ("hunter2-secret", "abcd-1234", "tok-987654"):
        assert secret not in rendered


def test_secret_env_values_and_substituted_arguments_are_masked(rendered):
    services = yaml.safe_load(rendered)["services"]
    gateway_env = services["gateway"]["env"]
    assert gateway_env["TWSPASSWORD"] == "***"
    assert gateway_env["TWS_PASSWORD"] == "***"
    assert gateway_env["API_KEY"] == "***"
    assert gateway_env["LOGIN_COPY"] == "***"  # innocent name, secret value
    assert gateway_env["TWSUSERID"] == "robo"
    assert gateway_env["PORT"] == "4002"
    assert services["gateway"]["command"] == ["/opt/ibc/gatewaystart.sh", "--user", "robo", "--pw", "***"]
    assert services["trader"]["command"] == [
        sys.executable, "-m", "services.runner_async", "--symbols", "AAPL", "--token", "***",
    ]


def test_resolved_values_defaults_and_durations_are_shown(rendered, stack_files):
    document = yaml.safe_load(rendered)
    assert document["name"] == "robo"
    assert document["file"] == str((stack_files.root / "stack.yaml").resolve())
    assert document["symbols"] == ["AAPL"]
    assert document["start_order"] == ["gateway", "trader"]
    gateway = document["services"]["gateway"]
    assert gateway["cwd"] == str(stack_files.root.resolve())
    assert gateway["health"] == {
        "ib_api": {"port": 4002, "host": "127.0.0.1", "session": False, "client_id": 999, "monitor": True,
                   "monitor_client_id": 998},
        "start_period": "1m",
        "interval": "250ms",
        "timeout": "2s",
        "retries": 3,
    }
    assert (gateway["stop_grace"], gateway["startup_timeout"], gateway["stop_signal"]) == ("1.5s", "2m", "SIGTERM")
    assert gateway["max_restarts"] == "5 within 10m"
    assert gateway["backoff"] == {"initial": "1s", "max": "30s"}
    assert document["services"]["trader"]["health"]["notify"] == {"watchdog_timeout": "30s"}
    assert document["services"]["trader"]["env"]["ROBOSTACK_SYMBOLS"] == "AAPL"


def test_restart_no_stays_the_word_no(rendered):
    assert "restart: 'no'" in rendered
    assert yaml.safe_load(rendered)["services"]["gateway"]["restart"] == "no"


def test_short_lists_are_on_one_line(rendered):
    assert "    ports: [4002]\n" in rendered
    assert "start_order: [gateway, trader]\n" in rendered


def test_external_service_shows_no_command(stack_files):
    stack = stack_files.load("services:\n  gateway:\n    external: true\n    health: {tcp: {port: 4002}}\n")
    gateway = yaml.safe_load(render_stack(stack))["services"]["gateway"]
    assert "command" not in gateway
    assert gateway["external"] is True


@pytest.mark.parametrize(
    "name",
    ["TWSPASSWORD", "TWS_PASSWORD", "IB_PASS", "DB_PWD", "API_KEY", "apiKey", "AWS_SECRET_ACCESS_KEY",
     "GITHUB_TOKEN", "GOOGLE_CREDENTIALS", "SSH_PASSPHRASE", "ib-passwd", "IB_PW", "ibPw", "PIN", "IB_PIN",
     "AUTH", "HTTP_AUTH", "authHeader", "COOKIE", "SESSION_ID", "userSession", "--password", "--api-key"],
)
def test_secret_looking_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["TWSUSERID", "IB_PORT", "PASSTHROUGH", "KEYBOARD", "ROBOSTACK_SYMBOLS", "HOME",
                                  "SPINNER", "SHIPPING", "PWD", "OLDPWD", "SSH_AUTH_SOCK", "XDG_SESSION_ID", "--port"])
def test_ordinary_names(name):
    assert not looks_secret(name)


def test_mask_hides_long_secrets_inside_text_and_short_ones_only_whole():
    assert Redactor.of({"hunter2"}).mask("--user=hunter2") == "--user=***"
    assert Redactor.of({"1"}).mask("4001") == "4001"
    assert Redactor.of({"1"}).mask("1") == "***"
    assert Redactor.of({"123"}).mask("pin 123, port 41234") == "pin ***, port 41234"
    assert Redactor.of({"abc", "abcdef"}).mask("abcdef") == "***"


def test_exec_probe_shows_its_resolved_command(stack_files):
    stack = stack_files.load(
        "services:\n  a:\n    command: prog\n    health:\n      exec: {command: \"check --key ${API_KEY}\"}\n",
        environ={"API_KEY": "k-123456"},
    )
    health = yaml.safe_load(render_stack(stack))["services"]["a"]["health"]
    assert health["exec"] == {"command": ["check", "--key", "***"]}

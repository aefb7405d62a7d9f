"""The Gateway's stack-file fields: ibc, login_patterns, maintenance, login_budget, host, the monitor's client id."""

from __future__ import annotations

import pytest
import yaml

from launcher.stack.client_ids import command_client_ids
from launcher.stack.render import render_stack

GATEWAY = """
services:
  gateway:
    command: python -m services.gateway_sim --port 4002
    health: {{ib_api: {{port: 4002{check}}}}}
{extra}
"""


def gateway(extra: str = "", check: str = "") -> str:
    return GATEWAY.format(extra=extra, check=check)


def test_an_ibc_gateway_with_maintenance_and_a_budget_loads(stack_files):
    stack = stack_files.load(gateway("""
    ibc: {command_port: 7462}
    login_budget: 2 per 12h
    maintenance:
      - {at: "23:45", duration: 15m, timezone: America/New_York}
      - {at: "01:00", duration: 2h, days: [Sat, sunday]}
    login_patterns:
      awaiting_second_factor: 'phone prompt sent'
      logged_in: ['Login has completed', 'logged in as \\w+']
"""))
    spec = stack.services["gateway"].spec
    assert (spec.ibc.command_port, spec.ibc.host, spec.ibc.second_factor_timeout) == (7462, "127.0.0.1", 180.0)
    assert (spec.login_budget.count, spec.login_budget.window) == (2, 12 * 3600.0)
    assert [(w.at, w.duration, w.timezone, w.days) for w in spec.maintenance] == [
        ("23:45", 900.0, "America/New_York", None), ("01:00", 7200.0, None, ["sat", "sun"])]
    assert spec.login_patterns.awaiting_second_factor == ["phone prompt sent"]
    assert spec.login_patterns.logged_in == ["Login has completed", "logged in as \\w+"]
    assert spec.health.check.monitor and spec.health.check.monitor_client_id == 998


def test_a_login_budget_is_n_per_day_hour_week_or_duration(stack_files):
    budgets = {text: stack_files.load(gateway(f"    login_budget: {text}\n")).services["gateway"].spec.login_budget
               for text in ("3 per day", "2 per hour", "10 per Week", "4 per 12h", "5")}
    assert {text: (b.count, b.window) for text, b in budgets.items()} == {
        "3 per day": (3, 86400.0), "2 per hour": (2, 3600.0), "10 per Week": (10, 604800.0),
        "4 per 12h": (4, 43200.0), "5": (5, 86400.0)}
    assert 'expected "N per DURATION" (like "3 per day"), got "soon"' in str(
        stack_files.error(gateway("    login_budget: soon\n")))


def test_a_bare_ibc_block_means_the_defaults_and_brings_a_login_budget(stack_files):
    spec = stack_files.load(gateway("    ibc:\n")).services["gateway"].spec
    assert spec.ibc.command_port == 7462 and spec.login_budget is None
    assert (spec.effective_login_budget.count, spec.effective_login_budget.window) == (3, 86400.0)
    plain = stack_files.load(gateway()).services["gateway"].spec
    assert plain.ibc is None and plain.effective_login_budget is None


def test_rendered_config_spells_the_budget_and_the_windows(stack_files):
    stack = stack_files.load(gateway('    login_budget: 3 per day\n    maintenance: [{at: "23:45", duration: 15m}]\n'))
    shown = yaml.safe_load(render_stack(stack))["services"]["gateway"]
    assert shown["login_budget"] == "3 per 24h"
    assert shown["maintenance"] == [{"at": "23:45", "duration": "15m", "timezone": None, "days": None}]


def test_every_problem_is_listed_each_on_its_line(stack_files):
    error = stack_files.error(gateway("""
    ibc: {command_port: 70000}
    login_budget: 3 per fortnight
    maintenance:
      - {at: 23:45, duration: 15m, timezone: Mars/Olympus, days: [someday]}
    login_patterns: {awaiting_second_factor: '(', phone: x}
"""))
    lines = str(error).splitlines()
    assert lines[-1] == "(7 problems)"
    assert "stack.yaml:6 services.gateway.ibc.command_port: expected at most 65535" in lines[0]
    text = str(error)
    assert 'services.gateway.login_budget: expected a duration (like 250ms, 2s, 1m), got "fortnight"' in text
    assert 'maintenance[0].at: expected a time of day like "23:45" in quotes (YAML reads an unquoted 23:45 as the ' \
           "number 1425)" in text
    assert "maintenance[0].timezone: unknown time zone 'Mars/Olympus'" in text
    assert "maintenance[0].days[0]: expected a day of the week (mon, tue, wed, thu, fri, sat, sun), got 'someday'" in text
    assert 'login_patterns.awaiting_second_factor: "(" is not a valid regular expression' in text
    assert 'login_patterns: unknown key "phone"' in text


def test_gateway_fields_need_an_ib_api_check(stack_files):
    error = stack_files.error("""
services:
  web:
    command: python -m services.websocket_server --port 8765
    health: {tcp: {port: 8765}}
    ibc: {}
    maintenance: [{at: "23:45", duration: 5m}]
""")
    assert str(error).startswith("stack.yaml:2 services.web: ibc, maintenance need an ib_api health check")


def test_an_external_gateway_on_another_host_probes_there(stack_files):
    stack = stack_files.load("""
services:
  gateway:
    external: true
    host: 10.1.2.3
    health: {ib_api: {port: 4002}}
    ibc: {command_port: 7462}
""")
    spec = stack.services["gateway"].spec
    assert spec.health.check.host == "10.1.2.3" and spec.ibc.host == "10.1.2.3"


@pytest.mark.parametrize("extra, message", [
    ("    host: 10.1.2.3\n", 'host "10.1.2.3" is only for an external service (external: true)'),
])
def test_host_is_for_external_services(stack_files, extra, message):
    assert message in str(stack_files.error(gateway(extra)))


def test_host_said_twice_differently_is_refused(stack_files):
    error = stack_files.error("""
services:
  gateway:
    external: true
    host: 10.1.2.3
    health: {ib_api: {port: 4002, host: 10.9.9.9}}
""")
    assert 'health.ib_api.host "10.9.9.9" differs from host "10.1.2.3": give the host once, as host' in str(error)


def test_the_monitor_needs_its_own_client_id(stack_files):
    error = stack_files.error(gateway(check=", client_id: 7, monitor_client_id: 7"))
    assert "monitor_client_id 7 is also client_id (the probe's and doctor's)" in str(error)
    # A stack that already gave the probe 998 keeps loading: its monitor moves aside.
    check = stack_files.load(gateway(check=", client_id: 998")).services["gateway"].health.check
    assert check.monitor_client_id == 997
    assert not stack_files.load(gateway(check=", monitor: false, monitor_client_id: 999")).services[
        "gateway"].health.check.monitor


def test_a_traders_client_id_must_not_be_the_monitors_nor_the_probes(stack_files):
    error = stack_files.error(gateway() + """
  trader:
    command: python -m services.runner_async --symbols AAPL --port 4002 --client-id=998
  report:
    command: python -m report --client-id 999
    depends_on: [gateway]
  elsewhere:
    command: python -m other --port 4001 --client-id 999
""")
    text = str(error)
    assert "services.gateway.health.ib_api.monitor_client_id: client id 998 (the monitor's) is also the one 'trader'" in text
    assert "services.gateway.health.ib_api.client_id: client id 999 (the probe's and doctor's) is also the one " \
           "'report'" in text
    assert "'elsewhere'" not in text  # another Gateway's port, not this one's
    assert text.splitlines()[-1] == "(2 problems)"


def test_command_client_ids_reads_both_spellings():
    assert command_client_ids(["x", "--client-id", "10", "--clientId=11", "--client_id", "nope", "--client-id"]) == \
        [10, 11]


@pytest.mark.parametrize("name", ["gateway-week-stack.yaml", "ib-gateway-ibc.yaml"])
def test_the_example_gateways_load_with_their_week_fields(name):
    from launcher.stack.loader import load_stack
    from tests.helpers import REPO

    stack = load_stack(REPO / "examples" / name, environ={"HOME": "/home/trader"})
    spec = stack.services["gateway"].spec
    assert spec.ibc.command_port == 7462 and spec.login_budget.count == 3 and spec.maintenance
    assert spec.health.check.monitor_client_id == 998

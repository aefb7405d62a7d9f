"""The remediation ladder on values: gentle first, a new login last and within the budget."""

from __future__ import annotations

import pytest

from launcher.gateway.condition import GatewayCondition
from launcher.gateway.remediation import LadderSettings, RemediationHistory, decide_remedy
from launcher.stack.model import Service

IBC = LadderSettings(ibc=True, budget_count=3, budget_window=86400.0)
PLAIN = LadderSettings(ibc=False, budget_count=None)


def step(state: str, settings: LadderSettings, history: RemediationHistory, now: float, *, do: bool = True):
    condition = GatewayCondition(state, f"{state} detail")
    history.observe(condition, now)
    remedy = decide_remedy(condition, settings, history, now)
    if do and remedy.action not in ("none", "wait", "give-up"):
        history.record(remedy.action, now)
    return remedy


def test_broken_farms_climb_reconnectdata_then_a_soft_restart_then_wait_with_an_alert():
    history = RemediationHistory()
    actions = [step("farms-broken", IBC, history, now).action for now in (0, 5, 10, 60, 130, 200, 400)]
    assert actions == ["wait", "wait", "reconnect-data", "wait", "soft-restart", "wait", "wait"]
    last = step("farms-broken", IBC, history, 500)
    assert last.alert and "on IB's side" in last.reason and "hard" not in last.action
    step("ready", IBC, history, 510)
    step("ready", IBC, history, 515)  # recovered (ready for RECOVERY_SETTLE): the next outage starts its own ladder
    assert history.tried == [] and step("farms-broken", IBC, history, 600).action == "wait"
    assert step("farms-broken", IBC, history, 611).action == "reconnect-data"


def test_a_ready_moment_as_a_new_session_greets_is_no_recovery_and_the_ladder_goes_on():
    history = RemediationHistory()
    for now in (0, 10, 130):  # broken farms: RECONNECTDATA at 10, a soft restart at 130
        step("farms-broken", IBC, history, now)
    assert [action for action, _ in history.tried] == ["reconnect-data", "soft-restart"]
    step("restarting", IBC, history, 131)
    assert step("ready", IBC, history, 132).action == "none"  # the new session's "farm OK" greeting...
    last = step("farms-broken", IBC, history, 132.01)  # ...then its "farm broken" notices
    assert last.action == "wait" and last.alert and "on IB's side" in last.reason
    assert [action for action, _ in history.tried] == ["reconnect-data", "soft-restart"]  # no second round


def test_without_ibc_broken_farms_and_lost_connectivity_only_wait():
    history = RemediationHistory()
    remedy = step("farms-broken", PLAIN, history, 1000)
    assert remedy.action == "wait" and "no IBC command server" in remedy.reason
    assert step("connectivity-lost", PLAIN, RemediationHistory(), 1000).action == "wait"


def test_lost_connectivity_waits_for_ib_then_reconnectaccount():
    history = RemediationHistory()
    assert [step("connectivity-lost", IBC, history, t).action for t in (0, 30, 61)] == ["wait", "wait",
                                                                                         "reconnect-account"]


def test_a_dead_api_gets_a_soft_restart_then_a_hard_one_within_the_budget():
    history = RemediationHistory()
    history.record_login(0)  # `up` started it: one login already
    assert step("unresponsive", IBC, history, 100).action == "soft-restart"
    assert step("restarting", IBC, history, 160).action == "wait"  # the soft restart is under way
    assert step("unresponsive", IBC, history, 200).action == "wait"
    hard = step("unresponsive", IBC, history, 401)
    assert hard.action == "hard-restart" and "(2 of 3 within 24h)" in hard.reason
    assert step("down", IBC, history, 500).action == "hard-restart"
    spent = step("down", IBC, history, 600)
    assert spent.action == "give-up" and spent.alert
    assert "the login budget is spent (3 logins within 24h)" in spent.reason
    assert step("down", IBC, history, 86400 + 1).action == "hard-restart"  # the first login left the window


def test_a_soft_restart_that_never_brings_the_api_back_escalates():
    history = RemediationHistory()
    step("unresponsive", IBC, history, 0)
    assert step("api-initialising", IBC, history, 299).action == "wait"
    assert step("api-initialising", IBC, history, 300).action == "hard-restart"


@pytest.mark.parametrize("state", ["maintenance", "awaiting-second-factor", "logging-in", "starting",
                                   "existing-session", "api-initialising", "restarting"])
def test_maintenance_and_logins_are_never_restarted(state):
    history = RemediationHistory()
    assert all(step(state, IBC, history, t).action == "wait" for t in (0, 1000, 10_000))
    assert history.tried == []


def test_maintenance_waits_even_after_a_soft_restart():
    history = RemediationHistory()
    step("unresponsive", IBC, history, 0)
    assert step("maintenance", IBC, history, 10_000).action == "wait"


def test_a_second_factor_that_never_came_is_not_retried_and_ready_needs_nothing():
    failed = step("login-failed", IBC, RemediationHistory(), 0)
    assert failed.action == "give-up" and failed.alert and "asks the phone again" in failed.reason
    assert step("ready", IBC, RemediationHistory(), 0).action == "none"
    assert step("competing-session", IBC, RemediationHistory(), 0).action == "wait"


def test_without_a_budget_hard_restarts_are_not_counted():
    history = RemediationHistory()
    assert all(step("down", PLAIN, history, t).action == "hard-restart" for t in range(0, 50, 10))


def test_settings_come_from_the_stack_file():
    spec = Service.model_validate({"command": "x", "health": {"ib_api": {"port": 4002}},
                                   "ibc": {"restart_timeout": "2m", "reconnect_account_after": "5m",
                                           "escalate_after": "30s"}})
    settings = LadderSettings.for_service(spec)
    assert (settings.ibc, settings.budget_count, settings.budget_window, settings.soft_restart_timeout) == \
        (True, 3, 86400.0, 120.0)
    assert (settings.connectivity_grace, settings.escalate_after) == (300.0, 30.0)
    plain = LadderSettings.for_service(Service.model_validate({"command": "x", "login_budget": "5 per week",
                                                                "health": {"ib_api": {"port": 4002}}}))
    assert (plain.ibc, plain.budget_count, plain.budget_window) == (False, 5, 7 * 86400.0)

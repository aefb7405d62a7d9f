"""The Gateway's condition from its inputs: one state, one line, since and until."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ibproto.codes import say
from ibproto.notices import NoticeBoard, classify
from launcher.gateway import condition as c
from launcher.gateway.condition import GatewayInputs, judge_condition
from launcher.gateway.login import LoginState
from launcher.gateway.maintenance import active_window
from launcher.stack.gateway_fields import MaintenanceWindow

T0 = datetime(2026, 12, 1, 14, 2, 11, tzinfo=timezone.utc).timestamp()


def inputs(**kwargs) -> GatewayInputs:
    return GatewayInputs(now=T0 + 30, zone=timezone.utc, **kwargs)


def board(*records) -> NoticeBoard:
    result = NoticeBoard()
    for code, text in records:
        result = result.absorb(classify(code, text), T0)
    return result


def test_awaiting_the_second_factor_says_when_ibc_gives_up():
    state = judge_condition(inputs(api_answering=False, process_running=True,
                                   login=LoginState(phase="awaiting-second-factor", since=T0)))
    assert state.state == "awaiting-second-factor" and state.expected_absence and not state.answering
    assert state.detail == ("awaiting the second factor since 14:02:11: approve the login on the phone; IBC gives up "
                            "at 14:05:11")
    assert (state.since, state.until) == (T0, T0 + 180)


@pytest.mark.parametrize("phase, words", [
    ("starting", "starting since 14:02:11"), ("logging-in", "logging in since 14:02:11"),
    ("existing-session", "existing session detected at 14:02:11"),
    ("api-initialising", "logged in at 14:02:11; the API initialises"),
    ("restarting", "soft restart since 14:02:11: the API comes back with the login kept"),
])
def test_login_phases_explain_a_silent_api(phase, words):
    state = judge_condition(inputs(api_answering=False, process_running=True, login=LoginState(phase=phase, since=T0)))
    assert state.state == phase and state.detail.startswith(words) and state.expected_absence


def test_an_answering_api_wins_over_a_stale_login_phase():
    state = judge_condition(inputs(api_answering=True, login=LoginState(phase="awaiting-second-factor", since=T0)))
    assert state.state == "ready" and state.answering and not state.expected_absence


def test_farms_connectivity_competing_and_read_only_in_order_of_weight():
    everything = board(say(2103, "usfarm"), say(1100), say(10197))
    state = judge_condition(inputs(api_answering=True, board=everything, login=LoginState(read_only=True)))
    assert state.state == "connectivity-lost" and state.detail.startswith("IB unreachable since 14:02:11 (1100)")
    assert state.also == ("farms-broken", "competing-session", "read-only") and state.farms_broken == ("usfarm",)
    farms = judge_condition(inputs(api_answering=True, board=board(say(2103, "usfarm"), say(2157, "secdefnj"))))
    assert (farms.state, farms.detail) == ("farms-broken", "farms broken: usfarm since 14:02:11, secdefnj since "
                                                           "14:02:11")
    assert judge_condition(inputs(api_answering=True, board=board(say(321, "bN", "Read-Only mode")))).state == \
        "read-only"


def test_maintenance_explains_an_absence_and_says_until_when():
    window = active_window([MaintenanceWindow(at="14:00", duration="10m", timezone="UTC")],
                           datetime.fromtimestamp(T0, timezone.utc), timezone.utc)
    state = judge_condition(inputs(api_answering=False, process_running=True, maintenance=window,
                                   login=LoginState(phase="restarting", since=T0)))
    assert state.state == "maintenance" and state.expected_absence
    assert state.detail.startswith("maintenance until 14:10 UTC (restarting): the Gateway's absence is expected")
    assert state.until == window.end.timestamp()
    answering = judge_condition(inputs(api_answering=True, maintenance=window))
    assert answering.state == "ready" and answering.also == ("maintenance",)
    second_factor = judge_condition(inputs(api_answering=False, maintenance=window,
                                           login=LoginState(phase="awaiting-second-factor", since=T0)))
    assert second_factor.state == "awaiting-second-factor" and "(in the maintenance window until 14:10 UTC)" in \
        second_factor.detail


def test_failed_login_down_unresponsive_unknown():
    failed = judge_condition(inputs(api_answering=False, process_running=False, login=LoginState(
        phase="login-failed", since=T0, last_line="2026 IBC: IBC closing because login has not completed")))
    assert failed.state == "login-failed"
    assert failed.detail == "login failed at 14:02:11: IBC closing because login has not completed"
    assert judge_condition(inputs(api_answering=False, process_running=False)).state == "down"
    unresponsive = judge_condition(inputs(api_answering=False, api_detail="no answer to reqCurrentTime within 2s"))
    assert (unresponsive.state, unresponsive.detail) == (c.UNRESPONSIVE, "the API does not answer: no answer to "
                                                                         "reqCurrentTime within 2s")
    assert judge_condition(inputs()).to_dict() == {"state": "unknown", "detail": "not probed yet", "since": None,
                                                   "until": None, "also": [], "farms_broken": []}

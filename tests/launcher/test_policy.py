"""The restart policy, on plain values: no processes, no clocks."""

from __future__ import annotations

from launcher.stack.model import Service
from launcher.supervise.policy import (RestartHistory, backoff_delay, decide_after_exit, decide_after_unhealthy,
                                       dependent_needs_restart)


def service(**overrides) -> Service:
    return Service.model_validate({"command": "true", **overrides})


def test_backoff_doubles_from_initial_and_is_capped():
    delays = [backoff_delay(attempt, 1.0, 30.0) for attempt in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_never_exceeds_a_maximum_below_initial():
    assert backoff_delay(0, 5.0, 2.0) == 2.0


def test_crash_is_restarted_with_growing_delays_then_given_up():
    spec = service(backoff={"initial": "1s", "max": "30s"}, max_restarts="3 within 1m")
    history = RestartHistory()
    decisions = []
    now = 0.0
    for _ in range(4):
        decision = decide_after_exit(spec, exit_ok=False, exit_text="exited with code 3", history=history, now=now)
        decisions.append(decision)
        if decision.action == "restart":
            history.record(now, spec.max_restarts.window)
        now += 1.0
    assert [d.action for d in decisions] == ["restart", "restart", "restart", "give-up"]
    assert [d.delay for d in decisions[:3]] == [1.0, 2.0, 4.0]
    assert "restarted 3 times within 1m" in decisions[3].reason
    assert "exited with code 3" in decisions[3].reason


def test_restarts_outside_the_window_are_forgotten():
    spec = service(max_restarts="2 within 10s")
    history = RestartHistory([0.0, 1.0])
    assert decide_after_exit(spec, exit_ok=False, exit_text="x", history=history, now=5.0).action == "give-up"
    later = decide_after_exit(spec, exit_ok=False, exit_text="x", history=history, now=20.0)
    assert later.action == "restart"
    assert later.delay == 1.0  # backoff starts again once the crash loop is over


def test_on_failure_leaves_a_clean_exit_alone_but_always_restarts_it():
    clean = dict(exit_ok=True, exit_text="exited with code 0", history=RestartHistory(), now=0.0)
    assert decide_after_exit(service(restart="on-failure"), **clean).action == "leave"
    assert decide_after_exit(service(restart="always"), **clean).action == "restart"


def test_restart_no_never_restarts_even_when_unhealthy():
    spec = service(restart=False)  # YAML's bare `no`
    assert spec.restart == "no"
    decision = decide_after_unhealthy(spec, probe_detail="TCP accepted, no answer", history=RestartHistory(), now=0.0)
    assert decision.action == "leave"
    assert "TCP accepted, no answer" in decision.reason


def test_unhealthy_service_is_restarted_with_the_probe_detail_as_reason():
    decision = decide_after_unhealthy(service(), probe_detail="no handshake answer within 2s",
                                      history=RestartHistory(), now=0.0)
    assert decision.action == "restart"
    assert decision.reason == "unhealthy: no handshake answer within 2s"


def test_dependent_is_given_the_grace_period_to_reconnect():
    assert not dependent_needs_restart(dependent_healthy=False, dependency_healthy_for=5.0, grace=30.0)
    assert dependent_needs_restart(dependent_healthy=False, dependency_healthy_for=30.0, grace=30.0)
    assert not dependent_needs_restart(dependent_healthy=True, dependency_healthy_for=100.0, grace=30.0)
    assert not dependent_needs_restart(dependent_healthy=False, dependency_healthy_for=None, grace=30.0)

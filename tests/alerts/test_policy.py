"""The alert policy on values, with a fake clock: selection, folding a flapping service, the rate limit."""

from __future__ import annotations

from launcher.alerts.policy import AlertEvent, AlertPolicy, PolicySettings, from_supervisor_event

T0 = 1_761_242_700.0


def event(service: str, kind: str, detail: str = "", phase: str = "") -> AlertEvent:
    return AlertEvent(service, kind, detail, T0, phase)


def policy(**settings) -> AlertPolicy:
    return AlertPolicy(PolicySettings(**settings))


def test_a_flapping_service_sends_one_message_then_one_summary_per_window():
    rules = policy(dedup=600.0)
    first = rules.offer(event("trader", "unhealthy", "no tick for 30s"), now=0.0)
    assert [(a.service, a.kind, a.title) for a in first] == [("trader", "unhealthy", "unhealthy")]
    sent = []
    for second in range(1, 100):  # flapping: restarting, healthy, unhealthy... for 99 seconds
        kind = ("restarting", "healthy", "unhealthy")[second % 3]
        sent += rules.offer(event("trader", kind, f"event {second}"), now=float(second))
    assert sent == []
    assert rules.next_due() == 600.0
    assert rules.due(599.0) == []
    summary, = rules.due(600.0)
    assert summary.folded == 99 and summary.counts == {"restarting": 33, "recovered": 33, "unhealthy": 33}
    assert summary.title == "99 more events in the last 10m"
    assert summary.detail == "recovered x33, restarting x33, unhealthy x33; now: restarting: event 99"
    assert rules.due(1200.0) == []  # quiet since: the window closes
    assert [a.kind for a in rules.offer(event("trader", "unhealthy"), now=1300.0)] == ["unhealthy"]  # at once again


def test_recovered_only_after_trouble_and_only_the_chosen_kinds():
    rules = policy(dedup=0.0)
    assert rules.offer(event("gateway", "healthy"), now=0.0) == []  # a first start is not a recovery
    assert [a.kind for a in rules.offer(event("gateway", "unhealthy"), now=1.0)] == ["unhealthy"]
    recovered, = rules.offer(event("gateway", "healthy", "ib_api ok"), now=2.0)
    assert (recovered.kind, recovered.title, recovered.detail) == ("recovered", "recovered", "ib_api ok")
    assert rules.offer(event("gateway", "healthy"), now=3.0) == []  # once

    chosen = policy(events=frozenset({"gave-up"}), dedup=0.0)
    assert chosen.offer(event("trader", "unhealthy"), now=0.0) == []
    assert chosen.offer(event("trader", "healthy"), now=1.0) == []  # recovered is not chosen either
    assert [a.kind for a in chosen.offer(event("trader", "gave-up", "5 restarts in 10m"), now=2.0)] == ["gave-up"]


def test_urgent_alerts_are_never_held_back_by_a_health_window():
    rules = policy(dedup=600.0)
    assert len(rules.offer(event("trader", "unhealthy"), now=0.0)) == 1
    gave_up, = rules.offer(event("trader", "gave-up", "crash loop"), now=5.0)
    assert gave_up.title == "gave up"
    assert rules.offer(event("trader", "gave-up", "again"), now=6.0) == []  # the same alert again: folded
    second_factor, = rules.offer(event("gateway", "second-factor", "approve the login on your phone"), now=7.0)
    assert second_factor.title == "login waits for a second factor"
    start, = rules.offer(event("gateway", "maintenance", "daily restart", "start"), now=8.0)
    end, = rules.offer(event("gateway", "maintenance", "back", "end"), now=9.0)
    assert (start.title, end.title) == ("maintenance begins", "maintenance ends")
    full, = rules.offer(event("trader", "disk-full", "No space left on device", "full"), now=10.0)
    writable, = rules.offer(event("trader", "disk-full", "", "writable"), now=11.0)
    assert (full.title, writable.title) == ("cannot write its log", "can write its log again")


def test_the_rate_limit_holds_alerts_back_and_sends_one_digest_when_there_is_room():
    rules = policy(dedup=0.0, rate_count=3, rate_window=3600.0)
    sent = []
    for index, service in enumerate(("a", "b", "c", "d", "e")):
        sent += rules.offer(event(service, "unhealthy", f"{service} down"), now=float(index))
    assert [a.service for a in sent] == ["a", "b", "c"]
    assert rules.next_due() == 3600.0
    assert rules.due(3599.0) == []
    digest, = rules.due(3600.0)
    assert digest.kind == "rate-limited" and digest.folded == 2
    assert digest.title == "2 alerts held back by the rate limit"
    assert digest.detail == "unhealthy x2; the latest: e unhealthy: e down"
    assert rules.due(3601.0) == []


def test_supervisor_events_map_to_alert_kinds():
    assert from_supervisor_event("trader", "gave-up", "5 restarts", T0) == AlertEvent("trader", "gave-up", "5 restarts", T0)
    assert from_supervisor_event("gw", "external-down", "refused", T0).kind == "unhealthy"
    assert from_supervisor_event("gw", "maintenance-end", "", T0).phase == "end"
    assert from_supervisor_event("gw", "healthy", "", T0).kind == "healthy"
    assert from_supervisor_event("gw", "started", "pid 4", T0) is None
    assert from_supervisor_event("", "supervisor-started", "", T0) is None


def test_an_alert_as_json():
    alert, = policy().offer(event("trader", "unhealthy", "no ticks"), now=0.0)
    assert alert.to_json("robo") == {"stack": "robo", "service": "trader", "event": "unhealthy", "title": "unhealthy",
                                     "detail": "no ticks", "time": "2025-10-23T18:05:00.000Z"}

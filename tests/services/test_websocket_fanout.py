"""The fan-out rules on values: filtering, bounded queues, drop-oldest, the stuck rule."""

from __future__ import annotations

import pytest

from services.websocket_server.fanout import FanOut


def drain(hub: FanOut, subscriber, now: float) -> list[bytes]:
    taken = []
    while (payload := hub.next_event(subscriber, now)) is not None:
        taken.append(payload)
    return taken


def test_every_subscriber_receives_every_event_in_order():
    hub = FanOut()
    first, second = hub.add_subscriber(0.0), hub.add_subscriber(0.0)
    for number in range(5):
        outcome = hub.publish("tick", b"%d" % number, now=1.0)
        assert outcome.receivers == [first, second]
        assert outcome.stuck == []
    assert drain(hub, first, 1.0) == [b"0", b"1", b"2", b"3", b"4"]
    assert drain(hub, second, 1.0) == [b"0", b"1", b"2", b"3", b"4"]
    assert hub.stats()["events_relayed"] == 5
    assert first.delivered == 5


def test_a_filter_lets_only_its_types_through():
    hub = FanOut()
    ticks_only, everything = hub.add_subscriber(0.0), hub.add_subscriber(0.0)
    hub.set_filter(ticks_only, frozenset({"tick"}))
    hub.publish("status", b"s", now=0.0)
    hub.publish("tick", b"t", now=0.0)
    assert drain(hub, ticks_only, 0.0) == [b"t"]
    assert drain(hub, everything, 0.0) == [b"s", b"t"]
    hub.set_filter(ticks_only, None)
    hub.publish("status", b"s2", now=0.0)
    assert drain(hub, ticks_only, 0.0) == [b"s2"]


def test_a_full_queue_drops_its_oldest_events_and_counts_them():
    hub = FanOut(queue_limit=3)
    slow, fast = hub.add_subscriber(0.0), hub.add_subscriber(0.0)
    for number in range(5):
        hub.publish("tick", b"%d" % number, now=0.1)
        drain(hub, fast, 0.1)
    assert drain(hub, slow, 0.2) == [b"2", b"3", b"4"]
    assert slow.dropped == 2
    assert fast.dropped == 0
    assert hub.stats()["events_dropped"] == 2


def test_a_subscriber_without_progress_for_stuck_after_is_removed_and_reported():
    hub = FanOut(queue_limit=2, stuck_after=10.0)
    stuck, healthy = hub.add_subscriber(0.0), hub.add_subscriber(0.0)
    hub.publish("tick", b"a", now=100.0)  # the wait starts when the first event queues
    drain(hub, healthy, 100.0)
    outcome = hub.publish("tick", b"b", now=109.9)
    assert outcome.stuck == []
    drain(hub, healthy, 109.9)
    outcome = hub.publish("tick", b"c", now=110.0)
    assert outcome.stuck == [stuck]
    assert outcome.receivers == [healthy]
    assert stuck.removed and stuck.id not in hub.subscribers
    assert hub.stats()["subscribers_evicted"] == 1
    assert hub.stats()["subscribers"] == 1
    # A removed subscriber never receives again.
    assert hub.publish("tick", b"d", now=111.0).receivers == [healthy]


def test_idle_time_with_nothing_to_send_does_not_count_as_stuck():
    hub = FanOut(stuck_after=5.0)
    quiet = hub.add_subscriber(0.0)
    outcome = hub.publish("tick", b"first event after a long silence", now=1000.0)
    assert outcome.stuck == [] and outcome.receivers == [quiet]


def test_taking_an_event_is_progress_even_when_the_queue_stays_full():
    hub = FanOut(queue_limit=2, stuck_after=1.0)
    busy = hub.add_subscriber(0.0)
    now = 0.0
    for _ in range(20):
        now += 0.5
        outcome = hub.publish("tick", b"x", now=now)
        outcome = hub.publish("tick", b"y", now=now)
        assert outcome.stuck == []
        hub.next_event(busy, now)  # the writer takes one event per half second: slow, not stuck
    assert busy.dropped > 0
    assert hub.stats()["subscribers_evicted"] == 0


def test_a_filtered_out_subscriber_is_not_judged_on_events_it_does_not_want():
    hub = FanOut(queue_limit=1, stuck_after=1.0)
    status_only = hub.add_subscriber(0.0)
    hub.set_filter(status_only, frozenset({"status"}))
    hub.publish("status", b"s", now=0.0)
    assert hub.publish("tick", b"t", now=50.0).stuck == []
    assert hub.publish("status", b"s", now=50.0).stuck == [status_only]


def test_removing_is_idempotent_and_publisher_counts_never_go_negative():
    hub = FanOut()
    subscriber = hub.add_subscriber(0.0)
    hub.remove_subscriber(subscriber)
    hub.remove_subscriber(subscriber)
    hub.publisher_joined()
    hub.publisher_left()
    hub.publisher_left()
    assert hub.stats()["subscribers"] == 0
    assert hub.stats()["publishers"] == 0


@pytest.mark.parametrize("settings", [{"queue_limit": 0}, {"stuck_after": 0}])
def test_nonsense_limits_are_refused(settings):
    with pytest.raises(ValueError):
        FanOut(**settings)

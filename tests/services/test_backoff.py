"""The trader's reconnect policy on values: growth, cap, jitter bounds, reset."""

from __future__ import annotations

import random

import pytest

from services.runner_async.backoff import Backoff, RetrySchedule


class FixedDraw(random.Random):
    """A 'random' source that always draws the same value, so delays are exact."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_delays_double_up_to_the_cap_without_jitter():
    policy = Backoff(initial=0.5, factor=2.0, maximum=4.0, jitter=0.0)
    assert [policy.delay(attempt, 0.7) for attempt in range(7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_jitter_only_shortens_and_stays_within_its_fraction():
    policy = Backoff(initial=1.0, maximum=8.0, jitter=0.25)
    assert policy.delay(3, 0.0) == 8.0
    assert policy.delay(3, 0.5) == 7.0
    assert policy.delay(3, 0.999999) == pytest.approx(6.0, abs=1e-5)
    rng = random.Random(7)
    for attempt in range(40):
        delay = policy.delay(attempt, rng.random())
        assert 0.75 <= delay <= 8.0


def test_a_very_long_outage_stays_at_the_cap():
    assert Backoff(initial=0.5, maximum=30.0, jitter=0.0).delay(10_000, 0.0) == 30.0


def test_the_schedule_counts_attempts_and_resets_after_success():
    schedule = RetrySchedule(Backoff(initial=1.0, maximum=10.0, jitter=0.5), FixedDraw(0.5))
    assert [schedule.next_delay() for _ in range(3)] == [0.75, 1.5, 3.0]
    assert schedule.attempts == 3
    schedule.reset()
    assert schedule.attempts == 0
    assert schedule.next_delay() == 0.75


@pytest.mark.parametrize("settings", [
    {"initial": 0}, {"initial": 5, "maximum": 1}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1},
])
def test_nonsense_policies_are_refused(settings):
    with pytest.raises(ValueError):
        Backoff(**settings)


def test_only_a_connection_that_lasted_counts_as_success():
    schedule = RetrySchedule(Backoff(initial=1.0, maximum=10.0, jitter=0.0), stable_after=10.0)
    schedule.next_delay()
    schedule.next_delay()
    schedule.connection_ended(lasted=0.3)  # accepted, then dropped at once: keep backing off
    assert schedule.next_delay() == 4.0
    schedule.connection_ended(lasted=10.0)  # a stable session: the next outage starts afresh
    assert schedule.attempts == 0
    assert schedule.next_delay() == 1.0

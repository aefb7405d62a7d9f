"""The trader's data-flow readiness on values: stalls, their reasons, recovery."""

from __future__ import annotations

from ibproto.codes import say
from ibproto.notices import classify
from services.runner_async.dataflow import FLOWING, STALLED, DataFlow


def notice(code: int, *values: object):
    return classify(*say(code, *values))


def test_no_ticks_for_the_timeout_while_subscribed_is_a_stall_once_and_a_tick_ends_it():
    flow = DataFlow(timeout=30)
    assert flow.check(1000) is None  # not subscribed: nothing is expected
    flow.subscribed(1000)
    assert flow.check(1029) is None and flow.check(1030) == STALLED and flow.check(1031) is None
    assert flow.stalled and flow.reason(1042) == "no ticks for 42s while subscribed"
    assert flow.tick(1043) == FLOWING and not flow.stalled and flow.tick(1044) is None
    assert flow.check(1073) is None and flow.check(1074) == STALLED  # measured from the last tick


def test_the_gateways_reason_is_given_when_a_notice_gave_one():
    flow = DataFlow(timeout=5)
    flow.subscribed(0)
    assert flow.notice(notice(2103, "usfarm"), 1_700_000_000) and not flow.notice(notice(2104, "ushmds"), 1)
    assert flow.notice(notice(1100), 1_700_000_000) and flow.notice(notice(10197), 1_700_000_000)
    flow.check(10)
    reason = flow.reason(10)
    assert reason.startswith("no ticks for 10s while subscribed (the Gateway says: market data farm usfarm broken "
                             "since ")
    assert "; IB unreachable since " in reason and "; a competing live session holds the data since " in reason
    flow.tick(11)
    assert flow.board.competing_since is None  # data flows: no competing session holds it any more


def test_without_a_timeout_or_after_the_session_ends_nothing_stalls():
    flow = DataFlow(timeout=None)
    flow.subscribed(0)
    assert flow.check(10_000) is None
    timed = DataFlow(timeout=1)
    timed.subscribed(0)
    timed.check(5)
    timed.unsubscribed()
    assert not timed.stalled and timed.check(100) is None
    assert timed.notice(notice(1101), 1.0)  # a 1101 always matters: subscriptions must be made again

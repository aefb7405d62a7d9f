"""What doctor observes of a Gateway's own life: its login phase, its notices, its maintenance window.

Doctor's own session (the ib_api check's client id) hears the farm and connectivity
notices a Gateway sends every new session; the service's log says where a login is;
the stack file says whether a maintenance window is on. Together they make the
Gateway's condition (:mod:`launcher.gateway.condition`), which
:mod:`launcher.hygiene.gateway_verdicts` turns into verdicts. With a live supervisor,
its monitor's record says since when (doctor's session only knows "since now").
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from datetime import tzinfo
from typing import Any, Iterable, NamedTuple

from ibproto.notices import NoticeBoard, classify
from launcher.gateway.condition import GatewayCondition, judge_service
from launcher.gateway.login import LoginTracker
from launcher.gateway.logtail import LogTail
from launcher.gateway.remediation import RECOVERY_SETTLE
from launcher.probes.ib_api import OK, SESSION_FAILED, IbApiDiagnosis
from launcher.stack.resolved import ResolvedService
from launcher.state.events import Event


def gateway_condition(service: ResolvedService, diagnosis: IbApiDiagnosis | None, *, process_running: bool | None,
                      log_path: Path | None, now: float | None = None) -> GatewayCondition:
    """The Gateway's condition as doctor can see it now (nothing is changed by looking)."""
    now = time.time() if now is None else now
    tracker = LoginTracker(service.spec.login_patterns)
    if log_path is not None:
        for line in LogTail(log_path).new_lines():  # its last 256 KiB: the latest phase is what counts
            tracker.feed(line, now)
    board = NoticeBoard()
    for code, message, _ in diagnosis.errors if diagnosis is not None else []:
        notice = classify(code, message)
        if notice is not None:
            board = board.absorb(notice, now)
    return judge_service(service.spec, now=now, api_answering=None if diagnosis is None else answered(diagnosis),
                         api_detail=(diagnosis.failure or "") if diagnosis is not None else "", board=board,
                         login=tracker.state, process_running=process_running)


def with_monitors_view(own: GatewayCondition, recorded: Any) -> GatewayCondition:
    """Doctor's own look, dated by a live supervisor's monitor when both see the same state.

    Doctor's session hears a Gateway's broken farms (or a lost IB) when it connects, so on its
    own it can only say "since now"; the monitor heard them when they began, and the supervisor
    keeps that in the run state. Anything else recorded (another state or other farms, a later or
    missing time, values of the wrong type) leaves doctor's own look as it is.
    """
    if not isinstance(recorded, dict) or recorded.get("state") != own.state:
        return own
    farms = recorded.get("farms_broken")
    if not isinstance(farms, list) or set(map(str, farms)) != set(own.farms_broken):
        return own
    since, detail = recorded.get("since"), recorded.get("detail")
    if isinstance(since, bool) or not isinstance(since, (int, float)) or not isinstance(detail, str) or not detail:
        return own
    if own.since is not None and since >= own.since:
        return own
    return replace(own, since=float(since), detail=detail)


LADDER_EVENTS = ("ibc-command", "restarted", "ib-outage")


class LadderSoFar(NamedTuple):
    """The ladder's steps in a person's words, and whether it concluded that the rest is on IB's side."""

    steps: tuple[str, ...] = ()
    concluded: bool = False


def ladder_so_far(events: Iterable[Event], service: str, zone: tzinfo | None = None) -> LadderSoFar:
    """What the supervisor's remediation ladder did for ``service`` since it was last ready, in a person's words.

    From the timeline's latest ``events`` (oldest first): the IBC commands it sent, its soft
    restarts and its conclusion that the rest is on IB's side, after the Gateway's last settled
    ``gateway-ready`` (the ladder starts over only then: see ``remediation.RECOVERY_SETTLE``). Pure.
    """
    mine = [event for event in events if event.service == service]
    steps, concluded = [], False
    for event in mine[_last_recovery(mine) + 1:]:
        if event.event not in LADDER_EVENTS:
            continue
        at = event.time.astimezone(zone).strftime("%H:%M:%S")
        if event.event == "ibc-command":
            answered = "" if event.data.get("ok") else " (IBC did not say OK)"
            steps.append(f"sent {event.data.get('command') or 'a command'} at {at}{answered}")
        elif event.event == "restarted" and event.reason.startswith("soft restart"):
            steps.append(f"restarted it softly at {at}")
        elif event.event == "ib-outage":
            steps.append(f"concluded at {at} that the rest is on IB's side")
            concluded = True
    return LadderSoFar(tuple(steps), concluded)


def _last_recovery(events: list[Event]) -> int:
    """Index of the last ``gateway-ready`` no other condition followed within the settle time (-1: none)."""
    for index in range(len(events) - 1, -1, -1):
        if events[index].event != "gateway-ready":
            continue
        later = next((e for e in events[index + 1:] if e.event.startswith("gateway-") and e.event != "gateway-ready"),
                     None)
        if later is None or (later.time - events[index].time).total_seconds() >= RECOVERY_SETTLE:
            return index
    return -1


def answered(diagnosis: IbApiDiagnosis) -> bool:
    """The API answered doctor's session: ok, or complete but with a fatal notice (1100: IB unreachable)."""
    return diagnosis.verdict == OK or (diagnosis.verdict == SESSION_FAILED and diagnosis.next_valid_id is not None
                                       and diagnosis.accounts is not None)

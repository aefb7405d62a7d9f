"""The Gateway's condition, not just healthy or unhealthy. Pure.

From what robostack can know — whether the API answers (the monitor's heartbeat),
the notices the Gateway sent (farms, connectivity, competing session, read-only),
the login phase its log shows, whether its process runs, and the maintenance
window it may be in — :func:`judge_condition` names the one state that matters
most, in a line a trader can act on, with the time it began and, where there is
one, the time it ends ("IBC gives up at 14:05:11", "maintenance until 23:55").

States while the API answers: ``ready``, ``connectivity-lost``, ``farms-broken``,
``competing-session``, ``read-only``. While it does not: ``starting``,
``logging-in``, ``awaiting-second-factor``, ``existing-session``,
``api-initialising``, ``restarting``, ``maintenance`` (absences that are expected:
nothing to restart), ``login-failed``, ``down``, ``unresponsive``, ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from ibproto.notices import NoticeBoard
from launcher.gateway import login as phases
from launcher.gateway.login import LoginState
from launcher.gateway.maintenance import Window, active_window, local_zone
from launcher.stack.model import Service

MAINTENANCE = "maintenance"
READY = "ready"
CONNECTIVITY_LOST = "connectivity-lost"
FARMS_BROKEN = "farms-broken"
COMPETING_SESSION = "competing-session"
READ_ONLY = "read-only"
LOGIN_FAILED = phases.LOGIN_FAILED
DOWN = "down"
UNRESPONSIVE = "unresponsive"
UNKNOWN = "unknown"
ANSWERING = (READY, CONNECTIVITY_LOST, FARMS_BROKEN, COMPETING_SESSION, READ_ONLY)
# The Gateway is away on purpose or still logging in: a restart would only make it worse.
EXPECTED_ABSENCE = (*phases.LOGIN_PHASES, MAINTENANCE)


@dataclass(frozen=True)
class GatewayInputs:
    """Everything the condition is judged from; times are seconds since the epoch."""

    now: float
    zone: tzinfo  # for the times shown
    api_answering: bool | None = None  # the monitor's latest verdict; None: not probed yet
    api_detail: str = ""
    board: NoticeBoard = field(default_factory=NoticeBoard)
    login: LoginState = field(default_factory=LoginState)
    process_running: bool | None = None  # None: not robostack's to see (an external Gateway)
    maintenance: Window | None = None
    second_factor_timeout: float = 180.0  # IBC's: the login is abandoned this long after the prompt


@dataclass(frozen=True)
class GatewayCondition:
    """The state that matters most, its one-line detail, when it began and ends, and what else holds."""

    state: str
    detail: str
    since: float | None = None
    until: float | None = None
    also: tuple[str, ...] = ()  # other states in force (read-only alongside farms-broken...)
    farms_broken: tuple[str, ...] = ()

    @property
    def answering(self) -> bool:
        return self.state in ANSWERING

    @property
    def expected_absence(self) -> bool:
        """Away on purpose (maintenance) or logging in: wait, do not restart it nor its dependents."""
        return self.state in EXPECTED_ABSENCE

    def to_dict(self) -> dict[str, Any]:
        """Plain values for status, events and ``doctor --json``."""
        return {"state": self.state, "detail": self.detail, "since": self.since, "until": self.until,
                "also": list(self.also), "farms_broken": list(self.farms_broken)}


def judge_condition(inputs: GatewayInputs) -> GatewayCondition:
    """The Gateway's condition (see the module docstring for the states and their order)."""
    if inputs.api_answering:
        return _answering(inputs)
    return _not_answering(inputs)


def judge_service(spec: Service | None, *, now: float, api_answering: bool | None, api_detail: str = "",
                  board: NoticeBoard | None = None, login: LoginState | None = None,
                  process_running: bool | None = None, zone: tzinfo | None = None) -> GatewayCondition:
    """The condition of the Gateway ``spec`` declares: its maintenance windows and IBC's timeout from the stack."""
    zone = zone or local_zone()
    window = None
    if spec is not None and spec.maintenance:
        window = active_window(spec.maintenance, datetime.fromtimestamp(now, zone), zone)
    timeout = spec.ibc.second_factor_timeout if spec is not None and spec.ibc else GatewayInputs.second_factor_timeout
    return judge_condition(GatewayInputs(now=now, zone=zone, api_answering=api_answering, api_detail=api_detail,
                                         board=board or NoticeBoard(), login=login or LoginState(),
                                         process_running=process_running, maintenance=window,
                                         second_factor_timeout=timeout))


def _answering(i: GatewayInputs) -> GatewayCondition:
    board = i.board
    holding: list[tuple[str, str, float | None]] = []
    if board.connectivity_lost_since is not None:
        holding.append((CONNECTIVITY_LOST, f"IB unreachable since {clock(board.connectivity_lost_since, i.zone)} "
                                           "(1100): no data, no orders until IB restores it (1101/1102)",
                        board.connectivity_lost_since))
    if board.farms_broken:
        farms = ", ".join(f"{name} since {clock(since, i.zone)}" for name, since in board.farms_broken.items())
        holding.append((FARMS_BROKEN, f"farms broken: {farms}", min(board.farms_broken.values())))
    if board.competing_since is not None:
        holding.append((COMPETING_SESSION, f"a competing live session holds the market data since "
                                           f"{clock(board.competing_since, i.zone)} (10197)", board.competing_since))
    read_only = board.read_only or bool(i.login.read_only)
    if read_only:
        holding.append((READ_ONLY, "the API is read-only: orders are refused (321)", None))
    if i.maintenance is not None:
        holding.append((MAINTENANCE, f"in the maintenance window until {i.maintenance.until_text()}", None))
    farms = tuple(board.farms_broken)
    if not holding or holding[0][0] == MAINTENANCE:
        return GatewayCondition(READY, "ready: the API answers" + (f"; {holding[0][1]}" if holding else ""),
                                also=tuple(state for state, _, _ in holding), farms_broken=farms)
    state, detail, since = holding[0]
    return GatewayCondition(state, detail, since, also=tuple(s for s, _, _ in holding[1:]), farms_broken=farms)


def _not_answering(i: GatewayInputs) -> GatewayCondition:
    login = i.login
    window = i.maintenance
    if login.phase == phases.LOGIN_FAILED:
        return GatewayCondition(LOGIN_FAILED, f"login failed at {clock(login.since, i.zone)}: "
                                              f"{_quoted(login.last_line)}", login.since)
    if login.phase == phases.AWAITING_SECOND_FACTOR and i.process_running is not False:
        gives_up = (login.since or i.now) + i.second_factor_timeout
        inside = f" (in the maintenance window until {window.until_text()})" if window else ""
        return GatewayCondition(phases.AWAITING_SECOND_FACTOR,
                                f"awaiting the second factor since {clock(login.since, i.zone)}: approve the login on "
                                f"the phone; IBC gives up at {clock(gives_up, i.zone)}{inside}", login.since, gives_up)
    if window is not None:
        doing = f" ({login.phase})" if login.in_login else ""
        return GatewayCondition(MAINTENANCE, f"maintenance until {window.until_text()}{doing}: the Gateway's absence "
                                             f"is expected (window {window.span_text()})",
                                window.start.timestamp(), window.end.timestamp())
    if i.process_running is False:
        return GatewayCondition(DOWN, "not running")
    if login.in_login:
        return GatewayCondition(login.phase, _phase_detail(login, i.zone), login.since)
    if i.api_answering is None:
        return GatewayCondition(UNKNOWN, "not probed yet")
    return GatewayCondition(UNRESPONSIVE, f"the API does not answer: {i.api_detail or 'no answer'}")


def _phase_detail(login: LoginState, zone: tzinfo) -> str:
    at = clock(login.since, zone)
    return {
        phases.STARTING: f"starting since {at}: Java, then IBC fills in the login dialog",
        phases.LOGGING_IN: f"logging in since {at}",
        phases.EXISTING_SESSION: f"existing session detected at {at}: another session of this user is logged in "
                                 "(TWS, the web portal, another Gateway)",
        phases.API_INITIALISING: f"logged in at {at}; the API initialises (it answers 30-60 s after login)",
        phases.RESTARTING: f"soft restart since {at}: the API comes back with the login kept, no second factor",
    }[login.phase]


def clock(epoch: float | None, zone: tzinfo) -> str:
    """``14:02:11`` in ``zone`` (``?`` for an unknown time)."""
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, zone).strftime("%H:%M:%S")


def _quoted(line: str) -> str:
    text = line.split("IBC: ", 1)[-1].strip() if "IBC: " in line else line.strip()
    return (text[:117] + "...") if len(text) > 120 else text or "the log says so"

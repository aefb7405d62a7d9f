"""Doctor's verdicts about a Gateway's own life, with the fix a trader needs. Pure.

:mod:`launcher.hygiene.verdicts` asks these rules at two points of its order: before
"nothing listens" (a Gateway logging in, awaiting the second factor or in its
maintenance window does not listen, and that is not a fault) and after the API
answered (farms broken, IB unreachable, a competing session, a read-only API). Each
returns ``(code, detail, fix)`` or ``None``; the codes are the condition's states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launcher.gateway import condition as c
from launcher.gateway import login as phases
from launcher.gateway.condition import GatewayCondition

if TYPE_CHECKING:
    from launcher.hygiene.gateway_facts import LadderSoFar

Finding = tuple[str, str, str]
AWAY = (*phases.LOGIN_PHASES, c.MAINTENANCE)
DEGRADED = (c.CONNECTIVITY_LOST, c.FARMS_BROKEN, c.COMPETING_SESSION, c.READ_ONLY)
API_SETTINGS = "Configure → Settings → API → Settings"


def login_failed(condition: GatewayCondition | None, name: str, external: bool,
                 second_factor: str = "3 minutes") -> Finding | None:
    """IBC gave up the login (the second factor never came): the one verdict that must not be retried alone."""
    if condition is None or condition.state != c.LOGIN_FAILED:
        return None
    again = "start IB Gateway again" if external else f"`robostack restart {name}`"
    return (c.LOGIN_FAILED, condition.detail,
            f"{again}, then approve the login on your phone (IBKR Mobile) within {second_factor}: IBC gives up after "
            "that; robostack does not retry on its own, each try sends another prompt")


def away(condition: GatewayCondition | None, name: str, external: bool) -> Finding | None:
    """Logging in, awaiting the second factor, restarting, in maintenance: expected, with what to do meanwhile."""
    if condition is None or condition.state not in AWAY:
        return None
    state = condition.state
    restart_hint = "restart it" if external else f"`robostack restart {name}`"
    fixes = {
        phases.AWAITING_SECOND_FACTOR: "approve the login on your phone (IBKR Mobile) now; " + (
            condition.detail.split("; ", 1)[1] if "; " in condition.detail else "IBC gives up after a few minutes"),
        phases.STARTING: "wait: the Gateway is starting; a restart now would start the login over (and ask the phone "
                         "again)",
        phases.LOGGING_IN: "wait: IBC is filling in the login; a restart now would start it over (and ask the phone "
                           "again)",
        phases.EXISTING_SESSION: "log out of the other session of this user (TWS, the web portal, another Gateway), or "
                                 "let IBC take over (ExistingSessionDetectedAction=primary in IBC's config.ini)",
        phases.API_INITIALISING: "wait: the API answers 30-60 s after login; run `robostack doctor` again in a minute",
        phases.RESTARTING: "wait: IBC's soft restart keeps the login (no second factor); the API is back within "
                           "1-2 minutes",
        c.MAINTENANCE: f"nothing to do until it ends: robostack restarts nothing inside the window; if the Gateway is "
                       f"still down after it, {restart_hint}",
    }
    return state, condition.detail, fixes[state]


def degraded(condition: GatewayCondition | None, ibc_address: str | None,
             ladder: "LadderSoFar | None" = None) -> Finding | None:
    """The API answers but the Gateway cannot serve: broken farms, IB unreachable, a competing session, read-only.

    ``ladder`` is what the live supervisor already did about it (:func:`gateway_facts.ladder_so_far`): doctor
    says that rather than what robostack "will" do.
    """
    if condition is None or condition.state not in DEGRADED:
        return None
    state = condition.state
    if ladder is not None and ladder.steps and state in (c.FARMS_BROKEN, c.CONNECTIVITY_LOST):
        fix = "robostack has " + "; ".join(ladder.steps) + (
            "; wait for IB (a new login would not help)" if ladder.concluded else "; it goes on if needed")
    elif state == c.FARMS_BROKEN:
        fix = (f"robostack will send RECONNECTDATA through IBC's command server ({ibc_address}); IB usually restores "
               "its farms within minutes") if ibc_address else (
            "IB usually restores its farms within minutes; if it lasts, Reconnect Data in the Gateway's window "
            "(Ctrl-Alt-F), or give the service an ibc: block so robostack sends RECONNECTDATA itself")
    elif state == c.CONNECTIVITY_LOST:
        fix = ("check this machine's network; IB restores the session by itself (1101 or 1102)"
               + (f", and robostack will send RECONNECTACCOUNT ({ibc_address}) if it lasts" if ibc_address else ""))
    elif state == c.COMPETING_SESSION:
        fix = ("log out of the other live session of this user that holds the market data (TWS, IBKR Mobile, the web "
               "portal); a restart would not help")
    else:
        fix = (f"untick 'Read-Only API' ({API_SETTINGS}), or set ReadOnlyApi=no in IBC's config.ini; a trader that "
               "only reads market data needs nothing")
    also = f" (also: {', '.join(condition.also)})" if condition.also else ""
    return state, condition.detail + also, fix

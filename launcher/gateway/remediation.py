"""The remediation ladder for a Gateway in trouble, as pure decisions on values.

Killing a Gateway's JVM forces a new login with a second factor; repeated, it can
lock the account. So the ladder climbs from the gentlest step:

1. broken data farms: ``RECONNECTDATA`` through IBC; IB lost: ``RECONNECTACCOUNT``;
2. then (or at once for an API that stopped answering) a soft restart: IBC's
   ``RESTART`` keeps the login, no second factor;
3. a hard restart (a new process: a new login) only as a last resort, and only within
   the login budget; past it the service fails with an alert-worthy reason.

Maintenance windows and login phases suppress everything: the Gateway is away on
purpose or logging in, and a restart would only start the login over. A second
factor that never came is not retried (a loop of phone prompts is what locks
accounts): it fails, and a person restarts it.

No clocks are read here: the caller passes ``now`` (monotonic seconds), keeps the
:class:`RemediationHistory`, and records what it actually did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from launcher.gateway import condition as c
from launcher.gateway.condition import GatewayCondition
from launcher.stack.durations import format_duration
from launcher.stack.model import Service

Action = Literal["none", "wait", "reconnect-data", "reconnect-account", "soft-restart", "hard-restart", "give-up"]
RECOVERED = (c.READY, c.READ_ONLY)
# A trouble is over once the Gateway has been ready this long. A new session's greeting may say
# "farm OK" a moment before its "farm broken" notices (seen after every soft restart during an
# outage): counted as a recovery, it started the ladder over, a soft restart each time around.
RECOVERY_SETTLE = 5.0


@dataclass(frozen=True)
class LadderSettings:
    """How the ladder is climbed for one Gateway (seconds)."""

    ibc: bool  # a command server to ask: RECONNECTDATA and soft restarts are possible
    budget_count: int | None = None  # process starts allowed within budget_window; None: no budget
    budget_window: float = 86400.0
    reconnect_after: float = 10.0  # farms broken this long (a blip clears itself) before RECONNECTDATA
    connectivity_grace: float = 60.0  # IB lost this long (it usually comes back) before RECONNECTACCOUNT
    escalate_after: float = 120.0  # a step that did not help within this: the next one
    soft_restart_timeout: float = 300.0  # a soft restart must bring the API back within this

    @classmethod
    def for_service(cls, spec: Service) -> "LadderSettings":
        budget = spec.effective_login_budget
        common = dict(ibc=spec.ibc is not None, budget_count=budget.count if budget else None,
                      budget_window=budget.window if budget else 86400.0)
        if spec.ibc is None:
            return cls(**common)
        ibc = spec.ibc
        return cls(**common, soft_restart_timeout=ibc.restart_timeout, reconnect_after=ibc.reconnect_after,
                   connectivity_grace=ibc.reconnect_account_after, escalate_after=ibc.escalate_after)


@dataclass(frozen=True)
class Remedy:
    """What to do now; ``alert`` marks a decision a person must hear about (the budget is spent)."""

    action: Action
    reason: str
    alert: bool = False


@dataclass
class RemediationHistory:
    """What was tried since the current trouble began, and every login (process start) for the budget."""

    trouble_since: float | None = None
    tried: list[tuple[str, float]] = field(default_factory=list)  # (action, when)
    logins: list[float] = field(default_factory=list)
    ready_since: float | None = None

    def observe(self, condition: GatewayCondition, now: float) -> None:
        """Note the condition: a settled recovery ends the trouble (and its ladder); a first problem starts one."""
        if condition.state in RECOVERED:
            if self.ready_since is None:
                self.ready_since = now
            if now - self.ready_since >= RECOVERY_SETTLE or self.trouble_since is None:
                self.trouble_since, self.tried = None, []
            return
        self.ready_since = None
        if self.trouble_since is None and condition.state not in (c.UNKNOWN,):
            self.trouble_since = now

    def record(self, action: str, now: float) -> None:
        """The caller carried out ``action`` at ``now`` (a hard restart is also a login)."""
        self.tried.append((action, now))
        if action == "hard-restart":
            self.record_login(now)

    def record_login(self, now: float) -> None:
        """A process start: the first ``up`` counts too, it asked for the second factor as well."""
        self.logins.append(now)

    def last(self, action: str) -> float | None:
        times = [when for done, when in self.tried if done == action]
        return times[-1] if times else None

    def logins_within(self, window: float, now: float) -> list[float]:
        return [when for when in self.logins if now - when < window]


def decide_remedy(condition: GatewayCondition, settings: LadderSettings, history: RemediationHistory,
                  now: float) -> Remedy:
    """The next step for a Gateway in ``condition`` (call :meth:`RemediationHistory.observe` first)."""
    state = condition.state
    if state in RECOVERED or state == c.UNKNOWN:
        return Remedy("none", condition.detail)
    if state == c.LOGIN_FAILED:
        return Remedy("give-up", f"{condition.detail}; not retried on its own (each try asks the phone again): "
                                 "approve the login within IBC's timeout after `robostack restart`", alert=True)
    if condition.expected_absence:
        return _while_away(condition, settings, history, now)
    if state == c.FARMS_BROKEN:
        return _farms(condition, settings, history, now)
    if state == c.CONNECTIVITY_LOST:
        return _connectivity(condition, settings, history, now)
    if state == c.COMPETING_SESSION:
        return Remedy("wait", f"{condition.detail}: log out of the other live session (TWS, mobile, web) of this "
                              "user; a restart would not help")
    return _api_dead(condition, settings, history, now)  # unresponsive or down


def _while_away(condition: GatewayCondition, settings: LadderSettings, history: RemediationHistory,
                now: float) -> Remedy:
    soft = history.last("soft-restart")
    if condition.state != c.MAINTENANCE and soft is not None and now - soft >= settings.soft_restart_timeout:
        return _hard_restart(f"a soft restart {int(now - soft)}s ago has not brought the API back "
                             f"({condition.detail})", settings, history, now)
    return Remedy("wait", condition.detail)


def _farms(condition: GatewayCondition, settings: LadderSettings, history: RemediationHistory, now: float) -> Remedy:
    broken_for = now - (history.trouble_since if history.trouble_since is not None else now)
    if not settings.ibc:
        return Remedy("wait", f"{condition.detail}; no IBC command server to send RECONNECTDATA: IB usually restores "
                              "its farms within minutes (or reconnect data in the Gateway: Ctrl-Alt-F)")
    if broken_for < settings.reconnect_after:
        return Remedy("wait", f"{condition.detail}; RECONNECTDATA if it lasts {settings.reconnect_after:g}s")
    return _next_rung(condition, "reconnect-data", settings, history, now)


def _connectivity(condition: GatewayCondition, settings: LadderSettings, history: RemediationHistory,
                  now: float) -> Remedy:
    lost_for = now - (history.trouble_since if history.trouble_since is not None else now)
    if not settings.ibc or lost_for < settings.connectivity_grace:
        return Remedy("wait", f"{condition.detail}; IB restores it by itself (1101/1102)")
    return _next_rung(condition, "reconnect-account", settings, history, now)


def _next_rung(condition: GatewayCondition, gentle: Action, settings: LadderSettings, history: RemediationHistory,
               now: float) -> Remedy:
    """The gentle command, then a soft restart if it did not help, then wait: never a new login for IB's side."""
    asked, soft = history.last(gentle), history.last("soft-restart")
    if asked is None:
        return Remedy(gentle, condition.detail)
    command = ibc_command(gentle)
    if soft is None:
        if now - asked < settings.escalate_after:
            return Remedy("wait", f"{condition.detail}; {command} sent {int(now - asked)}s ago")
        return Remedy("soft-restart", f"{condition.detail}; {command} did not help within "
                                      f"{settings.escalate_after:g}s")
    return Remedy("wait", f"{condition.detail}; {command} and a soft restart did not help: this is on IB's side "
                          "(a new login would not help, and costs a second factor)", alert=True)


def ibc_command(action: str) -> str:
    """The IBC command a ladder action sends, as IBC spells it: ``reconnect-data`` is ``RECONNECTDATA``."""
    return action.replace("-", "").upper()


def _api_dead(condition: GatewayCondition, settings: LadderSettings, history: RemediationHistory,
              now: float) -> Remedy:
    if condition.state == c.UNRESPONSIVE and settings.ibc:
        soft = history.last("soft-restart")
        if soft is None:
            return Remedy("soft-restart", f"{condition.detail}; a soft restart keeps the login (no second factor)")
        if now - soft < settings.soft_restart_timeout:
            return Remedy("wait", f"{condition.detail}; soft restart sent {int(now - soft)}s ago")
    return _hard_restart(condition.detail, settings, history, now)


def _hard_restart(why: str, settings: LadderSettings, history: RemediationHistory, now: float) -> Remedy:
    if settings.budget_count is None:
        return Remedy("hard-restart", f"{why}; a new process: a new login")
    used = history.logins_within(settings.budget_window, now)
    if len(used) < settings.budget_count:
        return Remedy("hard-restart", f"{why}; a new login ({len(used) + 1} of {settings.budget_count} within "
                                      f"{_window(settings.budget_window)})")
    return Remedy("give-up", f"{why}; the login budget is spent ({len(used)} logins within "
                             f"{_window(settings.budget_window)}): another would ask the phone again and risks "
                             "locking the account", alert=True)


def _window(seconds: float) -> str:
    return format_duration(seconds)

"""The supervisor's side of a Gateway (an ``ib_api`` service): its monitor, its condition, its ladder, IBC.

One :class:`GatewayWatch` per ``ib_api`` service whose check keeps ``monitor`` on
(the default), owned by its :class:`~launcher.supervise.lifecycle.ServiceLifecycle`:

* **liveness** is the monitor's verdict (:mod:`launcher.probes.gateway_monitor`): one
  long-lived API session on its own client id, heartbeats at ``interval``, instead of
  a connection per probe. The startup gate and the watcher both ask it. A new process
  (a new log offset) gets a new monitor; a soft restart keeps it.
* **the condition** (:mod:`launcher.gateway.condition`) is judged after every verdict
  and every notice the session hears (a farm breaking shows in ``status`` at once,
  not at the next interval): it is kept on the service's record (``status`` and the
  dashboard read it from the supervisor's memory) and each change is a timeline
  event through the journal's one emit path (``gateway-farms-broken``,
  ``awaiting-second-factor``, ``gateway-ready``...).
* **the ladder** (:mod:`launcher.gateway.remediation`) decides what an unhealthy
  Gateway gets: RECONNECTDATA / RECONNECTACCOUNT (sent here), a soft restart or a hard
  one (both through ``Services.restart``, the one restart path), or giving up once
  the login budget is spent. :func:`after_verdict` is the watcher's step for it.
* **IBC**: a soft restart is IBC's ``RESTART`` (the login is kept: no second factor),
  then waiting for the API to go away and come back; a stop sends ``STOP`` first.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from ibproto.notices import Notice, NoticeBoard
from launcher.errors import ServiceFailed
from launcher.gateway import condition as conditions
from launcher.gateway.condition import GatewayCondition
from launcher.gateway.ibc import IbcUnavailable, send_command
from launcher.hygiene.scan import foreign_listener
from launcher.gateway.remediation import LadderSettings, Remedy, RemediationHistory, decide_remedy, ibc_command
from launcher.probes.base import ProbeResult
from launcher.probes.gateway_monitor import KIND, GatewayMonitor
from launcher.stack.durations import format_duration
from launcher.stack.resolved import ResolvedService
from launcher.state.transitions import ServiceState, Trigger
from launcher.supervise.policy import Decision, decide_after_unhealthy

if TYPE_CHECKING:
    from launcher.supervise.lifecycle import ServiceLifecycle

SOFT_RESTART_PACE = 0.5  # seconds between verdicts while a soft restart is awaited (at most `interval`)
IB_OUTAGE = "ib-outage"  # the ladder's conclusion: every gentle step tried, the rest is on IB's side
EVENT_NAMES = {conditions.phases.AWAITING_SECOND_FACTOR: "awaiting-second-factor"}  # the alert policy's names


def condition_event(state: str) -> str:
    """The timeline event a change to the condition ``state`` writes."""
    return EVENT_NAMES.get(state, f"gateway-{state}")


class Restarts(Protocol):
    """What the ladder needs of the stack: the one restart path, and settling."""

    async def apply(self, lifecycle: "ServiceLifecycle", decision: Decision) -> None:
        """Carry out a policy decision (restart, soft or not; give up)."""


class GatewayWatch:
    """One Gateway's monitor, condition, remediation history and IBC client (see the module docstring)."""

    def __init__(self, lifecycle: "ServiceLifecycle"):
        self.lifecycle = lifecycle
        spec = lifecycle.service.spec
        self.ibc = spec.ibc
        self.settings = LadderSettings.for_service(spec)
        self.history = RemediationHistory()
        self.monitor: GatewayMonitor | None = None
        self.condition: GatewayCondition | None = None
        self._shown: tuple | None = None

    @staticmethod
    def wanted(service: ResolvedService) -> bool:
        """An ``ib_api`` service whose check keeps the monitor on."""
        health = service.health
        return health is not None and health.kind == KIND and bool(health.check.monitor)

    # -- liveness and condition ------------------------------------------------------------------

    async def verdict(self) -> ProbeResult:
        """The monitor's verdict (opening it on first use), then the condition it leads to."""
        if self.monitor is None:
            self.monitor = GatewayMonitor.for_service(self.lifecycle.service, self.lifecycle.probe_context(),
                                                      on_notice=self._on_notice)
        result = await self.monitor.verdict()
        self.observe()
        return result

    def _on_notice(self, notice: Notice, board: NoticeBoard) -> None:
        self.observe()

    def observe(self) -> GatewayCondition | None:
        """Judge the condition now; keep it on the record, and write an event when it changed."""
        lifecycle = self.lifecycle
        if self.monitor is None:
            return None
        running = None if lifecycle.service.external else lifecycle.running
        condition = self.monitor.condition(process_running=running)
        self.history.observe(condition, lifecycle.clock.monotonic())
        self.condition = condition
        lifecycle.record.condition = condition.to_dict()
        shown = (condition.state, condition.farms_broken, condition.also)
        quiet = condition.state == conditions.UNKNOWN or (
            condition.state == conditions.UNRESPONSIVE and lifecycle.state is ServiceState.STARTING)  # the gate says
        if shown != self._shown and not quiet:
            self._shown = shown
            lifecycle.journal.emit(lifecycle.name, condition_event(condition.state), condition.detail,
                                   condition=condition.state, **_extras(condition))
            lifecycle.journal.save()
        return condition

    async def spawning(self) -> None:
        """A new process: a new login (counted against the budget), a new log offset, so a new monitor."""
        self.history.record_login(self.lifecycle.clock.monotonic())
        await self.close()

    async def explain(self, detail: str) -> str:
        """A failure's detail, with what the Gateway's condition adds (a second factor that never came)."""
        await self.lifecycle.settle_exit()  # its last log lines are written (IBC's "closing because...")
        condition = self._judge_after_exit()
        if condition is None or condition.state not in (conditions.LOGIN_FAILED,
                                                        conditions.phases.AWAITING_SECOND_FACTOR):
            return detail
        return f"{detail}; {condition.detail}"

    def _judge_after_exit(self) -> GatewayCondition | None:
        """The condition once the process has ended, with IBC's last log lines ("closing because...") read.

        By then its log writer has drained, so the lines are in the file; judged without them, a probe
        that ran just before the exit would leave the login "awaiting" rather than failed.
        """
        if self.monitor is not None:
            self.monitor.read_log()
        return self.observe()

    # -- the ladder ------------------------------------------------------------------------------

    def remedy(self) -> Remedy:
        condition = self.condition or self.observe()
        if condition is None:
            return Remedy("none", "")
        return decide_remedy(condition, self.settings, self.history, self.lifecycle.clock.monotonic())

    def budget_refusal(self) -> str | None:
        """Why a new process (a new login) must not be started now, or None while the login budget allows it."""
        settings = self.settings
        if settings.budget_count is None:
            return None
        used = self.history.logins_within(settings.budget_window, self.lifecycle.clock.monotonic())
        if len(used) < settings.budget_count:
            return None
        return (f"the login budget is spent ({len(used)} logins within {format_duration(settings.budget_window)}): "
                "another process start would ask the phone again and risks locking the account; "
                "`robostack restart` once the cause is fixed")

    def after_exit(self, decision: Decision) -> Decision:
        """The process ended: a login that failed (a second factor never approved) is never retried on its own."""
        condition = self._judge_after_exit()
        if decision.action == "restart" and condition is not None and condition.state == conditions.LOGIN_FAILED:
            return Decision("give-up", reason=f"{condition.detail}; not retried on its own (each try asks the phone "
                                              "again): approve the login within IBC's timeout after `robostack "
                                              "restart`")
        return decision

    async def send(self, command: str) -> bool:
        """Send one IBC command and write what IBC said as an ``ibc-command`` event; False if it did not say OK."""
        lifecycle = self.lifecycle
        if self.ibc is None:
            return False
        refusal = await self._not_our_command_server()
        if refusal:
            lifecycle.journal.emit(lifecycle.name, "ibc-command", f"{command} not sent: {refusal}", command=command,
                                   ok=False)
            return False
        try:
            reply = await send_command(self.ibc.host, self.ibc.command_port, command, timeout=self.ibc.timeout)
        except IbcUnavailable as err:
            lifecycle.journal.emit(lifecycle.name, "ibc-command", f"{command}: {err}", command=command, ok=False)
            return False
        lifecycle.journal.emit(lifecycle.name, "ibc-command", reply.describe(), command=command, ok=reply.ok)
        return reply.ok

    async def _not_our_command_server(self) -> str | None:
        """Why IBC's command port on this machine must not be sent a command (None: nothing against it).

        A listener outside the Gateway's own process tree is not its IBC: another stack's Gateway or
        a squatter on that port must never receive a STOP or RESTART meant for ours.
        """
        assert self.ibc is not None
        process = self.lifecycle.process
        if process is None:
            return None
        holder = await asyncio.to_thread(foreign_listener, self.ibc.host, self.ibc.command_port, process.target)
        if holder is None:
            return None
        return f"port {self.ibc.command_port} is held by {holder.describe()}, not by this Gateway's processes"

    # -- soft restart and stop -------------------------------------------------------------------

    @property
    def can_restart_softly(self) -> bool:
        """IBC is configured and the Gateway's process runs (a soft restart keeps it and its login)."""
        return self.ibc is not None and self.lifecycle.running

    async def restart_softly(self) -> None:
        """IBC's RESTART, then wait for the API to go away and answer again; ServiceFailed if it does not."""
        lifecycle = self.lifecycle
        assert self.ibc is not None
        monitor = self.monitor
        before = monitor.sessions_opened if monitor is not None else 0
        refusal = await self._not_our_command_server()
        if refusal:
            raise ServiceFailed(lifecycle.name, f"no soft restart: {refusal}")
        try:
            reply = await send_command(self.ibc.host, self.ibc.command_port, "RESTART", timeout=self.ibc.timeout)
        except IbcUnavailable as err:
            raise ServiceFailed(lifecycle.name, f"no soft restart: {err}") from err
        if not reply.ok and "already in progress" not in reply.info:  # already restarting: wait for that one
            raise ServiceFailed(lifecycle.name, f"IBC refused the soft restart: {reply.describe()}")
        began = lifecycle.clock.monotonic()
        self.history.record("soft-restart", began)
        lifecycle.fire(Trigger.START, f"soft restart through IBC ({reply.describe()}): the login is kept, "
                                      "no second factor", soft=True)
        result = await self._until_back(before, began + self.ibc.restart_timeout, gone=not reply.ok)
        lifecycle.fire(Trigger.PROBE_PASSED, result.detail,
                       seconds_to_healthy=round(lifecycle.clock.monotonic() - began, 3), soft=True)

    async def _until_back(self, sessions_before: int, deadline: float, gone: bool = False) -> ProbeResult:
        """Verdicts until the API went away (or the monitor needed a new session) and answers again.

        ``gone``: the restart is already under way (IBC said so): the API answering is enough.
        """
        lifecycle = self.lifecycle
        clock = lifecycle.clock
        pace = min(SOFT_RESTART_PACE, lifecycle.service.health.interval)
        while True:
            if not lifecycle.running:
                raise ServiceFailed(lifecycle.name, f"{lifecycle.record.exit or 'exited'} during its soft restart")
            result = await self.verdict()
            gone = gone or not result.ok or (self.monitor is not None
                                             and self.monitor.sessions_opened > sessions_before)
            if gone and result.ok:
                return result
            if clock.monotonic() >= deadline:
                raise ServiceFailed(lifecycle.name, f"the soft restart did not bring the API back within "
                                    f"{format_duration(self.ibc.restart_timeout)} (ibc.restart_timeout): "
                                    f"{result.detail}")
            seen = lifecycle.changes.count
            await lifecycle.changes.wait(seen, min(pace, max(0.0, deadline - clock.monotonic())))

    async def ask_to_stop(self, grace: float) -> None:
        """Before any signal: IBC's STOP (a clean logout), then up to ``grace`` for the process to end."""
        lifecycle = self.lifecycle
        await self.close()
        if self.ibc is None or not lifecycle.running:
            return
        if await self.send("STOP"):
            waiter = asyncio.ensure_future(lifecycle.exited.wait())
            try:
                await asyncio.wait([waiter], timeout=grace)
            finally:
                waiter.cancel()

    async def close(self) -> None:
        """Close the monitor's session; idempotent."""
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            await monitor.close()


def _extras(condition: GatewayCondition) -> dict:
    extras: dict = {}
    if condition.farms_broken:
        extras["farms_broken"] = list(condition.farms_broken)
    if condition.until is not None:
        extras["until"] = condition.until
    if condition.also:
        extras["also"] = list(condition.also)
    return extras


async def after_verdict(stack: Restarts, lifecycle: "ServiceLifecycle", result: ProbeResult, failures: int,
                        dependencies_down: list[str]) -> int:
    """The watcher's step for a Gateway: state from the verdict and condition, then the ladder's remedy.

    Returns the new count of consecutive failures. An absence the Gateway means (its
    maintenance window, its own restart, a login) is the ``maintenance`` state, never
    counted as a failure; a Gateway that answers is healthy even with its farms
    broken (the condition says so) while the ladder asks IBC to reconnect them.
    """
    watch = lifecycle.gateway
    assert watch is not None
    external = lifecycle.service.external
    condition = watch.condition
    if result.ok:
        if dependencies_down:
            lifecycle.fire(Trigger.DEPENDENCY_DOWN, f"waiting for {', '.join(dependencies_down)}")
        else:
            lifecycle.fire(Trigger.EXTERNAL_UP if external else Trigger.PROBE_PASSED, result.detail)
        await _climb(stack, lifecycle, watch.remedy())
        return 0
    if not external and not lifecycle.running:
        return failures  # its exit is dealt with next, and says more
    if condition is not None and condition.expected_absence:
        lifecycle.fire(Trigger.GATEWAY_AWAY, condition.detail, condition=condition.state)
        await _climb(stack, lifecycle, watch.remedy())
        return 0
    failures += 1
    if failures < lifecycle.service.health.retries:
        return failures
    if external:
        lifecycle.fire(Trigger.EXTERNAL_DOWN, result.detail, consecutive_failures=failures)
        return failures
    lifecycle.fire(Trigger.PROBE_FAILED, result.detail, consecutive_failures=failures)
    await _climb(stack, lifecycle, watch.remedy())
    return 0


async def _climb(stack: Restarts, lifecycle: "ServiceLifecycle", remedy: Remedy) -> None:
    """Carry out one rung of the ladder (``none`` and ``wait`` do nothing)."""
    watch = lifecycle.gateway
    now = lifecycle.clock.monotonic()
    if remedy.action in ("reconnect-data", "reconnect-account"):
        watch.history.record(remedy.action, now)
        await watch.send(ibc_command(remedy.action))
    elif remedy.action == "soft-restart" and watch.can_restart_softly and not lifecycle.service.external:
        await stack.apply(lifecycle, Decision("restart", reason=f"soft restart: {remedy.reason}", soft=True))
    elif remedy.action == "hard-restart" and not lifecycle.service.external:
        if lifecycle.state is not ServiceState.UNHEALTHY:
            lifecycle.fire(Trigger.PROBE_FAILED, remedy.reason)
        await stack.apply(lifecycle, decide_after_unhealthy(lifecycle.service.spec, probe_detail=remedy.reason,
                                                            history=lifecycle.history, now=now))
    elif remedy.action == "give-up" and not lifecycle.service.external:
        await stack.apply(lifecycle, Decision("give-up", reason=remedy.reason))
    elif remedy.action == "wait" and remedy.alert and watch.history.last(IB_OUTAGE) is None:
        # The ladder is done and the rest is IB's: said once per trouble, as an event (and an alert).
        watch.history.record(IB_OUTAGE, now)
        lifecycle.journal.emit(lifecycle.name, IB_OUTAGE, remedy.reason)
        lifecycle.journal.save()

"""IB Gateway's life under IBC as a pure state machine: login phases, soft, daily and weekly restarts, IB's conditions.

It reads the injected clock, keeps a schedule of what happens next, answers IBC
commands, and returns *actions* (log lines, API port states, notices, exit) that
:mod:`.server` carries out. Tests drive it with a fake clock and never sleep.

The log lines follow the real ones: ``IBC`` voice lines are IBC's own messages
(from its Java source), ``script`` lines are what ``ibcstart.sh`` echoes, and
``sim`` lines are the simulator's ``state ...`` / ``condition ...`` lines, one per
change, that say plainly where the Gateway is.
"""

from __future__ import annotations

import enum
from datetime import datetime, time, timedelta, timezone as dt_timezone
from functools import partial
from typing import Callable

from services.gateway_sim.actions import Action, ApiState, CommandReply, Exit, Notify, Say, SetApi, Voice
from services.gateway_sim.conditions import FARMS, Conditions
from services.gateway_sim.scenario import ConnectivityLoss, FarmOutage, WeekConfig, timezone_name
from services.gateway_sim.schedule import Schedule
from services.gateway_sim.weekly import SUNDAY, next_local_time, weekly_reset_between
from stackkit.clock import Clock

LOGIN_DIALOG_DISPLAY_TIMEOUT = 60  # IBC's LoginDialogDisplayTimeout default, only quoted in its log line
IBC_SECOND_FACTOR_EXIT_CODE = 1111  # ErrorCodes.SECOND_FACTOR_AUTH_LOGIN_TIMED_OUT
SECOND_FACTOR_EXIT_STATUS = IBC_SECOND_FACTOR_EXIT_CODE % 256  # 87: what ibcstart.sh reports and exits with
AUTORESTART_DIR = "gateway_sim"
AUTORESTART_FILE = f"~/Jts/{AUTORESTART_DIR}/autorestart"


class State(enum.Enum):
    """The Gateway's state; each change is one ``state <value>: <detail>`` log line."""

    STARTING = "starting"
    LOGIN_DIALOG = "login-dialog"
    AWAITING_SECOND_FACTOR = "awaiting-second-factor"
    EXISTING_SESSION = "existing-session"
    API_INITIALISING = "api-initialising"
    READY = "ready"
    RESTARTING = "restarting"
    STOPPING = "stopping"

    @property
    def api(self) -> ApiState:
        return {State.API_INITIALISING: ApiState.SILENT, State.READY: ApiState.READY}.get(self, ApiState.CLOSED)


class GatewayLife:
    """One Gateway process's life: call :meth:`start`, then :meth:`advance` whenever :meth:`next_due` comes."""

    def __init__(self, week: WeekConfig, api_delay: float, clock: Clock):
        self.week = week
        self.api_delay = api_delay
        self.clock = clock
        self.state: State | None = None
        self.conditions = Conditions()
        self.api_ready_at: float | None = None
        self._schedule = Schedule()
        self._actions: list[Action] = []
        self._now = clock.monotonic()
        self._logged_in = False
        self._first_login_at: float | None = None
        self._second_factor_since = 0.0
        self._restart_pending = False
        self._stopping = False
        self._configured_restart: str | None = None  # the Gateway's auto-restart setting, as IBC prints it
        self._loss_kept = True
        self._full_login = True  # the login under way needs full authentication (not a soft restart's)
        self._full_login_at: datetime | None = None  # wall clock of the last full login: IB's week counts from it

    # --- driving ----------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """The process starts: the cold start's first steps."""
        self._now = self.clock.monotonic()
        self._cold_start()
        if self.week.auto_restart is not None:
            self._schedule_auto_restart()
        if self.week.cold_restart is not None:
            self._schedule_cold_restart()
        return self.drain()

    def advance(self) -> list[Action]:
        """Run every step due by now; each runs at its own due time, so chains do not drift."""
        now = self.clock.monotonic()
        while (entry := self._schedule.pop_due(now)) is not None:
            self._now, step = entry
            step()
        return self.drain()

    def next_due(self) -> float | None:
        return self._schedule.next_due

    def drain(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    # --- IBC commands -----------------------------------------------------------------------

    def command(self, line: str) -> CommandReply:
        """One line from IBC's command server (case-insensitive, like IBC); actions wait in :meth:`drain`."""
        self._now = self.clock.monotonic()
        self._ibc(f"CommandServer received command: {line}")
        handler = {
            "EXIT": lambda: CommandReply(("OK Goodbye",), close=True),
            "STOP": self._stop_command,
            "RESTART": partial(self._restart_command, pause=False),
            "PAUSE": partial(self._restart_command, pause=True),
            "RECONNECTDATA": self._reconnect_data,
            "RECONNECTACCOUNT": self._reconnect_account,
            "ENABLEAPI": lambda: CommandReply(("ERROR ENABLEAPI is not valid for the IB Gateway",)),
        }.get(line.upper())
        if handler is None:
            self._ibc(f"CommandServer: invalid command received: {line}")
            return CommandReply(("ERROR Command invalid",))
        return handler()

    def _stop_command(self) -> CommandReply:
        if self._stopping:
            self._ibc("STOP already in progress")
            return CommandReply(("ERROR STOP already in progress",), close=True)
        self._stopping = True
        if self._logged_in:
            self._ibc("Login has completed: exiting via [File, Close] menu")
            self._enter(State.STOPPING, "STOP command: logging out, exiting with status 0")
            self._script("IBC returned exit status 0")
        else:
            self._ibc("Login has not completed: exiting immediately")
            self._enter(State.STOPPING, "STOP command before the login completed: exiting with status 0")
        self._actions.append(Exit(0))
        return CommandReply(("OK Shutting down: STOP command",), close=True)

    def _restart_command(self, pause: bool) -> CommandReply:
        verb = "PAUSE" if pause else "RESTART"
        self._ibc(f"RestartTask: pauseOnly = {str(pause).lower()}")
        self._ibc(f"RestartTask: verb = {verb}")
        if self._restart_pending or self.state is State.RESTARTING:
            self._ibc(f"{verb} already in progress")
            return CommandReply((f"ERROR {verb} already in progress",), close=True)
        self._restart_pending = True
        delay = self.week.restart_delay
        stamp = self._twelve_hour(self.clock.now() + timedelta(seconds=delay))
        self._ibc(f"Setting auto-restart time to {stamp}")
        self._configured_restart = stamp
        reason = f"{verb} command (auto-restart time set to {stamp})"
        self._after(delay, partial(self._restart_due, reason, pause, commanded=True), tag="restart")
        return CommandReply((f"OK {verb} in progress", f"OK {verb} at {stamp}"), close=True)

    def _reconnect_data(self) -> CommandReply:
        if not self._outage_on_ibs_side("RECONNECTDATA"):
            self._farms_restore(None, "on RECONNECTDATA")
        return CommandReply(("OK ",))

    def _reconnect_account(self) -> CommandReply:
        if not self._outage_on_ibs_side("RECONNECTACCOUNT"):
            self._connectivity_restore("on RECONNECTACCOUNT")
        return CommandReply(("OK ",))

    def _outage_on_ibs_side(self, command: str) -> bool:
        if self.week.outages_on_ibs_side:
            self._sim(f"{command}: nothing changes, the outage is on IB's side")
        return self.week.outages_on_ibs_side

    # --- login --------------------------------------------------------------------------------

    def _cold_start(self, why: str = "") -> None:
        week = self.week
        self._full_login = True
        if not (why or week.ibc or week.java_start):
            self._login_completed()
            return
        if not why:
            self._script("autorestart file not found: full authentication will be required")
        self._ibc(f"Starting session: will exit if login dialog is not displayed within "
                  f"{LOGIN_DIALOG_DISPLAY_TIMEOUT} seconds")
        self._ibc("Starting Gateway")
        self._enter(State.STARTING, f"{why}Java starting; login dialog in {week.java_start:g}s")
        self._after(week.java_start, self._login_dialog, tag="login")

    def _login_dialog(self) -> None:
        self._ibc("detected frame entitled: IBKR Gateway; event=Opened")
        self._ibc("Login dialog WINDOW_OPENED: LoginState is LOGGED_OUT")
        for line in ("Setting user name", "Setting password", "Login attempt: 1", "Click button: Log In"):
            self._ibc(line)
        self._enter(State.LOGIN_DIALOG, "credentials entered, Log In clicked")
        wait = self.week.second_factor
        if wait is not None and self._first_login_at is not None and self.week.later_second_factor is not None:
            wait = self.week.later_second_factor
        if wait is None:
            self._login_accepted()
            return
        self._ibc("Waiting for Login frame to become SecondFactorAuthenticationDialog")
        self._ibc("Login frame has now become SecondFactorAuthenticationDialog")
        self._ibc("Second Factor Authentication initiated")
        timeout = self.week.second_factor_timeout
        self._second_factor_since = self._now
        self._enter(State.AWAITING_SECOND_FACTOR, f"approve the login on the phone; IBC gives up after {timeout:g}s")
        if wait < timeout:
            self._after(wait, self._second_factor_approved, tag="login")
        else:
            self._after(timeout, self._second_factor_timed_out, tag="login")

    def _second_factor_approved(self) -> None:
        waited = self._now - self._second_factor_since
        self._sim(f"second factor approved after {waited:g}s")
        self._ibc(f"Duration since login: {int(waited)} seconds")
        self._login_accepted()

    def _second_factor_timed_out(self) -> None:
        timeout = self.week.second_factor_timeout
        self._ibc(f"Duration since login: {int(timeout)} seconds")
        self._ibc("IBC closing because login has not completed after Second Factor Authentication")
        self._ibc(f"Exiting after error with exit code={IBC_SECOND_FACTOR_EXIT_CODE}")
        self._script(f"IBC returned exit status {SECOND_FACTOR_EXIT_STATUS}")
        self._enter(State.STOPPING, f"second factor not approved within {timeout:g}s: exiting with status "
                                    f"{SECOND_FACTOR_EXIT_STATUS}, as IBC does")
        self._actions.append(Exit(SECOND_FACTOR_EXIT_STATUS))

    def _login_accepted(self) -> None:
        if self.week.existing_session:
            self._ibc("detected dialog entitled: Existing session detected; event=Opened")
            self._ibc("Don't know the type of the other session, so continue this one (scenario 3)")
            self._ibc("Click button: OK")
            self._enter(State.EXISTING_SESSION, "another session of this user is logged in; IBC continues this one")
        self._login_completed()

    def _login_completed(self) -> None:
        self._ibc("detected frame entitled: Starting application...; event=Closed")
        self._ibc("Login has completed")
        self._logged_in = True
        if self._full_login:
            self._full_login_at = self._wall()
        if self._first_login_at is None:
            self._first_login_at = self._now
            self._schedule_conditions()
        if self.week.auto_restart is not None:
            self._apply_auto_restart_setting()
        if self.api_delay > 0:
            self.api_ready_at = self._now + self.api_delay
            self._enter(State.API_INITIALISING, f"TCP accepted, handshakes held {self.api_delay:g}s")
            self._after(self.api_delay, self._api_ready, tag="login")
        else:
            self._api_ready()

    def _api_ready(self) -> None:
        self.api_ready_at = None
        self._enter(State.READY, "API answering")

    # --- restarts -----------------------------------------------------------------------------

    def _apply_auto_restart_setting(self) -> None:
        wanted = self.week.auto_restart.strftime("%I:%M %p")
        self._ibc("Setting Auto restart time")
        if self._configured_restart is None:
            self._ibc(f"Auto restart time set to {wanted}")
        elif self._configured_restart == wanted:
            self._ibc(f"Auto restart time already set to {wanted}")
        else:
            self._ibc(f"Auto restart time changed from {self._configured_restart} to {wanted}")
        self._configured_restart = wanted

    def _schedule_auto_restart(self) -> None:
        self._at_local(self.week.auto_restart, None, self._auto_restart_due, "auto-restart")

    def _schedule_cold_restart(self) -> None:
        self._at_local(self.week.cold_restart, SUNDAY, self._cold_restart_due, "cold-restart")

    def _at_local(self, at: time, weekday: int | None, step: Callable[[], None], tag: str) -> None:
        """Schedule ``step`` at the next ``at`` local time (on ``weekday`` only, when given)."""
        wall = self._wall()
        target = next_local_time(wall, at, self.week.timezone, weekday)
        self._after((target.astimezone(dt_timezone.utc) - wall.astimezone(dt_timezone.utc)).total_seconds(), step,
                    tag=tag)

    def _wall(self) -> datetime:
        """The wall clock at the step being run (not at the moment it runs: chains must not drift)."""
        return self.clock.now() - timedelta(seconds=self.clock.monotonic() - self._now)

    def _auto_restart_due(self) -> None:
        label = f"daily auto-restart at {self.week.auto_restart:%H:%M} {timezone_name(self.week.timezone)}"
        self._restart_due(label, pause=False)
        self._schedule_auto_restart()

    def _cold_restart_due(self) -> None:
        label = f"weekly cold restart (IBC's ColdRestartTime) at Sunday {self.week.cold_restart:%H:%M} " \
                f"{timezone_name(self.week.timezone)}"
        self._schedule_cold_restart()
        if self._restart_skipped(label):
            return
        self._script("IBC returned exit status 0")
        self._script("IBC will cold-restart shortly")
        self._cold_start(f"{label}: a full login, second factor included; ")

    def _restart_skipped(self, reason: str) -> bool:
        """A restart is due: skipped unless the Gateway is logged in; otherwise the session ends here."""
        if self.state not in (State.READY, State.API_INITIALISING):
            state = self.state.value if self.state else "starting"
            self._sim(f"{reason}: skipped, the Gateway is {state}")
            return True
        self._restart_pending = False
        self._schedule.cancel("restart")
        self._schedule.cancel("login")
        self._logged_in = False
        return False

    def _restart_due(self, reason: str, pause: bool, commanded: bool = False) -> None:
        if commanded:
            self._restart_pending = False
        if self._restart_skipped(reason):
            return
        duration = self.week.restart_duration
        self._enter(State.RESTARTING, f"{reason}; API port refusing connections for {duration:g}s")
        self._script("IBC returned exit status 0")
        self._script("Finding autorestart file")
        self._script(f"autorestart file found at {AUTORESTART_FILE}: authentication will not be required")
        self._script(f"AUTORESTART_OPTION is -Drestart={AUTORESTART_DIR}")
        if pause:
            self._script("IBC is paused")
            self._enter(State.STOPPING, "paused after the restart (PAUSE command): exiting with status 0")
            self._actions.append(Exit(0))
            return
        self._script("IBC will restart shortly")
        self._ibc("Re-starting session")
        self._ibc("Starting Gateway")
        self._after(duration, self._relogin, tag="login")

    def _relogin(self) -> None:
        if self._full_login_at is not None and weekly_reset_between(self._full_login_at, self._wall()):
            self._sim("IB's weekly reset (Sunday 01:00 New York) has passed since the last full login: the "
                      "autorestart token is refused, a full login follows, second factor included")
            self._full_login = True
            self._login_dialog()
            return
        self._ibc("detected frame entitled: IBKR Gateway; event=Opened")
        self._ibc("Login dialog WINDOW_OPENED: LoginState is LOGGED_OUT")
        self._sim("login restored without a second factor (soft restart)")
        self._full_login = False
        self._login_completed()

    # --- IB's conditions --------------------------------------------------------------------

    def _schedule_conditions(self) -> None:
        week, base = self.week, self._now
        for outage in week.farm_outage:
            self._schedule.add(base + outage.at, "conditions", partial(self._farms_break, outage))
        for loss in week.connectivity_loss:
            self._schedule.add(base + loss.at, "conditions", partial(self._connectivity_lose, loss))
        for competing in week.competing_session:
            self._schedule.add(base + competing.at, "conditions", self._competing_start)
            self._schedule.add(base + competing.at + competing.duration, "conditions", self._competing_end)

    def _farms_break(self, outage: FarmOutage) -> None:
        notices = self.conditions.break_farms(outage.farms)
        if notices:
            self._condition("farms-broken", notices, f"OK again in {outage.duration:g}s or on RECONNECTDATA")
        self._after(outage.duration, partial(self._farms_restore, outage.farms, f"after {outage.duration:g}s"))

    def _farms_restore(self, farms: tuple[str, ...] | None, why: str) -> None:
        notices = self.conditions.restore_farms(farms)
        if notices:
            self._condition("farms-ok", notices, why)

    def _connectivity_lose(self, loss: ConnectivityLoss) -> None:
        notices = self.conditions.lose_connectivity()
        if not notices:
            return
        self._loss_kept = loss.data_kept
        data = "kept" if loss.data_kept else "lost"
        self._condition("connectivity-lost", notices,
                        f"restored in {loss.duration:g}s (or on RECONNECTACCOUNT) with market data {data}")
        self._after(loss.duration, partial(self._connectivity_restore, f"after {loss.duration:g}s"))

    def _connectivity_restore(self, why: str) -> None:
        actions = self.conditions.restore_connectivity(self._loss_kept)
        if actions:
            kept = self._loss_kept
            detail = why if kept else f"{why}; every market data subscription dropped"
            self._condition(f"connectivity-restored-data-{'kept' if kept else 'lost'}", actions, detail)

    def _competing_start(self) -> None:
        notices = self.conditions.start_competing()
        if notices:
            self._condition("competing-session", notices, "market data stops until the other session ends")

    def _competing_end(self) -> None:
        if self.conditions.competing:
            self._condition("competing-session-ended", self.conditions.end_competing(), "market data flows again")

    def _condition(self, name: str, actions: list, detail: str) -> None:
        farms = [farm for farm in FARMS.values()
                 if any(isinstance(a, Notify) and a.code in (farm.ok_code, farm.broken_code) for a in actions)]
        codes = ", ".join(str(a.code) for a in actions if isinstance(a, Notify))
        subject = f"{', '.join(f.name for f in farms)} ({codes})" if farms else codes
        self._sim(f"condition {name}: " + "; ".join(part for part in (subject, detail) if part))
        self._actions.extend(actions)

    # --- output -----------------------------------------------------------------------------

    def _enter(self, state: State, detail: str) -> None:
        previous = self.state
        self.state = state
        if previous is None or previous.api is not state.api:
            # The port first: once a "state" line is out, the API port behaves as that state says.
            self._actions.append(SetApi(state.api, state.value))
        self._sim(f"state {state.value}: {detail}")

    def _after(self, delay: float, step: Callable[[], None], tag: str = "") -> None:
        self._schedule.add(self._now + delay, tag, step)

    def _sim(self, text: str) -> None:
        self._actions.append(Say(Voice.SIM, text))

    def _ibc(self, text: str) -> None:
        if self.week.ibc:
            self._actions.append(Say(Voice.IBC, text))

    def _script(self, text: str) -> None:
        if self.week.ibc:
            self._actions.append(Say(Voice.SCRIPT, text))

    def _twelve_hour(self, moment: datetime) -> str:
        return moment.astimezone(self.week.timezone).strftime("%I:%M %p")

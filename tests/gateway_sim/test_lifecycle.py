"""The Gateway's lifecycle core, driven by a fake clock: login phases, restarts, IBC commands, IB's conditions."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.gateway_sim.actions import ApiState, DropMarketData, Exit, Notify, Say, SetApi, Voice
from services.gateway_sim.lifecycle import SECOND_FACTOR_EXIT_STATUS, GatewayLife, Schedule
from services.gateway_sim.scenario import (
    NEVER,
    CompetingSession,
    ConnectivityLoss,
    FarmOutage,
    WeekConfig,
)
from stackkit.clock import ScaledClock

NEW_YORK = ZoneInfo("America/New_York")


class FakeClock:
    """Time moves only when the test says so."""

    def __init__(self, start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=NEW_YORK)):
        self.origin = self.t = 1000.0
        self.start = start

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - self.origin)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


class Run:
    """A lifecycle and its fake clock; ``wait(s)`` runs every step due within the next ``s`` seconds."""

    def __init__(self, week: WeekConfig, api_delay: float = 0.0, **clock):
        self.clock = FakeClock(**clock)
        self.life = GatewayLife(week, api_delay, self.clock)
        self.actions = self.life.start()
        self.wait(0)  # what is due at once, as the server's driver runs it

    def wait(self, seconds: float) -> list:
        end = self.clock.t + seconds
        taken = []
        while (due := self.life.next_due()) is not None and due <= end:
            self.clock.t = max(self.clock.t, due)
            taken += self.life.advance()
        self.clock.t = end
        taken += self.life.advance()
        self.actions += taken
        return taken

    def command(self, line: str):
        reply = self.life.command(line)
        taken = self.life.drain()
        self.actions += taken
        return reply, taken


def said(actions: list, voice: Voice | None = None) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say) and (voice is None or a.voice is voice)]


def states(actions: list) -> list[str]:
    return [text.split(":")[0].removeprefix("state ") for text in said(actions, Voice.SIM)
            if text.startswith("state ")]


def api(actions: list) -> list[ApiState]:
    return [a.state for a in actions if isinstance(a, SetApi)]


def codes(actions: list) -> list[int]:
    return [a.code for a in actions if isinstance(a, Notify)]


IBC = WeekConfig(ibc_command_port=0, timezone=NEW_YORK)


# --- login -------------------------------------------------------------------------------------

def test_a_plain_simulator_is_ready_at_once_and_says_nothing_in_ibcs_voice():
    run = Run(WeekConfig(timezone=NEW_YORK))
    assert states(run.actions) == ["ready"]
    assert api(run.actions) == [ApiState.READY]
    assert said(run.actions, Voice.IBC) == said(run.actions, Voice.SCRIPT) == []


def test_api_delay_accepts_tcp_but_holds_the_handshake_until_the_api_is_initialised():
    run = Run(WeekConfig(timezone=NEW_YORK), api_delay=30)
    assert api(run.actions) == [ApiState.SILENT]
    assert run.life.api_ready_at == run.clock.t + 30
    assert run.wait(29.9) == []
    assert api(run.wait(0.1)) == [ApiState.READY]


def test_cold_start_goes_through_every_login_phase_with_the_port_closed_until_the_login_completes():
    run = Run(replace(IBC, java_start=5, second_factor=20), api_delay=30)
    assert states(run.actions) == ["starting"] and api(run.actions) == [ApiState.CLOSED]
    assert said(run.actions, Voice.SCRIPT) == ["autorestart file not found: full authentication will be required"]
    assert "Starting Gateway" in said(run.actions, Voice.IBC)
    assert states(run.wait(5)) == ["login-dialog", "awaiting-second-factor"]
    assert "Second Factor Authentication initiated" in said(run.actions, Voice.IBC)
    assert run.wait(19.9) == []  # the phone has not been tapped yet: the port stays closed
    approved = run.wait(0.1)
    assert "second factor approved after 20s" in said(approved, Voice.SIM)
    assert said(approved, Voice.IBC)[-1] == "Login has completed"
    assert states(approved) == ["api-initialising"] and api(approved) == [ApiState.SILENT]
    assert states(run.wait(30)) == ["ready"]


def test_existing_session_detected_is_a_phase_of_the_login_that_ibc_continues():
    run = Run(replace(IBC, existing_session=True))
    assert states(run.actions) == ["starting", "login-dialog", "existing-session", "ready"]
    assert "Don't know the type of the other session, so continue this one (scenario 3)" in said(run.actions)


@pytest.mark.parametrize("after", [NEVER, 200.0])
def test_a_second_factor_that_does_not_come_in_time_exits_87_as_ibcstart_does(after):
    run = Run(replace(IBC, second_factor=after, second_factor_timeout=180))
    assert run.wait(179.9) == []
    ended = run.wait(0.1)
    assert ended[-1] == Exit(SECOND_FACTOR_EXIT_STATUS) and SECOND_FACTOR_EXIT_STATUS == 87
    assert "Exiting after error with exit code=1111" in said(ended, Voice.IBC)
    assert said(ended, Voice.SCRIPT) == ["IBC returned exit status 87"]
    assert states(ended) == ["stopping"]
    assert "Login has completed" not in said(run.actions)


# --- soft restarts ---------------------------------------------------------------------------------

def test_restart_command_restarts_softly_after_the_delay_and_never_asks_for_a_second_factor():
    run = Run(replace(IBC, second_factor=3, restart_delay=60, restart_duration=45), api_delay=10,
              start=datetime(2025, 1, 6, 14, 30, 10, tzinfo=NEW_YORK))
    run.wait(13)
    assert run.life.state.value == "ready"
    reply, _ = run.command("RESTART")
    assert reply.lines == ("OK RESTART in progress", "OK RESTART at 02:31 PM") and reply.close
    again, _ = run.command("restart")
    assert again.lines == ("ERROR RESTART already in progress",) and again.close
    assert run.wait(59.9) == []
    going = run.wait(0.1)
    assert states(going) == ["restarting"] and api(going) == [ApiState.CLOSED]
    assert ("autorestart file found at ~/Jts/gateway_sim/autorestart: authentication will not be required"
            in said(going, Voice.SCRIPT))
    assert said(going, Voice.IBC) == ["Re-starting session", "Starting Gateway"]
    assert run.wait(44.9) == []  # refusing for the whole restart duration
    back = run.wait(0.1) + run.wait(10)
    assert states(back) == ["api-initialising", "ready"]
    assert not any("Second Factor" in line for line in said(back, Voice.IBC))
    assert "login restored without a second factor (soft restart)" in said(back, Voice.SIM)
    reply, _ = run.command("RESTART")  # a new RESTART is accepted once the last one is done
    assert reply.lines[0] == "OK RESTART in progress"


def test_pause_restarts_softly_and_then_exits_zero_as_ibc_paused():
    run = Run(replace(IBC, restart_delay=1))
    reply, _ = run.command("PAUSE")
    assert reply.lines[0] == "OK PAUSE in progress"
    ended = run.wait(1)
    assert "IBC is paused" in said(ended, Voice.SCRIPT) and ended[-1] == Exit(0)


def test_daily_auto_restart_fires_at_the_local_time_of_its_zone_every_day():
    start = datetime(2025, 1, 7, 4, 44, 50, tzinfo=timezone.utc)  # 23:44:50 in New York
    run = Run(replace(IBC, auto_restart=time(23, 45), restart_duration=30), start=start)
    assert "Auto restart time set to 11:45 PM" in said(run.actions, Voice.IBC)
    assert run.wait(9.9) == []
    fired = run.wait(0.1)
    assert said(fired, Voice.SIM)[0] == ("state restarting: daily auto-restart at 23:45 America/New_York; API port "
                                         "refusing connections for 30s")
    assert run.life.next_due() == run.clock.t + 30  # the relogin; the next restart is a day away
    run.wait(30)
    assert run.life.next_due() == pytest.approx(run.clock.t + 86400 - 30)
    assert "restarting" not in states(run.wait(86400 - 30.1))
    assert states(run.wait(0.1)) == ["restarting"]


def test_an_auto_restart_due_during_the_login_is_skipped_and_the_next_day_counts():
    start = datetime(2025, 1, 6, 23, 44, 50, tzinfo=NEW_YORK)
    run = Run(replace(IBC, second_factor=NEVER, second_factor_timeout=600, auto_restart=time(23, 45)), start=start)
    skipped = run.wait(10)
    assert said(skipped, Voice.SIM) == ["daily auto-restart at 23:45 America/New_York: skipped, the Gateway is "
                                        "awaiting-second-factor"]


def test_ibc_reapplies_its_auto_restart_time_after_a_restart_command_changed_it():
    run = Run(replace(IBC, auto_restart=time(23, 45), restart_delay=60, restart_duration=1),
              start=datetime(2025, 1, 6, 14, 30, 10, tzinfo=NEW_YORK))
    run.command("RESTART")
    back = run.wait(61)
    assert "Auto restart time changed from 02:31 PM to 11:45 PM" in said(back, Voice.IBC)


def test_ibcs_sunday_cold_restart_is_a_full_login_with_the_second_factor_and_comes_again_a_week_later():
    sunday = datetime(2025, 1, 5, 1, 4, 0, tzinfo=NEW_YORK)
    run = Run(replace(IBC, java_start=5, second_factor=20, cold_restart=time(1, 5)), start=sunday)
    assert states(run.wait(25)) == ["login-dialog", "awaiting-second-factor", "ready"]
    assert run.wait(34.9) == []
    cold = run.wait(0.1)  # 01:05:00
    assert said(cold, Voice.SCRIPT) == ["IBC returned exit status 0", "IBC will cold-restart shortly"]
    assert states(cold) == ["starting"] and api(cold) == [ApiState.CLOSED]
    assert said(cold, Voice.SIM)[0].startswith("state starting: weekly cold restart (IBC's ColdRestartTime) at "
                                               "Sunday 01:05 America/New_York: a full login, second factor included")
    relogin = run.wait(25)
    assert states(relogin) == ["login-dialog", "awaiting-second-factor", "ready"]
    assert run.life.next_due() == pytest.approx(run.clock.t - 25 + 7 * 86400)  # next Sunday 01:05


def test_the_first_soft_restart_after_ibs_weekly_reset_asks_for_the_second_factor_and_the_next_does_not():
    saturday = datetime(2025, 1, 4, 23, 44, 0, tzinfo=NEW_YORK)
    run = Run(replace(IBC, second_factor=20, auto_restart=time(23, 45), restart_duration=30), start=saturday)
    run.wait(20)
    assert states(run.actions)[-2:] == ["awaiting-second-factor", "ready"]
    saturday_night = run.wait(40 + 31)  # Saturday 23:45: the week has not turned yet
    assert states(saturday_night) == ["restarting", "ready"]
    assert "login restored without a second factor (soft restart)" in said(saturday_night, Voice.SIM)
    sunday_night = run.wait(86400 - 1 + 20)  # Sunday 23:45: past Sunday 01:00 New York
    assert states(sunday_night) == ["restarting", "login-dialog", "awaiting-second-factor", "ready"]
    assert any("weekly reset (Sunday 01:00 New York) has passed" in line for line in said(sunday_night, Voice.SIM))
    monday_night = run.wait(86400)
    assert states(monday_night) == ["restarting", "ready"]


def test_a_weekly_login_nobody_approves_ends_the_process_as_ibc_does():
    sunday = datetime(2025, 1, 5, 1, 4, 0, tzinfo=NEW_YORK)
    run = Run(replace(IBC, second_factor=20, later_second_factor=NEVER, second_factor_timeout=180,
                      cold_restart=time(1, 5)), start=sunday)
    assert states(run.wait(60)) == ["ready", "starting", "login-dialog", "awaiting-second-factor"]
    assert run.wait(179.9) == []
    ended = run.wait(0.1)
    assert states(ended) == ["stopping"] and ended[-1] == Exit(SECOND_FACTOR_EXIT_STATUS)


def test_a_cold_restart_due_during_a_login_is_skipped():
    sunday = datetime(2025, 1, 5, 1, 4, 50, tzinfo=NEW_YORK)
    run = Run(replace(IBC, second_factor=NEVER, second_factor_timeout=600, cold_restart=time(1, 5)), start=sunday)
    assert said(run.wait(10), Voice.SIM) == ["weekly cold restart (IBC's ColdRestartTime) at Sunday 01:05 "
                                             "America/New_York: skipped, the Gateway is awaiting-second-factor"]


# --- IBC commands -------------------------------------------------------------------------------

def test_commands_answer_as_ibc_does():
    run = Run(IBC)
    assert run.command("ENABLEAPI")[0].lines == ("ERROR ENABLEAPI is not valid for the IB Gateway",)
    assert run.command("RECONNECTDATA")[0].lines == ("OK ",)
    assert run.command("reconnectaccount")[0].lines == ("OK ",)
    invalid, _ = run.command(" STOP")  # IBC trims nothing: this is not STOP
    assert invalid.lines == ("ERROR Command invalid",) and not invalid.close
    assert "CommandServer: invalid command received:  STOP" in said(run.actions, Voice.IBC)
    goodbye, _ = run.command("Exit")
    assert goodbye.lines == ("OK Goodbye",) and goodbye.close


def test_stop_logs_out_and_exits_zero_once():
    run = Run(IBC)
    reply, taken = run.command("STOP")
    assert reply.lines == ("OK Shutting down: STOP command",) and reply.close
    assert "Login has completed: exiting via [File, Close] menu" in said(taken, Voice.IBC)
    assert api(taken) == [ApiState.CLOSED] and taken[-1] == Exit(0)
    assert run.command("STOP")[0].lines == ("ERROR STOP already in progress",)


def test_stop_before_the_login_completes_exits_at_once():
    run = Run(replace(IBC, second_factor=NEVER))
    reply, taken = run.command("STOP")
    assert "Login has not completed: exiting immediately" in said(taken, Voice.IBC) and taken[-1] == Exit(0)


# --- IB's conditions ------------------------------------------------------------------------------

def test_a_farm_outage_counts_from_the_first_login_and_reconnectdata_ends_it_early():
    outage = FarmOutage(at=10, duration=600)
    run = Run(replace(IBC, second_factor=20, farm_outage=(outage,)))
    assert codes(run.wait(29.9)) == []  # 10 s after the login at 20 s, not after the process start
    broken = run.wait(0.1)
    assert codes(broken) == [2103, 2105, 2157]
    assert [n.text for n in broken if isinstance(n, Notify)][0] == "Market data farm connection is broken:usfarm"
    assert not run.life.conditions.data_flowing
    assert said(broken, Voice.SIM) == ["condition farms-broken: usfarm, ushmds, secdefnj (2103, 2105, 2157); OK "
                                       "again in 600s or on RECONNECTDATA"]
    _, restored = run.command("RECONNECTDATA")
    assert codes(restored) == [2104, 2106, 2158] and run.life.conditions.data_flowing
    assert said(restored, Voice.SIM)[-1].endswith("on RECONNECTDATA")
    assert codes(run.wait(600)) == []  # the scheduled end finds nothing left to restore


def test_a_historical_farm_outage_alone_leaves_ticks_flowing():
    run = Run(replace(IBC, farm_outage=(FarmOutage(at=1, duration=5, farms=("ushmds",)),)))
    assert codes(run.wait(1)) == [2105] and run.life.conditions.data_flowing
    assert codes(run.wait(5)) == [2106]


@pytest.mark.parametrize("kept, expected", [(True, [1102]), (False, [1101])])
def test_connectivity_loss_stops_data_then_restores_it_kept_or_lost(kept, expected):
    run = Run(replace(IBC, connectivity_loss=(ConnectivityLoss(at=5, duration=60, data_kept=kept),)))
    lost = run.wait(5)
    assert codes(lost) == [1100] and not run.life.conditions.data_flowing
    assert [n.code for n in run.life.conditions.greeting()] == [1100]  # what a session starting now hears
    restored = run.wait(60)
    assert codes(restored) == expected and run.life.conditions.data_flowing
    assert any(isinstance(a, DropMarketData) for a in restored) is (not kept)
    suffix = "kept" if kept else "lost"
    assert said(restored, Voice.SIM)[0].startswith(f"condition connectivity-restored-data-{suffix}: ")


def test_reconnectaccount_ends_a_connectivity_loss_early():
    run = Run(replace(IBC, connectivity_loss=(ConnectivityLoss(at=1, duration=600, data_kept=False),)))
    run.wait(1)
    _, taken = run.command("RECONNECTACCOUNT")
    assert codes(taken) == [1101] and any(isinstance(a, DropMarketData) for a in taken)


def test_a_competing_session_sends_10197_per_subscription_and_stops_the_data_until_it_ends():
    run = Run(replace(IBC, competing_session=(CompetingSession(at=2, duration=30),)))
    started = run.wait(2)
    notice = next(a for a in started if isinstance(a, Notify))
    assert (notice.code, notice.text, notice.per_subscription) == (
        10197, "No market data during competing live session", True)
    assert not run.life.conditions.data_flowing and run.life.conditions.for_new_market_data() == [notice]
    ended = run.wait(30)
    assert said(ended, Voice.SIM) == ["condition competing-session-ended: market data flows again"]
    assert run.life.conditions.data_flowing


# --- the clock and the schedule ------------------------------------------------------------------

def test_scaled_clock_runs_faster_from_its_start_and_sleeps_scaled_real_time():
    base = FakeClock(start=datetime(2025, 1, 6, 12, 0, tzinfo=timezone.utc))
    scaled = ScaledClock(base, 480, datetime(2025, 1, 6, 9, 20, tzinfo=NEW_YORK))
    base.t += 3
    assert scaled.monotonic() == pytest.approx(base.origin + 1440)
    assert scaled.now() == datetime(2025, 1, 6, 9, 44, tzinfo=NEW_YORK)
    asyncio.run(scaled.sleep(960))
    assert base.t == pytest.approx(base.origin + 5)
    with pytest.raises(ValueError):
        ScaledClock(base, 0)


def test_schedule_runs_ties_in_the_order_added_and_cancels_by_tag():
    schedule, ran = Schedule(), []
    for name in "abc":
        schedule.add(5.0, name, lambda name=name: ran.append(name))
    schedule.cancel("b")
    while (entry := schedule.pop_due(5.0)) is not None:
        entry[1]()
    assert ran == ["a", "c"] and schedule.next_due is None

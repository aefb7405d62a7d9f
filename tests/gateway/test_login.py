"""Login phases from log lines: IBC's real lines, the simulator's, and a stack's own patterns."""

from __future__ import annotations

from launcher.gateway import login
from launcher.gateway.login import LoginTracker
from launcher.stack.gateway_fields import LoginPatterns

IBC_LOGIN = [  # as IBC writes them (timestamps as IBC prints them)
    "2026-12-01 09:00:00:001 IBC: Starting Gateway",
    "2026-12-01 09:00:20:001 IBC: Login dialog WINDOW_OPENED: LoginState is LOGGED_OUT",
    "2026-12-01 09:00:21:001 IBC: Second Factor Authentication initiated",
    "2026-12-01 09:00:40:001 IBC: Login has completed",
    "2026-12-01 09:00:41:001 IBC: Auto restart time set to 11:45 PM",
    "2026-12-01 09:00:41:002 IBC: Read-Only API checkbox is now set to: true",
]


def fed(lines, patterns=None) -> LoginTracker:
    tracker = LoginTracker(patterns)
    for second, line in enumerate(lines):
        tracker.feed(line, 1000.0 + second)
    return tracker


def test_ibc_lines_walk_the_login_phases():
    tracker = LoginTracker()
    seen = [tracker.feed(line, float(n)) for n, line in enumerate(IBC_LOGIN)]
    assert seen == [login.STARTING, login.LOGGING_IN, login.AWAITING_SECOND_FACTOR, login.API_INITIALISING, None, None]
    state = tracker.state
    assert (state.phase, state.since, state.second_factor_prompts, state.logins) == (login.API_INITIALISING, 3.0, 1, 1)
    assert state.auto_restart == "11:45 PM" and state.read_only is True and state.in_login


def test_the_simulators_lines_and_a_soft_restart_without_second_factor():
    lines = ["2026-12-01 23:38:14.447 gateway_sim: state starting: Java starting; login dialog in 0.5s",
             "2026-12-01 23:38:14.949 gateway_sim: state awaiting-second-factor: approve the login on the phone",
             "2026-12-01 23:38:15.948 gateway_sim: state api-initialising: TCP accepted, handshakes held 1s",
             "2026-12-01 23:38:16.949 gateway_sim: state ready: API answering",
             "2026-12-01 23:40:00.000 gateway_sim: state restarting: IBC RESTART",
             "2026-12-01 23:40:30.000 gateway_sim: state api-initialising: TCP accepted",
             "2026-12-01 23:40:31.000 gateway_sim: state ready: API answering"]
    state = fed(lines).state
    assert state.phase == login.READY and not state.in_login
    assert (state.second_factor_prompts, state.logins) == (1, 2)  # the soft restart logged in without the phone


def test_stop_and_second_factor_timeout_are_not_taken_for_a_login():
    assert fed(["2026-12-01 10:00:00:000 IBC: Login has completed: exiting via [File, Close] menu"]).state.phase == \
        login.STOPPING
    gave_up = fed(["x IBC: Second Factor Authentication initiated",
                   "x IBC: IBC closing because login has not completed after Second Factor Authentication",
                   "x gateway_sim: state stopping: second factor not approved within 1s: exiting"]).state
    assert gave_up.phase == login.LOGIN_FAILED and gave_up.logins == 0
    assert "IBC closing because" in gave_up.last_line


def test_a_stacks_patterns_replace_the_defaults_of_their_phase_only():
    patterns = LoginPatterns(awaiting_second_factor=["PHONE PROMPT"], read_write=["api writable"])
    tracker = fed(["x IBC: Second Factor Authentication initiated"], patterns)
    assert tracker.state.phase is None  # the default for that phase is replaced
    tracker.feed("12:00 PHONE PROMPT sent", 5.0)
    tracker.feed("x IBC: Login has completed", 6.0)  # other phases keep their defaults
    tracker.feed("api writable now", 7.0)
    assert (tracker.state.phase, tracker.state.read_only) == (login.API_INITIALISING, False)


def test_a_pattern_that_backtracks_loses_the_line_not_the_loop():
    tracker = LoginTracker(LoginPatterns(starting=["^(a+)+$"]))
    assert tracker.feed("a" * 40 + "!", 1.0) is None
    assert tracker.feed("a" * 5000, 2.0) == login.STARTING  # clipped to LINE_LIMIT, and it matches quickly

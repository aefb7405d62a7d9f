"""The week's options and scenario files: every value form, and one-line errors naming the option or field."""

from __future__ import annotations

import json
import subprocess
from dataclasses import fields
from datetime import time

import pytest

from services.errors import UsageError
from services.gateway_sim.config import parse_arguments
from services.gateway_sim.scenario import (
    FARM_NAMES,
    NEVER,
    OPTIONS,
    SCENARIO_KEYS,
    CompetingSession,
    ConnectivityLoss,
    FarmOutage,
    WeekConfig,
    load_scenario,
)
from tests.helpers import PYTHON, REPO

EXAMPLE = REPO / "examples" / "gateway-week.yaml"


def week(*args: str) -> WeekConfig:
    return parse_arguments(["--port", "0", *args]).week


def test_help_lists_every_week_option():
    result = subprocess.run([PYTHON, "-m", "services.gateway_sim", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for option in ["--ibc-command-port", "--scenario", *(f"--{key.replace('_', '-')}" for key in OPTIONS)]:
        assert option in result.stdout


def test_no_week_option_leaves_a_plain_simulator():
    assert week().plain and not week().ibc


def test_every_option_parses_from_the_command_line():
    config = week("--ibc-command-port", "0", "--java-start", "5s", "--second-factor", "20",
                  "--second-factor-timeout", "3m", "--existing-session", "--restart-delay", "90",
                  "--restart-duration", "45s", "--auto-restart", "23:45", "--timezone", "America/New_York",
                  "--farm-outage", "1h:10m", "--farm-outage", "2h:30s:ushmds,secdefnj",
                  "--connectivity-loss", "3h:2m:lost", "--competing-session", "4h:15m",
                  "--time-scale", "480", "--start-time", "09:20", "--cold-restart", "07:05", "--start-day", "Sunday")
    assert config.ibc and not config.plain
    assert (config.java_start, config.second_factor, config.second_factor_timeout) == (5, 20, 180)
    assert config.existing_session and (config.restart_delay, config.restart_duration) == (90, 45)
    assert config.auto_restart == time(23, 45) and config.timezone.key == "America/New_York"
    assert config.farm_outage == (FarmOutage(3600, 600, FARM_NAMES), FarmOutage(7200, 30, ("ushmds", "secdefnj")))
    assert config.connectivity_loss == (ConnectivityLoss(10800, 120, data_kept=False),)
    assert config.competing_session == (CompetingSession(14400, 900),)
    assert (config.time_scale, config.start_time) == (480, time(9, 20))
    assert (config.cold_restart, config.start_day) == (time(7, 5), 6)
    assert week("--later-second-factor", "never").later_second_factor == NEVER
    assert week("--outages-on-ibs-side").outages_on_ibs_side and not week().outages_on_ibs_side
    assert week("--start-day", "sat").start_day == 5 and week("--start-day", "sat").simulated_clock
    assert week("--second-factor", "never").second_factor == NEVER


@pytest.mark.parametrize("args, message", [
    (["--second-factor", "soon"], "--second-factor: expected seconds until approval (like 20s) or \"never\""),
    (["--second-factor-timeout", "0"], "--second-factor-timeout: expected more than zero seconds"),
    (["--restart-delay", "-5"], "--restart-delay: expected a non-negative duration"),
    (["--restart-duration", "0s"], "--restart-duration: expected more than zero seconds"),
    (["--auto-restart", "24:00"], "--auto-restart: expected a time of day HH:MM"),
    (["--auto-restart", "7pm"], "--auto-restart: expected a time of day HH:MM"),
    (["--timezone", "Mars/Olympus"], "--timezone: unknown time zone 'Mars/Olympus'"),
    (["--farm-outage", "60"], "--farm-outage: expected AT:DURATION:FARMS, got '60'"),
    (["--farm-outage", "60:0"], "--farm-outage: expected more than zero seconds, got '0'"),
    (["--farm-outage", "60:30:eufarm"], "--farm-outage: unknown farm 'eufarm'"),
    (["--connectivity-loss", "60:30"], "--connectivity-loss: expected AT:DURATION:DATA"),
    (["--connectivity-loss", "60:30:gone"], "--connectivity-loss: expected kept or lost, got 'gone'"),
    (["--competing-session", "x:30"], "--competing-session: expected a duration"),
    (["--time-scale", "0"], "--time-scale: expected a number above 0"),
    (["--time-scale", "fast"], "--time-scale: expected a number above 0"),
    (["--start-time", "9:20"], "--start-time: expected a time of day HH:MM"),
    (["--cold-restart", "1:05"], "--cold-restart: expected a time of day HH:MM"),
    (["--start-day", "sundae"], "--start-day: expected a day of the week (mon, tue, ..., sun), got 'sundae'"),
    (["--ibc-command-port", "70000"], "--ibc-command-port: 70000 is not a TCP port"),
])
def test_bad_values_name_the_option(args, message):
    with pytest.raises(UsageError) as caught:
        week(*args)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_example_scenario_is_valid_and_compresses_a_day(tmp_path):
    config = week("--scenario", str(EXAMPLE))
    assert config.time_scale > 1 and config.auto_restart is not None and config.second_factor
    assert config.farm_outage and config.connectivity_loss
    assert any(not loss.data_kept for loss in config.connectivity_loss)  # the 1101 case


def test_the_example_scenario_runs_a_compressed_login(processes):
    from tests.gateway_sim.week_support import lines_in_order, start_sim

    # The command line shortens the example's login: 1 simulated minute at 240x is a quarter second.
    sim = start_sim(processes, "--ibc-command-port", "0", "--scenario", str(EXAMPLE), "--java-start", "0",
                    "--second-factor", "1m")
    lines_in_order(sim.proc, [r"gateway week: .*time scale 240, simulated start 17:00:00",
                              r"second factor approved after 60s", r"state api-initialising: TCP accepted, "
                              r"handshakes held 600s", r"state ready"])


def test_the_command_line_wins_over_the_scenario(tmp_path):
    path = tmp_path / "week.yaml"
    path.write_text("second_factor: 20s\napi_delay: 40s\nfarm_outage: ['60:30']\nrestart_delay: 90\n")
    config = parse_arguments(["--port", "0", "--scenario", str(path), "--second-factor", "5",
                              "--farm-outage", "10:5", "--api-delay", "1"])
    assert config.week.second_factor == 5 and config.week.farm_outage == (FarmOutage(10, 5),)
    assert config.api_delay == 1 and config.week.restart_delay == 90
    assert parse_arguments(["--port", "0", "--scenario", str(path)]).api_delay == 40


def test_a_json_scenario_takes_mappings_as_well_as_strings(tmp_path):
    path = tmp_path / "week.json"
    path.write_text(json.dumps({"connectivity_loss": [{"at": "1h", "duration": 60, "data": "kept"}],
                                "competing_session": "2h:5m", "existing_session": True}))
    values = load_scenario(path)
    assert values == {"connectivity_loss": (ConnectivityLoss(3600, 60, True),),
                      "competing_session": (CompetingSession(7200, 300),), "existing_session": True}


@pytest.mark.parametrize("text, message", [
    ("farm_outages: ['60:30']\n", "unknown field 'farm_outages' (known: java_start, second_factor"),
    ("farm_outage:\n  - '60:30'\n  - {at: 60, duration: soon}\n",
     "farm_outage[1].duration: expected a duration (like 250ms, 2s, 1m), got \"soon\""),
    ("farm_outage: [{at: 60, duration: 30, farm: usfarm}]\n", "farm_outage[0].farm: unknown field 'farm'"),
    ("connectivity_loss: [{at: 60, duration: 30}]\n", "connectivity_loss[0].data: missing field 'data'"),
    ("competing_session: [60:30]\n", "competing_session[0]: expected \"AT:DURATION\" in quotes"),
    ("auto_restart: 23:45\n", "auto_restart: expected a time of day like \"23:45\" in quotes"),
    ("time_scale: true\n", "time_scale: expected a number above 0"),
    ("existing_session: 'yes'\n", "existing_session: expected true or false, got 'yes'"),
    ("second_factor: .inf\n", "second_factor: expected seconds until approval"),
    ("- second_factor: 5\n", "expected a mapping of options (like 'second_factor: 20s'), got list"),
    ("second_factor: [5\n", "line 2: not valid YAML"),
    ("ibc_command_port: 7462\n", "unknown field 'ibc_command_port'"),
])
def test_bad_scenarios_give_one_line_naming_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "week.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_or_bad_json_scenarios_are_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"--scenario: cannot read .*missing\.yaml: No such file or directory"):
        load_scenario(tmp_path / "missing.yaml")
    broken = tmp_path / "week.json"
    broken.write_text('{"second_factor": }')
    with pytest.raises(UsageError, match=r"week\.json: line 1: not valid JSON: Expecting value"):
        load_scenario(broken)


def test_every_scenario_key_is_a_week_field():
    assert set(SCENARIO_KEYS) <= {field.name for field in fields(WeekConfig)}


@pytest.mark.parametrize("args, message", [
    (["--farm-outage", "soon:30"], "--farm-outage: expected a duration"),
    (["--scenario", "{bad}"], "week.yaml: farm_outage[0]: expected AT:DURATION:FARMS, got 'tomorrow'"),
])
def test_the_command_line_prints_one_line_and_exits_2(tmp_path, args, message):
    scenario = tmp_path / "week.yaml"
    scenario.write_text("farm_outage: [tomorrow]\n")
    argv = [str(scenario) if arg == "{bad}" else arg for arg in args]
    result = subprocess.run([PYTHON, "-m", "services.gateway_sim", "--port", "0", *argv], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr

"""Doctor on a Gateway's own life: login phases, maintenance, farms, IB lost, a Gateway on another machine.

The rules on values first, then the real CLI against the simulator (external Gateways, and a
Gateway robostack starts whose login waits for a phone that never answers).
"""

from __future__ import annotations

import json
import re
import socket
import sys

import pytest

from launcher.gateway.condition import GatewayCondition
from launcher.hygiene.facts import ServiceFacts
from launcher.hygiene.findings import Holder
from launcher.hygiene.verdicts import judge
from tests.helpers import REPO, free_port, wait_for_log_line


def facts(condition: GatewayCondition, **changes) -> ServiceFacts:
    base = ServiceFacts(name="gateway", external=False, probe_kind="ib_api", ports=[4002], label="Gateway",
                        stack_running=True, managed_pids=[42], gateway=condition, ibc_address="127.0.0.1:7462")
    for name, value in changes.items():
        setattr(base, name, value)
    return base


@pytest.mark.parametrize("state, fix_words", [
    ("awaiting-second-factor", "approve the login on your phone (IBKR Mobile) now; IBC gives up at 14:05:11"),
    ("logging-in", "wait: IBC is filling in the login; a restart now would start it over"),
    ("api-initialising", "wait: the API answers 30-60 s after login"),
    ("restarting", "wait: IBC's soft restart keeps the login (no second factor)"),
    ("existing-session", "log out of the other session of this user"),
    ("maintenance", "nothing to do until it ends: robostack restarts nothing inside the window; if the Gateway is "
                    "still down after it, `robostack restart gateway`"),
])
def test_a_gateway_that_is_away_on_purpose_is_not_called_not_listening(state, fix_words):
    detail = "awaiting the second factor since 14:02:11: approve the login on the phone; IBC gives up at 14:05:11" \
        if state == "awaiting-second-factor" else f"{state} detail"
    verdict = judge(facts(GatewayCondition(state, detail)))  # nothing listens on 4002: no listener in the facts
    assert (verdict.code, verdict.detail) == (state, detail)
    assert verdict.fix.startswith(fix_words)


@pytest.mark.parametrize("state, fix_words", [
    ("farms-broken", "robostack will send RECONNECTDATA through IBC's command server (127.0.0.1:7462)"),
    ("connectivity-lost", "check this machine's network; IB restores the session by itself (1101 or 1102), and "
                          "robostack will send RECONNECTACCOUNT (127.0.0.1:7462) if it lasts"),
    ("competing-session", "log out of the other live session of this user that holds the market data"),
    ("read-only", "untick 'Read-Only API' (Configure → Settings → API → Settings)"),
])
def test_a_gateway_that_answers_but_cannot_serve(state, fix_words):
    listening = {4002: [Holder(42, "python -m services.gateway_sim")]}
    verdict = judge(facts(GatewayCondition(state, f"{state} detail", also=("read-only",)), listeners=listening))
    assert verdict.code == state and verdict.fix.startswith(fix_words)
    assert verdict.detail == f"{state} detail (also: read-only)"


def test_broken_farms_without_ibc_point_at_the_gateways_own_menu():
    verdict = judge(facts(GatewayCondition("farms-broken", "farms broken: usfarm since 14:02:11"), ibc_address=None,
                          listeners={4002: [Holder(42)]}))
    assert "Reconnect Data in the Gateway's window (Ctrl-Alt-F)" in verdict.fix


def test_a_failed_login_wins_over_not_running():
    condition = GatewayCondition("login-failed", "login failed at 14:05:11: IBC closing because login has not "
                                                 "completed after Second Factor Authentication")
    verdict = judge(facts(condition, managed_pids=[], stack_running=False, second_factor_timeout=120.0))
    assert verdict.code == "login-failed"
    assert verdict.fix.startswith("`robostack restart gateway`, then approve the login on your phone (IBKR Mobile) "
                                  "within 2m: IBC gives up after that; robostack does not retry on its own")


def doctor(stack) -> tuple[int, dict[str, dict]]:
    result = stack.run("doctor", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {s["name"]: s for s in json.loads(result.stdout)["services"]}


def test_doctor_dates_what_it_sees_by_the_live_supervisors_monitor_and_nothing_else():
    from launcher.hygiene.gateway_facts import with_monitors_view

    own = GatewayCondition("farms-broken", "farms broken: usfarm since 10:00:05", since=1005.0, farms_broken=("usfarm",))
    monitor = {"state": "farms-broken", "detail": "farms broken: usfarm since 09:12:00", "since": 972.0,
               "farms_broken": ["usfarm"]}
    assert with_monitors_view(own, monitor) == GatewayCondition("farms-broken", "farms broken: usfarm since 09:12:00",
                                                                since=972.0, farms_broken=("usfarm",))
    for recorded in (None, "farms-broken", {**monitor, "state": "ready"}, {**monitor, "farms_broken": ["ushmds"]},
                     {**monitor, "since": 2000.0}, {**monitor, "since": True}, {**monitor, "since": "972"},
                     {**monitor, "detail": ""}, {**monitor, "detail": 7}, {**monitor, "farms_broken": "usfarm"}):
        assert with_monitors_view(own, recorded) is own, recorded


def test_doctor_says_what_the_ladder_did_since_the_gateway_was_last_ready():
    from datetime import datetime, timedelta, timezone

    from launcher.hygiene.gateway_facts import LadderSoFar, ladder_so_far
    from launcher.hygiene.gateway_verdicts import degraded
    from launcher.state.events import Event

    def at(second: float, service: str, event: str, reason: str = "", **data) -> Event:
        return Event(datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc) + timedelta(seconds=second), service, event,
                     reason, data)

    timeline = [at(1, "gateway", "ibc-command", command="RECONNECTDATA", ok=True),  # an earlier trouble
                at(2, "gateway", "gateway-ready"),  # recovered: ready for a minute
                at(62, "gateway", "gateway-farms-broken"),
                at(72, "gateway", "ibc-command", command="RECONNECTDATA", ok=True),
                at(80, "trader", "restarted", "soft restart: not the Gateway"),
                at(84, "gateway", "restarted", "soft restart: farms broken; RECONNECTDATA did not help"),
                at(85, "gateway", "restarted", "exited with code 1"),  # not the ladder's
                at(86, "gateway", "gateway-ready"),  # a new session's "farm OK" greeting after the soft restart,
                at(86.01, "gateway", "gateway-farms-broken"),  # then its "farm broken": no recovery, the ladder goes on
                at(90, "gateway", "ib-outage", "...: this is on IB's side"),
                at(95, "gateway", "ibc-command", command="RECONNECTACCOUNT", ok=False)]
    steps, concluded = ladder_so_far(timeline, "gateway", timezone.utc)
    assert steps == ("sent RECONNECTDATA at 09:01:12", "restarted it softly at 09:01:24",
                     "concluded at 09:01:30 that the rest is on IB's side",
                     "sent RECONNECTACCOUNT at 09:01:35 (IBC did not say OK)")
    assert concluded and not ladder_so_far(timeline[:6], "gateway", timezone.utc).concluded
    farms = GatewayCondition("farms-broken", "farms broken: usfarm since 09:00:00", farms_broken=("usfarm",))
    _, _, fix = degraded(farms, "127.0.0.1:7462", LadderSoFar(steps[:3], concluded=True))
    assert fix == ("robostack has sent RECONNECTDATA at 09:01:12; restarted it softly at 09:01:24; concluded at "
                   "09:01:30 that the rest is on IB's side; wait for IB (a new login would not help)")
    assert degraded(farms, "127.0.0.1:7462", LadderSoFar(steps[:1]))[2].endswith("; it goes on if needed")
    assert degraded(farms, "127.0.0.1:7462")[2].startswith("robostack will send RECONNECTDATA")


def external(name: str, port: int, extra: str = "") -> str:
    return f"  {name}:\n    external: true\n    health: {{ib_api: {{port: {port}}}, timeout: 2s}}\n{extra}"


def test_doctor_hears_broken_farms_and_a_lost_ib_through_its_own_session(gateway_sim, robostack):
    farms = gateway_sim("--farm-outage", "0:1h")
    lost = gateway_sim("--connectivity-loss", "0:1h:lost")
    stack = robostack("services:\n" + external("farms", farms.port, "    ibc: {command_port: 7462}\n")
                      + external("lost", lost.port))
    code, services = doctor(stack)
    assert code == 1
    assert services["farms"]["verdict"] == "farms-broken"
    assert services["farms"]["detail"].startswith("farms broken: usfarm since ")
    assert "RECONNECTDATA through IBC's command server (127.0.0.1:7462)" in services["farms"]["fix"]
    assert services["lost"]["verdict"] == "connectivity-lost"
    assert services["lost"]["detail"].startswith("IB unreachable since ")
    rows = {check["name"]: check for check in services["farms"]["checks"]}
    assert rows["gateway"]["status"] == "fail" and rows["gateway"]["data"]["farms_broken"] == \
        ["usfarm", "ushmds", "secdefnj"]


def loopback_name() -> str:
    """A host name that is not a loopback literal but resolves to this machine (tests stay on loopback)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        addresses = set()
    if not addresses or not all(address.startswith("127.") or address == "::1" for address in addresses):
        pytest.skip(f"this machine's name {name!r} does not resolve to loopback only")
    return name


def test_a_gateway_on_another_machine_says_what_cannot_be_checked_from_here(gateway_sim, robostack):
    host = loopback_name()
    sim = gateway_sim()
    nothing = free_port()
    stack = robostack(f"""services:
  there:
    external: true
    host: {host}
    health: {{ib_api: {{port: {sim.port}}}, timeout: 2s}}
  gone:
    external: true
    host: {host}
    health: {{ib_api: {{port: {nothing}}}, timeout: 2s}}
""")
    code, services = doctor(stack)
    there = services["there"]
    assert there["verdict"] == "ok" and f"external, on {host} (its processes and sockets are not visible" in \
        there["detail"]
    rows = {check["name"]: check for check in there["checks"]}
    assert rows["process"]["status"] == "info" and rows["process"]["detail"] == \
        f"not checked: 'there' runs on {host}; robostack sees only this machine's processes"
    assert rows[f"port {sim.port}"]["detail"].startswith(f"on {host}: TCP connect ")
    assert rows["sockets"]["detail"].startswith(f"not checked: CLOSE_WAIT and FIN_WAIT_2 sockets of {host}")
    gone = services["gone"]
    assert code == 1 and gone["verdict"] == "unreachable"
    assert gone["detail"] == (f"connection refused on {host}:{nothing} (nothing listening); {host} is another "
                              "machine: robostack cannot see its processes or sockets from here")
    assert gone["fix"].startswith(f"start IB Gateway on {host} and log in; check that its API port is {nothing}")
    assert "nothing listens on port" not in json.dumps(services)

    dry = stack.run("up", "--dry-run")
    assert f"'there' runs on {host}: its ports ({sim.port}) and processes are on that machine, so foreign port " \
           "holders, zombie sockets and stale processes cannot be checked from here" in " ".join(dry.stdout.split())


def ibc_gateway(port: int, *sim_args: str) -> str:
    command = " ".join([sys.executable, "-m", "services.gateway_sim", "--port", str(port), "--state-file", "none",
                        "--ibc-command-port", "0", "--java-start", "0.2", *sim_args])
    return f"""services:
  gateway:
    command: {command}
    cwd: {REPO}
    ports: [{port}]
    health: {{ib_api: {{port: {port}}}, interval: 200ms, timeout: 2s}}
    ibc: {{second_factor_timeout: 2m}}
    startup_timeout: 90s
    stop_grace: 5s
"""


def test_a_login_waiting_for_the_phone_then_a_phone_that_never_answers(robostack):
    port = free_port()
    waiting = robostack(ibc_gateway(port, "--second-factor", "1h"))
    up = waiting.start("up")
    try:
        log = waiting.state_dir / "logs" / "gateway.log"
        wait_for_log_line(log, r"state awaiting-second-factor")
        code, services = doctor(waiting)
        assert code == 1 and services["gateway"]["verdict"] == "awaiting-second-factor"
        assert services["gateway"]["detail"].startswith("awaiting the second factor since ")
        assert services["gateway"]["fix"].startswith("approve the login on your phone (IBKR Mobile) now; IBC gives "
                                                     "up at ")
    finally:
        waiting.run("down", timeout=60)
        up.wait(timeout=60)
        up.stdout.close()

    never = robostack(ibc_gateway(free_port(), "--second-factor", "never", "--second-factor-timeout", "1"))
    result = never.run("up", timeout=120)
    assert result.returncode != 0
    code, services = doctor(never)
    assert services["gateway"]["verdict"] == "login-failed"
    assert services["gateway"]["detail"].endswith("IBC closing because login has not completed after Second Factor "
                                                  "Authentication")
    # Through the CLI, the suggested command repeats the stack file the user gave (`robostack -f FILE restart`).
    assert re.match(r"`robostack (-f \S+ )?restart gateway`, then approve the login on your phone",
                    services["gateway"]["fix"])

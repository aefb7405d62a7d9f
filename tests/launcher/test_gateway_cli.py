"""A Gateway under IBC through the real CLI against the simulator: a login waiting for its second factor in
`status`, a second factor that never comes, a farm outage in `status` and `doctor` (free ports only)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from tests.helpers import REPO, free_port, wait_for_log_line, wait_until


def gateway_stack(*sim_args: str, ibc: str = "") -> str:
    port, command_port = free_port(), free_port()
    argv = [sys.executable, "-m", "services.gateway_sim", "--port", str(port), "--state-file", "none",
            "--ibc-command-port", str(command_port), *sim_args]
    return (f"services:\n  gateway:\n    command: {' '.join(argv)}\n    cwd: {REPO}\n"
            f"    ports: [{port}, {command_port}]\n"
            f"    health: {{ib_api: {{port: {port}}}, interval: 250ms, timeout: 2s, retries: 2}}\n"
            f"    startup_timeout: 30s\n    stop_grace: 5s\n"
            f"    ibc: {{command_port: {command_port}{ibc}}}\n")


def trading_stack(*sim_args: str, head: str = "", gateway: str = "") -> str:
    """A simulated Gateway under IBC (its week from ``sim_args``), the WebSocket server and a trader on AAPL.

    ``head`` goes before ``services:`` (an alerts section), ``gateway`` into the Gateway's block (a
    maintenance window).
    """
    port, command_port, ws_port = free_port(), free_port(), free_port()
    sim = [sys.executable, "-m", "services.gateway_sim", "--port", str(port), "--state-file", "none",
           "--ibc-command-port", str(command_port), "--tick-interval", "0.1", *sim_args]
    return f"""generated_secrets: [ROBOSTACK_WS_TOKEN]
{head}
services:
  gateway:
    command: {' '.join(sim)}
    cwd: {REPO}
    health: {{ib_api: {{port: {port}}}, interval: 250ms, timeout: 2s, retries: 2}}
    startup_timeout: 30s
    stop_grace: 5s
    ibc: {{command_port: {command_port}}}
{gateway}  websocket:
    command: {sys.executable} -m services.websocket_server --port {ws_port}
    cwd: {REPO}
    env: {{ROBOSTACK_WS_TOKEN: "${{ROBOSTACK_WS_TOKEN}}"}}
    health: {{http: {{url: "http://127.0.0.1:{ws_port}/healthz"}}, interval: 250ms}}
    stop_grace: 5s
  trader:
    command: >-
      {sys.executable} -m services.runner_async --symbols AAPL --port {port} --client-id 10
      --ws-url ws://127.0.0.1:{ws_port}/publish --data-timeout 1 --max-backoff 1
    cwd: {REPO}
    env: {{ROBOSTACK_WS_TOKEN: "${{ROBOSTACK_WS_TOKEN}}"}}
    depends_on: [gateway, websocket]
    health: {{notify: {{watchdog_timeout: 30s}}, interval: 500ms}}
    startup_timeout: 30s
    stop_grace: 5s
    dependency_grace: 30s
"""


def alert_file(tmp_path) -> "Path":
    """Where the alert command of :func:`alerts_section` appends each alert's JSON, one per line."""
    alerts = tmp_path / "alerts.jsonl"
    (tmp_path / "alert.py").write_text(f"import sys\nopen({str(alerts)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    return alerts


def alerts_section(tmp_path, events: str) -> str:
    return f"alerts: {{command: {sys.executable} {tmp_path / 'alert.py'}, events: [{events}], dedup: 1s}}"


def gateway_row(status: subprocess.CompletedProcess) -> dict:
    return next(s for s in json.loads(status.stdout)["services"] if s["name"] == "gateway")


def test_a_second_factor_is_shown_while_awaited_and_one_that_never_comes_fails_with_its_verdict(robostack):
    stack = robostack(gateway_stack("--second-factor", "never", "--second-factor-timeout", "5",
                                    ibc=", second_factor_timeout: 5s"))
    up = stack.start("up")
    try:
        stack.wait_for_event("gateway", "awaiting-second-factor", timeout=30)
        row = gateway_row(stack.run("status", "--json"))
        assert row["state"] == "starting" and row["condition"]["state"] == "awaiting-second-factor", row
        assert "approve the login on the phone; IBC gives up at" in row["condition"]["detail"]
        assert "awaiting-second-factor: awaiting the second factor" in stack.run("status").stdout
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate(timeout=10)
    text = output.decode()
    assert up.returncode == 1, text
    assert "exited with code 87" in text and "login failed" in text, text
    events = [e["event"] for e in stack.events() if e["service"] == "gateway"]
    assert "gave-up" in events and events.count("starting") == 1  # never a second login on its own


def test_a_farm_outage_is_in_status_and_doctor_within_interval_times_retries(robostack):
    stack = robostack(gateway_stack("--farm-outage", "0.5:120", ibc=", reconnect_after: 2m"))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    broken = stack.wait_for_event("gateway", "gateway-farms-broken", timeout=30)
    heard = time.time()
    row = gateway_row(stack.run("status", "--json"))
    assert row["state"] == "healthy" and row["condition"]["state"] == "farms-broken", row
    # Into the next second, so that doctor's own session, on its own, would date the outage later than it began.
    wait_until(lambda: time.time() >= int(heard) + 1, timeout=5, what="the next second")
    assert "usfarm" in row["condition"]["farms_broken"]
    doctor = stack.run("doctor", "--json")
    verdicts = {s["name"]: s for s in json.loads(doctor.stdout)["services"]}
    assert verdicts["gateway"]["verdict"] == "farms-broken", verdicts["gateway"]
    assert "RECONNECTDATA" in verdicts["gateway"]["fix"]
    # Dated by the supervisor's monitor, which heard the outage begin, not by doctor's own session.
    assert verdicts["gateway"]["detail"] == gateway_row(stack.run("status", "--json"))["condition"]["detail"]
    assert stack.events()[broken]["event"] == "gateway-farms-broken"
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_a_farm_outage_is_cleared_by_the_ladders_reconnectdata_and_the_gateway_is_never_restarted(robostack):
    stack = robostack(gateway_stack("--farm-outage", "0.5:300", ibc=", reconnect_after: 500ms"))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    broken = stack.wait_for_event("gateway", "gateway-farms-broken", timeout=30)
    sent = stack.wait_for_event("gateway", "ibc-command", after=broken, timeout=30)
    event = stack.events()[sent]
    assert (event["command"], event["ok"]) == ("RECONNECTDATA", True), event
    # 2104/2106/2158 reach the monitor while IBC is still answering: ready may come before the command's event.
    stack.wait_for_event("gateway", "gateway-ready", after=broken, timeout=30)
    row = gateway_row(stack.run("status", "--json"))
    assert row["condition"]["state"] == "ready" and row["condition"]["farms_broken"] == [], row
    assert row["restarts"] == 0 and row["state"] == "healthy", row
    gateway_log = (stack.state_dir / "logs" / "gateway.log").read_text()
    assert "condition farms-ok:" in gateway_log and "on RECONNECTDATA" in gateway_log
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_an_outage_on_ibs_side_ends_the_ladder_with_one_event_and_doctor_says_what_was_done(robostack):
    stack = robostack(gateway_stack("--farm-outage", "0.5:300", "--outages-on-ibs-side", "--restart-delay", "0",
                                    "--restart-duration", "0.3", ibc=", reconnect_after: 500ms, escalate_after: 1s"))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    told = stack.wait_for_event("gateway", "ib-outage", timeout=60)
    assert "this is on IB's side" in stack.events()[told]["reason"]
    doctor = stack.run("doctor", "--json")
    verdict = {s["name"]: s for s in json.loads(doctor.stdout)["services"]}["gateway"]
    assert verdict["verdict"] == "farms-broken", verdict
    assert re.fullmatch(r"robostack has sent RECONNECTDATA at \S+; restarted it softly at \S+; concluded at \S+ "
                        r"that the rest is on IB's side; wait for IB \(a new login would not help\)", verdict["fix"]), \
        verdict["fix"]
    events = [e["event"] for e in stack.events() if e["service"] == "gateway"]
    assert events.count("ib-outage") == 1 and events.count("started") == 1, events
    # One round of the ladder: a new session's "farm OK" greeting after the soft restart is no recovery.
    assert events.count("ibc-command") == 1 and events.count("restarted") == 1, events
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_the_daily_restart_in_a_maintenance_window_and_a_1101_loss_are_no_restart_and_the_trader_resubscribes(
        robostack):
    from datetime import datetime, timedelta, timezone

    window = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%H:%M")  # now is inside it
    # 10x: the daily restart at 23:45 comes 3 s after the start, the API refuses for 2 s; 8 s after the login, IB is
    # lost for 2 s, the market data with it.
    stack = robostack(trading_stack("--time-scale", "10", "--timezone", "UTC", "--start-time", "23:44:30",
                                    "--auto-restart", "23:45", "--restart-duration", "20",
                                    "--connectivity-loss", "80:20:lost",
                                    gateway=f'    maintenance: [{{at: "{window}", duration: 10m, timezone: UTC}}]\n'))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    away = stack.wait_for_event("gateway", "maintenance-start", timeout=30)
    assert "maintenance until" in stack.events()[away]["reason"]
    back = stack.wait_for_event("gateway", "maintenance-end", after=away, timeout=30)
    trader_log = stack.state_dir / "logs" / "trader.log"
    wait_until(lambda: trader_log.read_text().count("subscribed to AAPL") >= 2, timeout=30,
               what="the trader subscribing again after the Gateway's restart")
    lost = stack.wait_for_event("gateway", "gateway-connectivity-lost", after=back, timeout=30)
    stack.wait_for_event("gateway", "gateway-ready", after=lost, timeout=30)
    wait_for_log_line(trader_log, r"market data lost \(1101\): subscribed again to AAPL", timeout=30)
    wait_for_log_line(trader_log, r"ready: ticks flowing again", timeout=30)
    gateway_events = [e["event"] for e in stack.events() if e["service"] == "gateway"]
    assert "restarting" not in gateway_events and "unhealthy" not in gateway_events, gateway_events
    assert "Re-starting session" in (stack.state_dir / "logs" / "gateway.log").read_text()
    rows = {s["name"]: s for s in json.loads(stack.run("status", "--json").stdout)["services"]}
    assert rows["gateway"]["restarts"] == 0 and rows["trader"]["restarts"] == 0
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_status_shows_a_gateway_in_its_window_as_maintenance_and_exits_0(robostack):
    import asyncio
    from datetime import datetime, timedelta, timezone

    from launcher.gateway.ibc import send_command

    window = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%H:%M")
    text = gateway_stack("--restart-delay", "0", "--restart-duration", "60")
    command_port = int(text.split("command_port: ")[1].split("}")[0])
    stack = robostack(text + f'    maintenance: [{{at: "{window}", duration: 10m, timezone: UTC}}]\n')
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    assert asyncio.run(send_command("127.0.0.1", command_port, "RESTART", timeout=5)).ok  # as IB's own restart
    stack.wait_for_event("gateway", "maintenance-start", timeout=30)
    status = stack.run("status")
    assert status.returncode == 0, status.stdout + status.stderr  # away on purpose: nothing is wrong
    assert "maintenance" in status.stdout and "maintenance until" in status.stdout
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_the_weekly_login_is_a_second_factor_alert_not_a_restart_and_the_trader_subscribes_again(robostack,
                                                                                                   tmp_path):
    alerts = alert_file(tmp_path)
    # 10x: Sunday 01:04 New York; each second factor takes 2 s, IBC's cold restart at 01:05 comes 6 s after the start.
    stack = robostack(trading_stack("--time-scale", "10", "--timezone", "America/New_York", "--start-day", "sun",
                                    "--start-time", "01:04:00", "--second-factor", "20", "--cold-restart", "01:05",
                                    head=alerts_section(tmp_path, "second-factor, restarting")))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    first = stack.wait_for_event("gateway", "awaiting-second-factor", timeout=30)
    ready = stack.wait_for_event("gateway", "gateway-ready", after=first, timeout=30)
    weekly = stack.wait_for_event("gateway", "awaiting-second-factor", after=ready + 1, timeout=30)
    stack.wait_for_event("gateway", "gateway-ready", after=weekly, timeout=30)
    gateway_log = (stack.state_dir / "logs" / "gateway.log").read_text()
    assert "IBC will cold-restart shortly" in gateway_log
    trader_log = stack.state_dir / "logs" / "trader.log"
    wait_until(lambda: trader_log.read_text().count("subscribed to AAPL") >= 2, timeout=30,
               what="the trader subscribing again after the weekly login")
    # Two prompts, each told to a person at once (the second folded with nothing else: dedup is 1 s).
    wait_until(lambda: alerts.exists() and alerts.read_text().count('"event": "second-factor"') >= 2, timeout=30,
               what="an alert for each second factor")
    gateway_events = [e["event"] for e in stack.events() if e["service"] == "gateway"]
    assert "restarting" not in gateway_events and gateway_events.count("starting") == 1, gateway_events
    rows = {s["name"]: s for s in json.loads(stack.run("status", "--json").stdout)["services"]}
    assert rows["gateway"]["restarts"] == 0 and rows["trader"]["restarts"] == 0, rows
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_a_weekly_login_nobody_approves_gives_up_with_an_alert_and_never_asks_the_phone_again(robostack, tmp_path):
    alerts = alert_file(tmp_path)
    # 10x: the first login's second factor comes after 2 s; the cold restart 6 s after the start asks again and
    # nobody answers: IBC gives up 3 s later.
    stack = robostack(alerts_section(tmp_path, "second-factor, gave-up") + "\n" + gateway_stack(
        "--time-scale", "10", "--timezone", "America/New_York", "--start-day", "sun", "--start-time", "01:04:00",
        "--second-factor", "20", "--later-second-factor", "never", "--second-factor-timeout", "30",
        "--cold-restart", "01:05", ibc=", second_factor_timeout: 3s"))
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    ready = stack.wait_for_event("gateway", "gateway-ready", timeout=30)
    weekly = stack.wait_for_event("gateway", "awaiting-second-factor", after=ready, timeout=30)
    gave_up = stack.wait_for_event("gateway", "gave-up", after=weekly, timeout=30)
    reason = stack.events()[gave_up]["reason"]
    assert "IBC closing because login has not completed" in reason and "not retried on its own" in reason, reason
    wait_until(lambda: alerts.exists() and '"event": "gave-up"' in alerts.read_text(), timeout=30,
               what="the gave-up alert")
    assert alerts.read_text().count('"event": "second-factor"') == 2
    gateway_events = [(e["event"], e["reason"]) for e in stack.events() if e["service"] == "gateway"]
    assert ("exited", "exited with code 87") in gateway_events, gateway_events
    # One process: before the fix, a probe just ahead of the exit left the login "awaiting", and the Gateway was
    # started again (a new phone prompt each time) until the login budget was spent.
    assert [event for event, _ in gateway_events].count("started") == 1, gateway_events
    row = gateway_row(stack.run("status", "--json"))
    assert row["state"] == "failed" and row["restarts"] == 0, row
    stack.run("down")


def test_a_crash_loop_stops_at_the_login_budget_and_a_person_may_restart_it(robostack):
    import os
    import signal

    stack = robostack(gateway_stack() + "    restart: always\n    backoff: {initial: 100ms}\n"
                                        "    login_budget: 2 per day\n")
    up = stack.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    # Two crashes: the first is restarted (a second login); a restart after the second would be a third login.
    os.kill(gateway_row(stack.run("status", "--json"))["pid"], signal.SIGKILL)  # a process this stack started
    restarted = stack.wait_for_event("gateway", "restarted", timeout=30)
    os.kill(gateway_row(stack.run("status", "--json"))["pid"], signal.SIGKILL)
    gave_up = stack.wait_for_event("gateway", "gave-up", after=restarted, timeout=30)
    assert "the login budget is spent (2 logins within 24h)" in stack.events()[gave_up]["reason"]
    status = stack.run("status")
    assert status.returncode == 1 and "failed" in status.stdout and "login budget" in status.stdout, status.stdout
    assert [e["event"] for e in stack.events() if e["service"] == "gateway"].count("started") == 2
    restart = stack.run("restart", "gateway")  # a person may: the budget only stops loops
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert gateway_row(stack.run("status", "--json"))["state"] == "healthy"
    down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr

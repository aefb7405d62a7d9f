"""The supervisor and a Gateway, in-process against the simulator: the monitor as liveness, the condition in
status and events, IBC soft restarts and STOP, the Gateway's own restarts as maintenance, the login budget."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from launcher.commands.status import StatusView, status_json
from launcher.errors import ServiceFailed
from launcher.gateway.ibc import send_command
from tests.helpers import REPO, free_port
from tests.launcher.harness import DEADLINE, Harness

SECOND_FACTOR = "Second Factor Authentication initiated"


def gateway_stack(*sim_args: str, ibc: bool = True, extra: str = "", interval: str = "200ms",
                  retries: int = 2) -> tuple[str, int, int]:
    """A stack of one simulated Gateway (IBC mode when `ibc`); returns (text, API port, command port)."""
    port, command_port = free_port(), free_port()
    argv = [sys.executable, "-m", "services.gateway_sim", "--port", str(port), "--state-file", "none",
            "--tick-interval", "0.1", *(("--ibc-command-port", str(command_port)) if ibc else ()), *sim_args]
    ibc_block = f"    ibc: {{command_port: {command_port}, reconnect_after: 300ms, restart_timeout: 20s}}\n" \
        if ibc else ""
    text = (f"services:\n  gateway:\n    command: {' '.join(argv)}\n    cwd: {REPO}\n"
            f"    health: {{ib_api: {{port: {port}}}, interval: {interval}, timeout: 2s, retries: {retries}}}\n"
            f"    startup_timeout: 30s\n    stop_grace: 5s\n    backoff: {{initial: 100ms}}\n{ibc_block}{extra}")
    return text, port, command_port


def gateway_log(h: Harness) -> str:
    return Path(h.supervisor.services["gateway"].record.log).read_text()


async def until(condition, what: str, timeout: float = DEADLINE):
    """Wait for ``condition()`` with a deadline, checking every 50 ms (the supervisor runs meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # pacing of the check; the deadline bounds it
    return condition()


def shown(h: Harness) -> dict:
    """The gateway's row as `status --json` shows it (from the supervisor's memory)."""
    view = StatusView(h.supervisor.state, alive=True, responding=True)
    return next(row for row in status_json(view)["services"] if row["name"] == "gateway")


async def test_the_monitor_is_the_liveness_one_connection_however_many_intervals(harness):
    text, _, _ = gateway_stack(ibc=False, interval="100ms")
    h = harness(text)
    await h.up()
    watch = h.services["gateway"].gateway
    await until(lambda: watch.monitor is not None and watch.monitor.heartbeats_answered >= 10, "10 heartbeats")
    accepted = re.findall(r"conn \d+ from \S+ accepted", gateway_log(h))
    assert len(accepted) == 1, accepted  # the gate's session is the monitor's: no connection per probe
    row = shown(h)
    assert row["state"] == "healthy" and row["condition"]["state"] == "ready"
    assert "heartbeat answered" in row["health"]["detail"]
    assert ("gateway", "gateway-ready") in h.recorder.timeline()


async def test_a_farm_outage_shows_at_once_and_the_ladder_sends_reconnectdata(harness):
    text, _, _ = gateway_stack("--farm-outage", "0.3:60")
    h = harness(text)
    await h.up()
    broken = await h.recorder.wait_for("gateway", "gateway-farms-broken")
    event = h.recorder.events[broken]
    assert "usfarm" in event.reason and event.data["farms_broken"]
    assert h.state("gateway") == "healthy"  # the API answers: healthy, and the condition says what is wrong
    sent = await h.recorder.wait_for("gateway", "ibc-command", after=broken)
    assert h.recorder.events[sent].data == {"command": "RECONNECTDATA", "ok": True}
    await h.recorder.wait_for("gateway", "gateway-ready", after=broken)  # 2104/2106/2158 as IBC answered
    assert shown(h)["condition"]["farms_broken"] == []
    assert h.supervisor.services["gateway"].record.restarts == 0


async def test_restart_is_soft_through_ibc_no_second_factor_and_down_sends_stop(harness):
    text, _, _ = gateway_stack("--second-factor", "0.2", "--restart-delay", "0.2", "--restart-duration", "0.5")
    h = harness(text)
    await h.up()
    assert ("gateway", "awaiting-second-factor") in h.recorder.timeline()
    pid = h.pid("gateway")
    mark = len(h.recorder.events)
    await h.supervisor.restart_requested("gateway", False)
    after = h.recorder.timeline()[mark:]
    assert [e for _, e in after if e in ("restarting", "starting", "maintenance-end", "healthy", "restarted")] == \
        ["restarting", "starting", "healthy", "restarted"]
    starting = h.recorder.events[h.recorder.find("gateway", "starting", mark)]
    assert "soft restart through IBC" in starting.reason and starting.data.get("soft") is True
    log = gateway_log(h)
    assert "Re-starting session" in log and log.count(SECOND_FACTOR) == 1  # the login was kept
    assert h.pid("gateway") == pid
    h.signal(signal.SIGTERM)
    await h.finished()
    assert "STOP command" in gateway_log(h)
    record = h.supervisor.services["gateway"].record
    assert record.exit == "exited with code 0", record.exit  # IBC's STOP ended it, not a signal


async def test_the_gateways_own_restart_is_maintenance_not_a_crash(harness):
    text, _, command_port = gateway_stack("--restart-delay", "0", "--restart-duration", "1.5")
    h = harness(text)
    await h.up()
    mark = len(h.recorder.events)
    reply = await send_command("127.0.0.1", command_port, "RESTART", timeout=5)  # as IB's daily restart would
    assert reply.ok
    away = await h.recorder.wait_for("gateway", "maintenance-start", after=mark)
    assert h.recorder.events[away].data["condition"] in ("restarting", "starting", "logging-in", "api-initialising")
    assert shown(h)["state"] == "maintenance"
    await h.recorder.wait_for("gateway", "maintenance-end", after=away)
    events = [e for _, e in h.recorder.timeline("gateway")[mark:]]
    assert "restarting" not in events and "unhealthy" not in events
    assert h.supervisor.services["gateway"].record.restarts == 0


async def test_a_restart_asked_for_during_the_gateways_own_restart_waits_for_it(harness):
    text, _, command_port = gateway_stack("--restart-delay", "0", "--restart-duration", "2")
    h = harness(text)
    await h.up()
    assert (await send_command("127.0.0.1", command_port, "RESTART", timeout=5)).ok
    await h.recorder.wait_for("gateway", "maintenance-start")
    await h.supervisor.restart_requested("gateway", False)  # IBC: "RESTART already in progress"
    assert h.state("gateway") == "healthy" and len(h.spawner.spawned) == 1  # no new process, no new login
    starting = h.recorder.events[h.recorder.find("gateway", "starting", 2)]
    assert "already in progress" in starting.reason


async def test_a_second_factor_that_never_comes_fails_the_start_with_its_verdict(harness):
    text, _, _ = gateway_stack("--second-factor", "never", "--second-factor-timeout", "1",
                               extra="    restart: always\n")
    h = harness(text.replace("restart_timeout: 20s", "restart_timeout: 20s, second_factor_timeout: 1s"))
    with pytest.raises(ServiceFailed) as failure:
        await h.up()
    assert ("gateway", "awaiting-second-factor") in h.recorder.timeline()
    assert "exited with code 87" in failure.value.detail
    assert "login failed" in failure.value.detail or "second factor" in failure.value.detail
    assert gateway_log(h).count(SECOND_FACTOR) == 1  # never asked again


async def test_a_weekly_second_factor_nobody_approves_is_judged_on_ibcs_last_lines_and_not_retried(harness):
    # 10x from Sunday 01:04:50 New York: logged in after 0.2 s, IBC's cold restart at 01:05 (1 s), and the weekly
    # prompt is never approved: IBC exits 87 after 1 s while the monitor probes every 200 ms. The exit must be
    # judged on IBC's last lines, not on the "awaiting" a probe read just before them.
    text, _, _ = gateway_stack("--time-scale", "10", "--timezone", "America/New_York", "--start-day", "sun",
                               "--start-time", "01:04:50", "--second-factor", "2", "--later-second-factor", "never",
                               "--second-factor-timeout", "10", "--cold-restart", "01:05",
                               extra="    restart: always\n")
    h = harness(text)
    await h.up()
    gave_up = await h.recorder.wait_for("gateway", "gave-up")
    assert "not retried on its own" in h.recorder.events[gave_up].reason
    assert h.state("gateway") == "failed" and len(h.spawner.spawned) == 1
    assert gateway_log(h).count(SECOND_FACTOR) == 2  # the first login's and the weekly one's: no third


async def test_a_hard_restart_loop_stops_at_the_login_budget(harness):
    text, _, _ = gateway_stack(ibc=False, extra="    restart: always\n    login_budget: 2 per day\n")
    h = harness(text)
    await h.up()
    first = h.pid("gateway")
    os.kill(first, signal.SIGKILL)  # a pid this test's supervisor started
    restarted = await h.recorder.wait_for("gateway", "restarted")
    second = h.pid("gateway")
    assert second != first
    os.kill(second, signal.SIGKILL)
    gave_up = await h.recorder.wait_for("gateway", "gave-up", after=restarted)
    assert "login budget is spent (2 logins" in h.recorder.events[gave_up].reason
    assert h.state("gateway") == "failed"
    assert len(h.spawner.spawned) == 2  # never a third login on its own
    await h.supervisor.restart_requested("gateway", False)  # a person may: the budget stops loops
    assert h.state("gateway") == "healthy" and len(h.spawner.spawned) == 3


async def test_a_hung_api_gets_a_soft_restart_from_the_ladder_not_a_new_login(harness):
    text, _, _ = gateway_stack("--fault", "hang-after", "2", "--restart-delay", "0", "--restart-duration", "0.3",
                               extra="    restart: always\n")
    h = harness(text.replace("timeout: 2s", "timeout: 500ms"))
    await h.up()
    pid = h.pid("gateway")
    unhealthy = await h.recorder.wait_for("gateway", "unhealthy")
    reason = h.recorder.events[unhealthy].reason
    assert "API dead" in reason or "no handshake answer" in reason, reason
    restarted = await h.recorder.wait_for("gateway", "restarted", after=unhealthy)
    assert "soft restart" in h.recorder.events[restarted].reason
    assert h.pid("gateway") == pid and len(h.spawner.spawned) == 1  # the same process: no second login
    assert "cleared by the restart" in gateway_log(h)


async def test_an_outage_on_ibs_side_climbs_the_gentle_rungs_once_then_says_so_and_asks_no_new_login(harness):
    text, _, _ = gateway_stack("--farm-outage", "0.3:60", "--outages-on-ibs-side", "--restart-delay", "0",
                               "--restart-duration", "0.3")
    h = harness(text.replace("restart_timeout: 20s}", "restart_timeout: 20s, escalate_after: 1s}"))
    await h.up()
    pid = h.pid("gateway")
    broken = await h.recorder.wait_for("gateway", "gateway-farms-broken")
    sent = await h.recorder.wait_for("gateway", "ibc-command", after=broken)
    assert h.recorder.events[sent].data == {"command": "RECONNECTDATA", "ok": True}
    restarted = await h.recorder.wait_for("gateway", "restarted", after=sent)
    assert "soft restart" in h.recorder.events[restarted].reason
    told = await h.recorder.wait_for("gateway", "ib-outage", after=restarted)
    assert "RECONNECTDATA and a soft restart did not help: this is on IB's side" in h.recorder.events[told].reason
    # The ladder is done: the next probes wait (no second RECONNECTDATA, restart or event), same process, no login.
    watch = h.services["gateway"].gateway
    probes = watch.monitor.heartbeats_answered
    await until(lambda: watch.monitor.heartbeats_answered >= probes + 10, "ten more probes")
    after = [e.event for e in h.recorder.events[told + 1:] if e.service == "gateway"]
    assert after.count("ib-outage") == 0 and "restarted" not in after and "ibc-command" not in after, after
    before = [e.event for e in h.recorder.events[:told] if e.service == "gateway"]
    assert before.count("ibc-command") == 1 and before.count("restarted") == 1, before  # one round, not a loop
    assert h.pid("gateway") == pid and len(h.spawner.spawned) == 1


async def down_from_run_state(processes, tmp_path: Path, ibc_address) -> tuple[object, Path, list[str]]:
    """A simulated Gateway under IBC, stopped as `down` does without a supervisor: from a run state whose
    Gateway record names ``ibc_address(command_port)`` as its IBC. Returns (process, its log, down's notes)."""
    from launcher.process.identity import identify
    from launcher.state.store import RunState, ServiceRecord
    from launcher.supervise.teardown import stop_recorded_services
    from tests.helpers import wait_for_log_line

    command_port = free_port()
    log = tmp_path / "gateway.log"
    sim = processes.python("-m", "services.gateway_sim", "--port", "0", "--state-file", "none",
                           "--ibc-command-port", str(command_port), stdout=log.open("wb"))
    wait_for_log_line(log, r"gateway_sim: state ready")
    record = ServiceRecord(name="gateway", state="healthy", pid=sim.pid, pgid=sim.pid,
                           create_time=identify(sim.pid).create_time, stop_grace=5.0,
                           ibc_address=ibc_address(command_port))
    notes: list[str] = []
    await stop_recorded_services(RunState(stack="s", stack_file="f", run_id="r", services={"gateway": record}),
                                 notes.append)
    return sim, log, notes


async def test_down_without_a_supervisor_sends_ibc_stop_before_any_signal(processes, tmp_path):
    sim, log, notes = await down_from_run_state(processes, tmp_path, lambda port: f"127.0.0.1:{port}")
    assert sim.wait(timeout=DEADLINE) == 0  # IBC's STOP ended it, not a signal
    assert "STOP command" in log.read_text()
    assert any("STOP: OK Shutting down" in note for note in notes), notes


async def test_with_ibc_unreachable_a_restart_falls_back_to_a_new_process_within_the_budget(harness):
    text, _, _ = gateway_stack(ibc=False)
    h = harness(text + f"    ibc: {{command_port: {free_port()}, timeout: 1s}}\n")  # nothing listens there
    await h.up()
    await h.supervisor.restart_requested("gateway", False)
    events = h.recorder.events
    failed_soft = [e for e in events if e.service == "gateway" and "no soft restart" in e.reason]
    assert failed_soft and "refuses connections" in failed_soft[0].reason
    assert h.state("gateway") == "healthy" and len(h.spawner.spawned) == 2  # one new login, within 3 a day


async def test_down_never_sends_stop_to_a_command_port_another_process_holds(processes, tmp_path):
    """The recorded IBC address is only a number: if another stack's Gateway (here a plain listener) holds
    that port now, `down` stops the recorded Gateway with signals and sends that port nothing."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        other.setblocking(False)
        sim, log, notes = await down_from_run_state(processes, tmp_path,
                                                    lambda _: f"127.0.0.1:{other.getsockname()[1]}")
        with pytest.raises(BlockingIOError):
            other.accept()  # nobody connected: no STOP reached the other process
    assert sim.wait(timeout=DEADLINE) is not None
    assert "STOP command" not in log.read_text()
    assert any(f"held by pid {os.getpid()}" in note and "STOP not sent" in note for note in notes), notes

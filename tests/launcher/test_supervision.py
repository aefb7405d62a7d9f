"""After `up`: liveness, restarts with backoff, crash loops, dependents, external services, `restart`.

The rules run in-process (the harness: the real supervisor on real processes); what a user
sees through the CLI (`robostack restart`, `logs -f`, `down` after the freeze) runs the CLI.
"""

from __future__ import annotations

import os
import signal
import sys

import psutil

from launcher.errors import ServiceFailed
from tests.helpers import REPO, free_port, kill_group, read_line_matching
from tests.launcher.conftest import service_command
from tests.launcher.stacks import freeze_stack

SIMULATOR = f"{sys.executable} -m services.gateway_sim"


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_crash_loop_backs_off_then_gives_up_with_the_reason_shown(harness, tmp_path):
    port = free_port()
    h = harness(f"""services:
  crashy:
    command: {service_command('--port', str(port), '--crash-on-restart', str(tmp_path / 'marker'))}
    health: {{tcp: {{port: {port}}}, interval: 200ms, retries: 2}}
    backoff: {{initial: 100ms, max: 1s}}
    max_restarts: 3 within 1m
""")
    await h.up()
    kill_group(h.services["crashy"].record.pgid)
    given_up = await h.recorder.wait_for("crashy", "gave-up")
    events = h.recorder.events
    assert [e.data["delay"] for e in events if e.event == "restarting"] == [0.1, 0.2, 0.4]
    assert "restarted 3 times within 1m" in events[given_up].reason
    assert "exited with code 3 before becoming healthy" in events[given_up].reason
    record = h.supervisor.status_reply()["state"]["services"]["crashy"]  # what `status` shows
    assert (record["state"], record["restarts"]) == ("failed", 3)
    assert "restarted 3 times within 1m" in record["reason"]


async def test_a_hung_gateway_is_caught_by_liveness_and_restarted(harness):
    port = free_port()
    h = harness(f"""services:
  gateway:
    command: {SIMULATOR} --port {port} --fault hang-after 0.3
    cwd: {REPO}
    health: {{ib_api: {{port: {port}}}, interval: 200ms, timeout: 300ms, retries: 2}}
    backoff: {{initial: 100ms}}
""")
    await h.up()
    first_pid = h.pid("gateway")
    unhealthy = await h.recorder.wait_for("gateway", "unhealthy")
    assert "handshake" in h.recorder.events[unhealthy].reason
    restarted = await h.recorder.wait_for("gateway", "restarted", after=unhealthy)
    healthy = await h.recorder.wait_for("gateway", "healthy", after=unhealthy)
    assert healthy < restarted
    assert h.pid("gateway") != first_pid and gone(first_pid)


def two_services(port_a: int, port_b: int, dependent_policy: str) -> str:
    return f"""services:
  a:
    command: {service_command('--port', str(port_a))}
    health: {{tcp: {{port: {port_a}}}, interval: 200ms}}
    backoff: {{initial: 100ms}}
  b:
    command: {service_command('--port', str(port_b))}
    depends_on: [a]
    on_dependency_restart: {dependent_policy}
    health: {{tcp: {{port: {port_b}}}, interval: 200ms}}
"""


async def test_dependents_with_restart_policy_stop_before_and_start_after(harness):
    h = harness(two_services(free_port(), free_port(), "restart"))
    await h.up()
    before = {name: h.pid(name) for name in ("a", "b")}
    mark = len(h.recorder.events)
    kill_group(h.services["a"].record.pgid)
    await h.recorder.wait_for("b", "healthy", after=mark)
    order = h.recorder.timeline()[mark:]
    expected = [("a", "exited"), ("a", "restarting"), ("b", "stopping"), ("b", "stopped"), ("a", "starting"),
                ("a", "healthy"), ("a", "restarted"), ("b", "starting"), ("b", "healthy")]
    assert [step for step in order if step in expected] == expected
    assert h.pid("a") != before["a"] and h.pid("b") != before["b"]


async def test_dependents_with_wait_policy_keep_running(harness):
    h = harness(two_services(free_port(), free_port(), "wait"))
    await h.up()
    b_pid = h.pid("b")
    mark = len(h.recorder.events)
    kill_group(h.services["a"].record.pgid)
    await h.recorder.wait_for("a", "restarted", after=mark)
    assert not [step for step in h.recorder.timeline("b")[mark:] if step[1] in ("stopping", "restarting")]
    assert h.pid("b") == b_pid


async def test_external_gateway_loss_is_shown_never_restarted_and_dependents_wait(harness, gateway_sim):
    simulator = gateway_sim()
    port_b = free_port()
    h = harness(f"""services:
  gateway:
    external: true
    ports: [{simulator.port}]
    health: {{ib_api: {{port: {simulator.port}}}, interval: 200ms, timeout: 1s, retries: 2}}
  b:
    command: {service_command('--port', str(port_b))}
    depends_on: [gateway]
    health: {{tcp: {{port: {port_b}}}, interval: 200ms}}
""")
    await h.up()
    assert h.state("gateway") == "external"
    mark = len(h.recorder.events)
    kill_group(simulator.pid)
    simulator.proc.wait(timeout=30)
    await h.recorder.wait_for("gateway", "external-down", after=mark)
    await h.recorder.wait_for("b", "waiting", after=mark)
    assert h.state("b") == "waiting"
    gateway_sim(port=simulator.port)
    back = await h.recorder.wait_for("gateway", "external-up", after=mark)
    await h.recorder.wait_for("b", "healthy", after=back)
    assert not [step for step in h.recorder.timeline() if step[1] in ("restarting", "stopping")]


def test_restart_command_restarts_a_service_and_its_dependents(robostack):
    stack = robostack(two_services(free_port(), free_port(), "wait"))
    assert stack.run("up", "--detach").returncode == 0
    before = {name: record["pid"] for name, record in stack.run_state()["services"].items()}
    only_a = stack.run("restart", "a")
    assert only_a.returncode == 0, only_a.stdout + only_a.stderr
    middle = {name: record["pid"] for name, record in stack.run_state()["services"].items()}
    assert middle["a"] != before["a"] and middle["b"] == before["b"]
    both = stack.run("restart", "a", "--with-dependents")
    assert both.returncode == 0, both.stdout + both.stderr
    after = {name: record["pid"] for name, record in stack.run_state()["services"].items()}
    assert after["a"] != middle["a"] and after["b"] != middle["b"]
    assert next(s for s in stack.status()["services"] if s["name"] == "a")["restarts"] == 2
    unknown = stack.run("restart", "nope")
    assert unknown.returncode == 2 and "unknown service 'nope'" in unknown.stderr


def test_restart_of_a_stack_that_is_not_running(robostack):
    stack = robostack("services:\n  a: {command: x}\n")
    result = stack.run("restart", "a")
    assert result.returncode == 5
    assert "not running" in result.stderr


def test_logs_follow_continues_across_a_restart(robostack):
    port = free_port()
    stack = robostack(f"services:\n  a:\n    command: {service_command('--port', str(port), '--print-ready')}\n"
                      f"    health: {{tcp: {{port: {port}}}}}\n")
    assert stack.run("up", "--detach").returncode == 0
    follower = stack.start("logs", "a", "-f", "-n", "5")
    try:
        read_line_matching(follower, r"a\s+\| service is ready")
        assert stack.run("restart", "a").returncode == 0
        new_pid = stack.run_state()["services"]["a"]["pid"]
        read_line_matching(follower, rf"--- robostack: starting a \(pid {new_pid}\)")
    finally:
        os.killpg(follower.pid, signal.SIGTERM)
        follower.wait(timeout=10)


async def test_a_notify_service_that_stops_its_watchdog_is_restarted(harness):
    h = harness(f"""services:
  quiet:
    command: {service_command('--notify-then-hang')}
    cwd: {REPO}
    health: {{notify: {{watchdog_timeout: 1s}}, interval: 200ms, retries: 2}}
    backoff: {{initial: 100ms}}
""")
    await h.up()
    first = h.pid("quiet")
    unhealthy = await h.recorder.wait_for("quiet", "unhealthy")
    assert "WATCHDOG" in h.recorder.events[unhealthy].reason
    await h.recorder.wait_for("quiet", "restarted", after=unhealthy)
    assert h.pid("quiet") != first


async def test_a_service_left_failed_is_watched_again_after_robostack_restart(harness):
    port = free_port()
    h = harness(f"""services:
  once:
    command: {service_command('--port', str(port))}
    health: {{tcp: {{port: {port}}}, interval: 200ms}}
    restart: no
""")
    await h.up()
    kill_group(h.services["once"].record.pgid)
    first_exit = await h.recorder.wait_for("once", "exited")
    await h.recorder.wait_for("once", "failed", after=first_exit)
    await h.supervisor.restart_requested("once", with_dependents=False)
    assert h.state("once") == "healthy"
    kill_group(h.services["once"].record.pgid)
    await h.recorder.wait_for("once", "exited", after=first_exit + 1)  # someone is watching it again


async def test_on_failure_stop_stack_takes_the_whole_stack_down(harness):
    ports = free_port(), free_port()
    h = harness(f"""services:
  steady:
    command: {service_command('--port', str(ports[0]))}
    health: {{tcp: {{port: {ports[0]}}}, interval: 200ms}}
  fragile:
    command: {service_command('--port', str(ports[1]))}
    health: {{tcp: {{port: {ports[1]}}}, interval: 200ms}}
    restart: no
    on_failure: stop-stack
""")
    await h.up()
    steady_pid = h.pid("steady")
    kill_group(h.services["fragile"].record.pgid)
    failure = await h.finished()
    assert isinstance(failure, ServiceFailed) and failure.service == "fragile"
    stopped = h.recorder.find("", "supervisor-stopped")
    assert "fragile failed and its on_failure is stop-stack" in h.recorder.events[stopped].reason
    assert gone(steady_pid)
    assert h.state("steady") == "stopped"


def test_a_dependent_crashing_while_its_dependency_restarts_ends_in_gave_up_and_down_is_prompt(robostack, tmp_path):
    """The interleaving that froze the supervisor at 100 % CPU on Python 3.12 and 3.13 (SIGTERM ignored,
    `down` SIGKILLing it after 30 s): b exits while a's restart holds it."""
    stack = robostack(freeze_stack(tmp_path / "marker"))
    assert stack.run("up", "--detach").returncode == 0
    kill_group(stack.run_state()["services"]["a"]["pgid"])
    stack.wait_for_event("b", "gave-up")
    status = stack.status()  # the supervisor answers: it is not frozen
    assert status["supervisor"]["responding"] and status["services"][1]["state"] == "failed"
    down = stack.run("down", timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "did not finish stopping" not in down.stdout  # stopped by itself, in order, not SIGKILLed by `down`
    assert stack.events()[-1]["event"] == "supervisor-stopped"

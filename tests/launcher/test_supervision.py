"""After `up`: liveness, restarts with backoff, crash loops, dependents, external services, `restart`."""

from __future__ import annotations

import json
import os
import signal
import sys

import psutil

from tests.helpers import REPO, free_port, kill_group, read_line_matching, wait_until
from tests.launcher.conftest import service_command
from tests.launcher.stacks import freeze_stack

SIMULATOR = f"{sys.executable} -m services.gateway_sim"


def events_of(stack) -> list[dict]:
    path = stack.state_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_event(stack, service: str, event: str, *, after: int = 0, timeout: float = 60) -> int:
    """Index of the first `event` of `service` at or after position `after` in the timeline."""
    def found():
        for index, entry in enumerate(events_of(stack)):
            if index >= after and entry["service"] == service and entry["event"] == event:
                return index + 1  # +1 so that index 0 is truthy
        return None

    return wait_until(found, timeout=timeout, what=f"event {event!r} of {service!r}") - 1


def service_state(stack, name: str) -> dict:
    return next(s for s in stack.status()["services"] if s["name"] == name)


def test_crash_loop_backs_off_then_gives_up_with_the_reason_shown(robostack, tmp_path):
    port = free_port()
    stack = robostack(f"""services:
  crashy:
    command: {service_command('--port', str(port), '--crash-on-restart', str(tmp_path / 'marker'))}
    health: {{tcp: {{port: {port}}}, interval: 200ms, retries: 2}}
    backoff: {{initial: 100ms, max: 1s}}
    max_restarts: 3 within 1m
""")
    assert stack.run("up", "--detach").returncode == 0
    kill_group(stack.run_state()["services"]["crashy"]["pgid"])
    given_up = wait_for_event(stack, "crashy", "gave-up")
    timeline = events_of(stack)
    delays = [e["delay"] for e in timeline if e["event"] == "restarting"]
    assert delays == [0.1, 0.2, 0.4]
    assert "restarted 3 times within 1m" in timeline[given_up]["reason"]
    assert "exited with code 3 before becoming healthy" in timeline[given_up]["reason"]
    status = service_state(stack, "crashy")
    assert status["state"] == "failed"
    assert status["restarts"] == 3
    assert "restarted 3 times within 1m" in status["reason"]
    assert stack.run("status").returncode == 1


def test_a_hung_gateway_is_caught_by_liveness_and_restarted(robostack):
    port = free_port()
    stack = robostack(f"""services:
  gateway:
    command: {SIMULATOR} --port {port} --fault hang-after 1
    health: {{ib_api: {{port: {port}}}, interval: 200ms, timeout: 500ms, retries: 2}}
    backoff: {{initial: 100ms}}
""")
    assert stack.run("up", "--detach").returncode == 0
    first_pid = stack.run_state()["services"]["gateway"]["pid"]
    unhealthy = wait_for_event(stack, "gateway", "unhealthy")
    assert "handshake" in events_of(stack)[unhealthy]["reason"]
    restarted = wait_for_event(stack, "gateway", "restarted", after=unhealthy)
    healthy = wait_for_event(stack, "gateway", "healthy", after=unhealthy)
    assert healthy < restarted
    assert stack.run_state()["services"]["gateway"]["pid"] != first_pid
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE


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


def test_dependents_with_restart_policy_stop_before_and_start_after(robostack):
    stack = robostack(two_services(free_port(), free_port(), "restart"))
    assert stack.run("up", "--detach").returncode == 0
    before = {name: record["pid"] for name, record in stack.run_state()["services"].items()}
    mark = len(events_of(stack))
    kill_group(stack.run_state()["services"]["a"]["pgid"])
    wait_for_event(stack, "b", "healthy", after=mark)
    order = [(e["service"], e["event"]) for e in events_of(stack)[mark:]]
    expected = [("a", "exited"), ("a", "restarting"), ("b", "stopping"), ("b", "stopped"), ("a", "starting"),
                ("a", "healthy"), ("a", "restarted"), ("b", "starting"), ("b", "healthy")]
    assert [step for step in order if step in expected] == expected
    after = {name: record["pid"] for name, record in stack.run_state()["services"].items()}
    assert after["a"] != before["a"] and after["b"] != before["b"]


def test_dependents_with_wait_policy_keep_running(robostack):
    stack = robostack(two_services(free_port(), free_port(), "wait"))
    assert stack.run("up", "--detach").returncode == 0
    b_pid = stack.run_state()["services"]["b"]["pid"]
    mark = len(events_of(stack))
    kill_group(stack.run_state()["services"]["a"]["pgid"])
    wait_for_event(stack, "a", "restarted", after=mark)
    assert not [e for e in events_of(stack)[mark:] if e["service"] == "b" and e["event"] in ("stopping", "restarting")]
    assert stack.run_state()["services"]["b"]["pid"] == b_pid


def test_external_gateway_loss_is_shown_never_restarted_and_dependents_wait(robostack, gateway_sim):
    simulator = gateway_sim()
    port_b = free_port()
    stack = robostack(f"""services:
  gateway:
    external: true
    ports: [{simulator.port}]
    health: {{ib_api: {{port: {simulator.port}}}, interval: 200ms, timeout: 1s, retries: 2}}
  b:
    command: {service_command('--port', str(port_b))}
    depends_on: [gateway]
    health: {{tcp: {{port: {port_b}}}, interval: 200ms}}
""")
    assert stack.run("up", "--detach").returncode == 0
    assert service_state(stack, "gateway")["state"] == "external"
    mark = len(events_of(stack))
    kill_group(simulator.pid)
    simulator.proc.wait(timeout=30)
    wait_for_event(stack, "gateway", "external-down", after=mark)
    wait_for_event(stack, "b", "waiting", after=mark)
    assert service_state(stack, "b")["state"] == "waiting"
    gateway_sim(port=simulator.port)
    wait_for_event(stack, "gateway", "external-up", after=mark)
    wait_until(lambda: service_state(stack, "b")["state"] == "healthy", what="b to stop waiting")
    restarts = [e for e in events_of(stack) if e["event"] in ("restarting", "stopping")]
    assert restarts == []


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
    assert service_state(stack, "a")["restarts"] == 2
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


def test_a_notify_service_that_stops_its_watchdog_is_restarted(robostack):
    stack = robostack(f"""services:
  quiet:
    command: {service_command('--notify-then-hang')}
    cwd: {REPO}
    health: {{notify: {{watchdog_timeout: 1s}}, interval: 200ms, retries: 2}}
    backoff: {{initial: 100ms}}
""")
    assert stack.run("up", "--detach").returncode == 0
    first = stack.run_state()["services"]["quiet"]["pid"]
    unhealthy = wait_for_event(stack, "quiet", "unhealthy")
    assert "WATCHDOG" in events_of(stack)[unhealthy]["reason"]
    wait_for_event(stack, "quiet", "restarted", after=unhealthy)
    assert stack.run_state()["services"]["quiet"]["pid"] != first


def test_a_service_left_failed_is_watched_again_after_robostack_restart(robostack):
    port = free_port()
    stack = robostack(f"""services:
  once:
    command: {service_command('--port', str(port))}
    health: {{tcp: {{port: {port}}}, interval: 200ms}}
    restart: no
""")
    assert stack.run("up", "--detach").returncode == 0
    kill_group(stack.run_state()["services"]["once"]["pgid"])
    first_exit = wait_for_event(stack, "once", "exited")
    wait_until(lambda: service_state(stack, "once")["state"] == "failed", what="restart: no to leave it failed")
    result = stack.run("restart", "once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert service_state(stack, "once")["state"] == "healthy"
    kill_group(stack.run_state()["services"]["once"]["pgid"])
    wait_for_event(stack, "once", "exited", after=first_exit + 1)  # someone is watching it again


def test_on_failure_stop_stack_takes_the_whole_stack_down(robostack):
    ports = free_port(), free_port()
    stack = robostack(f"""services:
  steady:
    command: {service_command('--port', str(ports[0]))}
    health: {{tcp: {{port: {ports[0]}}}, interval: 200ms}}
  fragile:
    command: {service_command('--port', str(ports[1]))}
    health: {{tcp: {{port: {ports[1]}}}, interval: 200ms}}
    restart: no
    on_failure: stop-stack
""")
    assert stack.run("up", "--detach").returncode == 0
    steady_pid = stack.run_state()["services"]["steady"]["pid"]
    supervisor = stack.status()["supervisor_pid"]
    kill_group(stack.run_state()["services"]["fragile"]["pgid"])
    stopped = wait_for_event(stack, "", "supervisor-stopped")
    assert "fragile failed and its on_failure is stop-stack" in events_of(stack)[stopped]["reason"]
    wait_until(lambda: not psutil.pid_exists(supervisor) or psutil.Process(supervisor).status() == "zombie",
               what="the supervisor to exit")
    assert not psutil.pid_exists(steady_pid) or psutil.Process(steady_pid).status() == psutil.STATUS_ZOMBIE
    assert stack.status()["services"][0]["state"] == "stopped"


def test_a_dependent_crashing_while_its_dependency_restarts_ends_in_gave_up_and_down_is_prompt(robostack, tmp_path):
    """The interleaving that froze the supervisor at 100 % CPU on Python 3.12 and 3.13 (SIGTERM ignored,
    `down` SIGKILLing it after 30 s): b exits while a's restart holds it."""
    stack = robostack(freeze_stack(tmp_path / "marker"))
    assert stack.run("up", "--detach").returncode == 0
    kill_group(stack.run_state()["services"]["a"]["pgid"])
    wait_for_event(stack, "b", "gave-up")
    assert service_state(stack, "b")["state"] == "failed"  # the supervisor answers status: it is not frozen
    down = stack.run("down", timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "did not finish stopping" not in down.stdout  # stopped by itself, in order, not SIGKILLed by `down`
    assert events_of(stack)[-1]["event"] == "supervisor-stopped"

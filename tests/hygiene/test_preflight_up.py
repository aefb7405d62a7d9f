"""Pre-flight through the real `robostack up`: stale leftovers stopped, strangers spared, refusals, --dry-run.

Every refusal is checked three ways: exit code 4 with a one-line message naming the
culprit, the culprit still running, and nothing of the stack started (the service's
journal file never written).
"""

from __future__ import annotations

import os
import signal
import sys

import psutil

from tests.helpers import free_port, read_line_matching, wait_until
from tests.hygiene.conftest import close_wait_sockets, make_close_wait
from tests.launcher.conftest import service_command


def gateway_stack(port: int, journal) -> str:
    """A managed Gateway simulator on `port` whose `stale` pattern names that port, and a client of it."""
    return f"""services:
  gateway:
    command: {sys.executable} -m services.gateway_sim --port {port} --tick-interval 5
    ports: [{port}]
    health: {{ib_api: {{port: {port}}}}}
    stop_grace: 5s
    stale: ['services\\.gateway_sim\\b.*--port[= ]{port}\\b']
  trader:
    command: {service_command('--name', 'trader', '--journal', str(journal))}
    depends_on: [gateway]
"""


def start_sim(processes, port: int):
    proc = processes.python("-m", "services.gateway_sim", "--port", str(port), "--tick-interval", "5")
    read_line_matching(proc, rf"listening on 127\.0\.0\.1:{port}")
    return proc


def test_up_stops_a_matching_leftover_and_spares_a_similar_process(robostack, processes, tmp_path):
    port, other_port = free_port(), free_port()
    leftover = start_sim(processes, port)  # a Gateway simulator from an earlier session, holding the port
    similar = start_sim(processes, other_port)  # same program, another port: not this stack's
    stack = robostack(gateway_stack(port, tmp_path / "journal"))

    result = stack.run("up", "--detach")

    assert result.returncode == 0, result.stdout + result.stderr
    read_line_matching(leftover, r"SIGTERM received")  # stopped the way the service is: its stop signal
    assert leftover.wait(timeout=30) == 0
    assert (f"pre-flight: stale 'gateway' process pid {leftover.pid} ({os.path.basename(sys.executable)} -m "
            f"services.gateway_sim --port {port}") in result.stdout
    assert "stopped on SIGTERM" in result.stdout
    assert similar.poll() is None and f"pid {similar.pid} " not in result.stdout
    assert stack.run_state()["services"]["gateway"]["pid"] not in (None, leftover.pid)
    assert (tmp_path / "journal").exists()


def test_up_refuses_a_foreign_process_on_a_service_port_and_leaves_it_alone(robostack, foreign_holder, tmp_path, token):
    port = free_port()
    holder = foreign_holder(port, name=f"foreign-{token}")
    journal = tmp_path / "journal"
    stack = robostack(f"""services:
  web:
    command: {service_command('--name', 'web-' + token, '--journal', str(journal), '--port', str(port))}
    ports: [{port}]
    health: {{tcp: {{port: {port}}}}}
    stale: ['--name web-{token}\\b']
""")
    result = stack.run("up", "--detach")

    assert result.returncode == 4, result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.startswith(f"robostack: pre-flight refused: port {port} of service 'web' is held by pid "
                              f"{holder.pid} (")
    assert f"foreign-{token}" in message and f"`kill {holder.pid}`" in message
    assert message.endswith("nothing was started") and "\n" not in message and "Traceback" not in message
    assert holder.poll() is None
    assert not journal.exists()
    assert stack.run_state()["services"]["web"]["pid"] is None


def test_up_refuses_an_external_gateway_holding_close_wait_sockets(gateway_sim, robostack, tmp_path):
    sim = gateway_sim("--fault", "close-wait")
    make_close_wait(sim.port, sim.pid, count=3)
    journal = tmp_path / "journal"
    stack = robostack(f"""services:
  gateway:
    external: true
    ports: [{sim.port}]
    health: {{ib_api: {{port: {sim.port}}}, timeout: 300ms}}
    startup_timeout: 2s
  trader:
    command: {service_command('--name', 'trader', '--journal', str(journal))}
    depends_on: [gateway]
""")
    finding = (f"Gateway (pid {sim.pid}) holds 3 CLOSE_WAIT sockets on port {sim.port}; "
               "they clear only when Gateway restarts")

    refused = stack.run("up")
    ignored = stack.run("up", "--ignore-zombies")

    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert refused.stderr.startswith(f"robostack: pre-flight refused: {finding}: restart IB Gateway")
    assert "--ignore-zombies" in refused.stderr
    # With --ignore-zombies pre-flight lets it through; the mute Gateway then fails its gate (exit 1, not 4).
    assert ignored.returncode == 1, ignored.stdout + ignored.stderr
    assert f"pre-flight: {finding} (starting anyway: --ignore-zombies)" in ignored.stdout
    assert "no handshake answer" in ignored.stderr
    assert not journal.exists()
    assert sim.proc.poll() is None and close_wait_sockets(sim.port, sim.pid) == 3  # never touched


def test_dry_run_names_stale_processes_and_conflicts_and_stops_nothing(robostack, processes, foreign_holder, token):
    port, web_port = free_port(), free_port()
    stale = start_sim(processes, port)
    holder = foreign_holder(web_port, name=f"holder-{token}")
    stack = robostack(f"""services:
  gateway:
    command: {sys.executable} -m services.gateway_sim --port {port} --tick-interval 5
    ports: [{port}]
    stale: ['services\\.gateway_sim\\b.*--port[= ]{port}\\b']
  web:
    command: {service_command('--name', 'web-' + token, '--port', str(web_port))}
    ports: [{web_port}]
""")
    result = stack.run("up", "--dry-run")

    assert result.returncode == 4, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert any(line.startswith(f"would stop  stale 'gateway' process pid {stale.pid} (") and
               line.endswith("(SIGTERM, SIGKILL after 10s)") for line in lines), result.stdout
    assert any(line.startswith(f"would refuse port {web_port} of service 'web' is held by pid {holder.pid}")
               for line in lines), result.stdout
    assert lines[-1] == "`up` would refuse (exit 4)"
    assert stale.poll() is None and holder.poll() is None
    assert not stack.state_dir.joinpath("run.json").exists()  # no run was even begun


def test_dry_run_names_the_leftovers_of_a_killed_supervisor_and_stops_nothing(robostack, token):
    web_port = free_port()
    stack = robostack(f"""services:
  web:
    command: {service_command('--name', 'web-' + token, '--port', str(web_port))}
    ports: [{web_port}]
    health: {{tcp: {{port: {web_port}}}}}
""")
    assert stack.run("up", "--detach").returncode == 0
    recorded = stack.run_state()
    supervisor, leftover = recorded["supervisor_pid"], recorded["services"]["web"]["pid"]
    os.kill(supervisor, signal.SIGKILL)  # the supervisor dies; its service stays behind
    wait_until(lambda: not psutil.pid_exists(supervisor) or psutil.Process(supervisor).status() == psutil.STATUS_ZOMBIE,
               what="the supervisor to die")

    result = stack.run("up", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"would stop  leftover 'web' of an earlier run: pid {leftover} (recorded in the run state" in result.stdout
    assert result.stdout.splitlines()[-1] == "`up` would proceed"
    assert psutil.Process(leftover).status() != psutil.STATUS_ZOMBIE

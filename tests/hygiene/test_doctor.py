"""`robostack doctor` against the real Gateway simulator in each fault mode, and real foreign processes.

Every case runs the real CLI (`doctor --json`) and checks the verdict, the words of its
detail and fix, and that doctor disturbed nothing: processes still run, the zombie
sockets it found are neither more nor fewer, and no connection of its own lingers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import psutil
from ib_async import IB

from launcher.process.sockets import zombie_sockets
from tests.helpers import REPO, free_port, read_line_matching
from tests.hygiene.conftest import close_wait_sockets, make_close_wait
from tests.launcher.conftest import service_command


def external_gateway(name: str, port: int) -> str:
    return f"  {name}:\n    external: true\n    health: {{ib_api: {{port: {port}}}, timeout: 2s}}\n"


def doctor(stack, *args: str) -> tuple[int, dict]:
    result = stack.run("doctor", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict) -> dict[str, dict]:
    return {service["name"]: service for service in report["services"]}


def test_each_gateway_fault_gets_its_verdict_and_doctor_leaves_nothing(gateway_sim, robostack):
    healthy = gateway_sim()
    silent = gateway_sim("--fault", "silent")
    zombie = gateway_sim("--fault", "close-wait")
    initialising = gateway_sim("--api-delay", "30")
    untrusting = gateway_sim("--trusted-ips", "10.9.8.7")
    nothing = free_port()
    make_close_wait(zombie.port, zombie.pid, count=3)
    stack = robostack("services:\n" + external_gateway("healthy", healthy.port) + external_gateway("silent", silent.port)
                      + external_gateway("zombie", zombie.port) + external_gateway("initialising", initialising.port)
                      + external_gateway("untrusting", untrusting.port) + external_gateway("nothing", nothing))

    code, report = doctor(stack)

    assert code == 1
    services = by_name(report)
    assert {name: s["verdict"] for name, s in services.items()} == {
        "healthy": "ok", "silent": "api-silent", "zombie": "close-wait", "initialising": "api-silent",
        "untrusting": "version-mismatch", "nothing": "not-listening"}
    assert all(set(s) == {"name", "verdict", "detail", "fix", "checks"} for s in report["services"])
    assert "server version 178" in services["healthy"]["detail"] and services["healthy"]["fix"] == ""
    assert services["silent"]["detail"].startswith(f"Gateway (pid {silent.pid}, up ")
    assert services["silent"]["detail"].endswith("then no handshake answer within 2s (0 bytes received)")
    assert "its API layer answers only 30-60 s after login; wait" in services["initialising"]["fix"]
    assert services["zombie"]["detail"] == (f"Gateway (pid {zombie.pid}) holds 3 CLOSE_WAIT sockets on port "
                                            f"{zombie.port}; they clear only when Gateway restarts")
    assert services["zombie"]["fix"].startswith("restart IB Gateway (and log in again)")
    assert services["untrusting"]["fix"].startswith("add 127.0.0.1 to Trusted IPs")
    assert services["nothing"]["detail"] == f"nothing listens on port {nothing} (TCP connect refused)"
    checks = {check["name"]: check for check in services["healthy"]["checks"]}
    assert checks["api"]["data"]["server_version"] == 178 and checks["session"]["data"]["accounts"] == ["DU1234567"]
    assert checks[f"port {healthy.port}"]["data"]["tcp_connect_seconds"] is not None
    # No side effects: the zombies are exactly the ones we made, and every simulator still runs.
    assert close_wait_sockets(zombie.port, zombie.pid) == 3
    for sim in (healthy, silent, initialising, untrusting):
        assert zombie_sockets([sim.port]) == []
    assert all(sim.proc.poll() is None for sim in (healthy, silent, zombie, initialising, untrusting))


async def test_client_id_in_use_names_the_client_holding_it(gateway_sim, robostack):
    sim = gateway_sim()
    squatter, trader = IB(), IB()
    await squatter.connectAsync("127.0.0.1", sim.port, clientId=999, timeout=20)
    await trader.connectAsync("127.0.0.1", sim.port, clientId=10, timeout=20)
    stack = robostack("services:\n" + external_gateway("gateway", sim.port))
    try:
        process = await asyncio.create_subprocess_exec(*stack.argv("doctor", "--json"), env=stack.env, cwd=REPO,
                                                       stdout=asyncio.subprocess.PIPE)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        gateway = by_name(json.loads(output))["gateway"]
        assert process.returncode == 1
        assert gateway["verdict"] == "client-id-in-use"
        assert gateway["fix"].startswith("client id 999 in use: another client")
        assert f"pid {os.getpid()} " in gateway["fix"]  # this test process holds both connections
        session = next(check for check in gateway["checks"] if check["name"] == "session")
        assert 326 in session["data"]["error_codes"]
        assert trader.isConnected() and await trader.reqCurrentTimeAsync()  # the trader was not disturbed
    finally:
        squatter.disconnect()
        trader.disconnect()


def test_foreign_port_holder_and_stale_process_on_a_stack_that_is_down(robostack, foreign_holder, processes, token):
    web_port, gateway_port = free_port(), free_port()
    holder = foreign_holder(web_port)
    stale = processes.python("-m", "services.gateway_sim", "--port", str(gateway_port), "--tick-interval", "5")
    read_line_matching(stale, rf"listening on 127\.0\.0\.1:{gateway_port}")
    stack = robostack(f"""services:
  gateway:
    command: {sys.executable} -m services.gateway_sim --port {gateway_port}
    ports: [{gateway_port}]
    health: {{ib_api: {{port: {gateway_port}}}}}
    stale: ['services\\.gateway_sim\\b.*--port[= ]{gateway_port}\\b']
  web:
    command: {service_command('--name', 'web-' + token, '--port', str(web_port))}
    ports: [{web_port}]
    stale: ['--name web-{token}\\b']
""")
    code, report = doctor(stack)

    services = by_name(report)
    assert code == 1
    assert services["web"]["verdict"] == "port-held-by-other"
    assert services["web"]["detail"].startswith(f"port {web_port} is held by pid {holder.pid} (")
    assert f"`kill {holder.pid}`" in services["web"]["fix"]
    assert services["gateway"]["verdict"] == "stale-processes"
    assert services["gateway"]["detail"].startswith(f"1 stale process matches its `stale` patterns: pid {stale.pid} (")
    assert services["gateway"]["detail"].endswith(f"holding port {gateway_port}")
    # The fix repeats the `-f FILE` the user gave, so it acts on the same stack when pasted.
    assert services["gateway"]["fix"].startswith(f"`robostack -f {stack.stack_file} up` stops them first")
    assert f"`robostack -f {stack.stack_file} up --dry-run`" in services["gateway"]["fix"]
    assert holder.poll() is None and stale.poll() is None  # doctor only looks


def test_doctor_on_a_running_stack_says_ok_and_touches_nothing(robostack, tmp_path):
    gateway_port, web_port = free_port(), free_port()
    stack = robostack(f"""services:
  gateway:
    command: {sys.executable} -m services.gateway_sim --port {gateway_port} --tick-interval 5
    ports: [{gateway_port}]
    health: {{ib_api: {{port: {gateway_port}}}}}
  web:
    command: {service_command('--name', 'web', '--port', str(web_port))}
    ports: [{web_port}]
    depends_on: [gateway]
    health: {{tcp: {{port: {web_port}}}}}
""")
    assert stack.run("up", "--detach").returncode == 0
    pids = {name: record["pid"] for name, record in stack.run_state()["services"].items()}

    result = stack.run("doctor")
    code, report = doctor(stack, "gateway")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 2 services ok" in result.stdout
    assert code == 0 and [s["name"] for s in report["services"]] == ["gateway"]
    assert report["services"][0]["detail"].startswith(f"pid {pids['gateway']}, up ")
    assert {name: record["pid"] for name, record in stack.run_state()["services"].items()} == pids
    assert all(psutil.pid_exists(pid) for pid in pids.values())
    unknown = stack.run("doctor", "nosuch")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "robostack: no service named 'nosuch' in stack.yaml (services: gateway, web)"

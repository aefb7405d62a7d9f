"""The Gateway monitor against the simulator: one session, heartbeats, notices, its faults and its week."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from launcher.gateway.ibc import send_command
from launcher.probes.base import ProbeContext
from launcher.probes.gateway_monitor import GatewayMonitor
from launcher.stack.loader import load_stack
from launcher.stack.model import Health, Service
from tests.gateway_sim.support import WireClient
from tests.helpers import DEFAULT_DEADLINE, leftover_sockets, wait_for_log_line

PORT_LINE = r"API port 127\.0\.0\.1:(\d+) reserved|listening on 127\.0\.0\.1:(\d+)"
COMMAND_LINE = r"CommandServer listening on address: 127\.0\.0\.1 port: (\d+)"


@dataclass
class LoggedSim:
    port: int
    command_port: int | None
    log: Path

    def accepted(self) -> int:
        """API connections the simulator accepted so far."""
        return len(re.findall(r"conn \d+ from \S+ accepted", self.log.read_text()))


def start_logged_sim(processes, tmp_path: Path, *args: str,
                     ready: str | None = r"gateway_sim: listening on 127") -> LoggedSim:
    log = tmp_path / "gateway.log"
    processes.python("-m", "services.gateway_sim", "--port", "0", *args, stdout=log.open("wb"))
    match = re.search(PORT_LINE, wait_for_log_line(log, PORT_LINE))
    command = None
    if "--ibc-command-port" in args:
        command = int(re.search(COMMAND_LINE, wait_for_log_line(log, COMMAND_LINE)).group(1))
    if ready:
        wait_for_log_line(log, ready)
    return LoggedSim(int(match.group(1) or match.group(2)), command, log)


def monitor_for(sim: LoggedSim, *, interval: str = "1s", timeout: str = "2s", service: dict | None = None,
                on_notice=None, **check) -> GatewayMonitor:
    spec = Service.model_validate({"command": "x", "health": {"ib_api": {"port": sim.port, **check},
                                                                "interval": interval, "timeout": timeout},
                                   **(service or {})})
    return GatewayMonitor(spec.health, service=spec, context=ProbeContext("gateway", log_path=sim.log),
                          on_notice=on_notice)


async def until(condition, what: str, step=None, timeout: float = DEFAULT_DEADLINE):
    """Poll ``condition`` (after ``step``, when given) until true; every wait has a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if step is not None:
            await step()
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling pace; the deadline above bounds the wait


def test_a_healthy_gateway_costs_one_connection_however_many_verdicts(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--tick-interval", "0.05")
    monitor = monitor_for(sim)

    async def run():
        first = await monitor.start()
        results = [await monitor.verdict() for _ in range(30)]
        await monitor.close()
        await monitor.close()  # idempotent
        return first, results

    first, results = asyncio.run(run())
    assert first.ok and first.detail.startswith("monitor session opened (client id 998): server version 178")
    assert all(result.ok and result.detail.startswith("heartbeat answered in") for result in results)
    snapshot = monitor.snapshot()
    assert (snapshot.sessions_opened, snapshot.connections_opened, snapshot.heartbeats_answered) == (1, 1, 30)
    assert sim.accepted() == 1
    wait_for_log_line(sim.log, r"conn 1 disconnected: closed by client \(client id 998\)")
    assert leftover_sockets(sim.port) == []


def test_a_farm_outage_is_heard_at_once_and_its_end_too(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--farm-outage", "1:2")
    heard = []
    monitor = monitor_for(sim, on_notice=lambda notice, board: heard.append((notice.code, tuple(board.farms_broken))))

    async def run():
        assert (await monitor.start()).ok
        await until(lambda: monitor.condition().state == "farms-broken", "farms broken")
        broken = monitor.condition()
        verdict = await monitor.verdict()
        await until(lambda: monitor.condition().state == "ready", "farms OK again", step=monitor.verdict)
        await monitor.close()
        return broken, verdict

    broken, verdict = asyncio.run(run())
    assert broken.farms_broken == ("usfarm", "ushmds", "secdefnj")
    assert broken.detail.startswith("farms broken: usfarm since ")
    assert verdict.ok and verdict.detail.endswith("(farms broken: secdefnj, usfarm, ushmds)")  # the API still answers
    assert [code for code, _ in heard] == [2104, 2106, 2158,  # the session's start: every farm OK
                                           2103, 2105, 2157, 2104, 2106, 2158]
    assert heard[5] == (2157, ("usfarm", "ushmds", "secdefnj"))


def test_reconnectdata_ends_the_outage_the_monitor_sees_it(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--ibc-command-port", "0", "--farm-outage", "0.5:1h")
    monitor = monitor_for(sim)

    async def run():
        await monitor.start()
        await until(lambda: monitor.condition().state == "farms-broken", "farms broken")
        reply = await send_command("127.0.0.1", sim.command_port, "RECONNECTDATA", timeout=10)
        await until(lambda: monitor.condition().state == "ready", "farms OK after RECONNECTDATA")
        await monitor.close()
        return reply

    assert asyncio.run(run()).ok
    assert monitor.snapshot().sessions_opened == 1


def test_connectivity_lost_then_restored_with_the_data_lost(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--connectivity-loss", "0.5:1.5:lost")
    monitor = monitor_for(sim)

    async def run():
        await monitor.start()
        await until(lambda: monitor.condition().state == "connectivity-lost", "1100")
        lost = monitor.condition()
        await until(lambda: monitor.snapshot().board.data_lost_at is not None, "1101")
        restored = monitor.condition()
        await monitor.close()
        return lost, restored

    lost, restored = asyncio.run(run())
    assert lost.detail.startswith("IB unreachable since ") and "(1100)" in lost.detail
    assert restored.state == "ready"
    assert [code for code, _ in monitor.snapshot().recent_errors][-2:] == [1100, 1101]


def test_tcp_alive_api_dead_fails_every_verdict_from_the_hang_on(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--fault", "hang-after", "2")
    monitor = monitor_for(sim, timeout="500ms")

    async def run():
        assert (await monitor.start()).ok
        results = []
        while len(results) < 3:  # 3 = retries: the supervisor would call it unhealthy here
            result = await monitor.verdict()
            if results or not result.ok:
                results.append(result)
            else:
                await asyncio.sleep(0.2)  # the interval: healthy until the hang
        await monitor.close()
        return results

    results = asyncio.run(run())
    assert [result.ok for result in results] == [False, False, False]
    assert results[0].detail.startswith("TCP alive, API dead: no answer to reqCurrentTime within 500ms on the "
                                        "monitor's session (client id 998)")
    assert all(r.detail.startswith("TCP accepted, no handshake answer within 500ms") for r in results[1:])
    assert monitor.condition().state == "unresponsive"


def test_a_taken_client_id_falls_back_to_the_probe_and_backs_off(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path)
    monitor = monitor_for(sim, interval="30s")
    with WireClient(sim.port) as squatter:
        squatter.handshake()
        squatter.start_api(998)

        async def run():
            first = await monitor.start()
            second = await monitor.verdict()
            await monitor.close()
            return first, second

        first, second = asyncio.run(run())
    assert first.ok and first.detail.startswith("the monitor cannot hold a session (client id 998 is already in use "
                                                "(error 326)")
    assert "next try in 30s; probe: server version 178" in first.detail
    assert second.ok and second.detail.startswith("the Gateway refused the monitor's session earlier; probe:")
    assert not monitor.snapshot().session_held and monitor.snapshot().sessions_opened == 0


def test_a_soft_restart_drops_the_session_and_the_monitor_says_why_then_comes_back(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--ibc-command-port", "0", "--restart-delay", "0.2",
                           "--restart-duration", "1.5", "--api-delay", "0.5", ready=r"state ready")
    monitor = monitor_for(sim, timeout="1s", service={"ibc": {}})

    async def run():
        assert (await monitor.start()).ok
        assert (await send_command("127.0.0.1", sim.command_port, "RESTART", timeout=10)).ok
        failed = await until(lambda: not monitor.last_result.ok and monitor.last_result, "the session lost",
                             step=monitor.verdict)
        during = monitor.condition()
        back = await until(lambda: monitor.last_result.ok and monitor.last_result, "the API back", step=monitor.verdict)
        await monitor.close()
        return failed, during, back

    failed, during, back = asyncio.run(run())
    assert failed.detail.startswith("connection refused on 127.0.0.1:")
    assert during.state in ("restarting", "starting", "logging-in", "api-initialising") and during.expected_absence
    assert back.detail.startswith("monitor session opened")
    assert monitor.snapshot().sessions_opened == 2
    assert "awaiting-second-factor" not in sim.log.read_text()  # the soft restart kept the login


def test_awaiting_the_second_factor_is_read_from_the_log(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--ibc-command-port", "0", "--java-start", "0.1",
                           "--second-factor", "1h", "--second-factor-timeout", "2m",
                           ready=r"state awaiting-second-factor")
    monitor = monitor_for(sim, service={"ibc": {"second_factor_timeout": "2m"}})

    async def run():
        result = await monitor.start()
        await monitor.close()
        return result

    result = asyncio.run(run())
    condition = monitor.condition()
    assert not result.ok and result.detail.startswith("connection refused")
    assert condition.state == "awaiting-second-factor" and condition.until - condition.since == 120
    assert "approve the login on the phone; IBC gives up at " in condition.detail


def test_no_next_valid_id_makes_the_monitor_fall_back(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--fault", "no-next-valid-id")
    monitor = monitor_for(sim, timeout="500ms")

    async def run():
        result = await monitor.start()
        await monitor.close()
        return result

    result = asyncio.run(run())
    assert result.ok and "the monitor cannot hold a session (server version 178 answered, but no nextValidId" in \
        result.detail


def test_the_monitor_never_uses_the_probes_client_id(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path)
    (tmp_path / "stack.yaml").write_text(f"services:\n  gateway:\n    command: x\n    health: {{ib_api: {{port: "
                                         f"{sim.port}, client_id: 5, monitor_client_id: 6}}}}\n")
    service = load_stack(tmp_path / "stack.yaml", environ={}).services["gateway"]
    monitor = GatewayMonitor.for_service(service, ProbeContext("gateway", log_path=sim.log))

    async def run():
        await monitor.start()
        await monitor.close()

    asyncio.run(run())
    text = wait_for_log_line(sim.log, r"conn 1 disconnected") and sim.log.read_text()
    assert "closed by client (client id 6)" in text and "client id 5" not in text
    assert Health.model_validate({"ib_api": {"port": 1}}).check.monitor_client_id == 998


def test_a_read_only_gateway_is_read_from_its_log(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--read-only", "--ibc-command-port", "0", "--java-start", "0.1",
                           ready=r"state ready")
    monitor = monitor_for(sim)

    async def run():
        result = await monitor.start()
        await monitor.close()
        return result

    assert asyncio.run(run()).ok
    condition = monitor.condition()
    assert (condition.state, condition.detail) == ("read-only", "the API is read-only: orders are refused (321)")


def test_a_session_opened_while_ib_is_unreachable_is_kept_and_hears_it_come_back(processes, tmp_path):
    sim = start_logged_sim(processes, tmp_path, "--connectivity-loss", "0:3:kept",
                           ready=r"condition connectivity-lost")
    monitor = monitor_for(sim)

    async def run():
        first = await monitor.start()
        during = await until(lambda: monitor.condition().state == "connectivity-lost" and monitor.condition(),
                             "the 1100 of the session's greeting")
        await until(lambda: monitor.condition().state == "ready", "1102")
        await monitor.close()
        return first, during

    first, during = asyncio.run(run())
    assert first.ok and during.state == "connectivity-lost"
    assert monitor.snapshot().sessions_opened == 1 and monitor.snapshot().board.data_lost_at is None


def test_only_an_ib_api_service_gets_a_monitor(tmp_path):
    (tmp_path / "stack.yaml").write_text("services:\n  web:\n    command: x\n    health: {tcp: {port: 8765}}\n")
    service = load_stack(tmp_path / "stack.yaml", environ={}).services["web"]
    with pytest.raises(ValueError, match="'web' has no ib_api health check to monitor"):
        GatewayMonitor.for_service(service, ProbeContext("web"))

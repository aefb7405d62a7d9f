"""Doctor's verdicts and checklist on values: each verdict code from the facts that produce it, with its fix."""

from __future__ import annotations

from launcher.hygiene.checks import build_checks
from launcher.hygiene.connect import TcpConnect
from launcher.hygiene.facts import ServiceFacts, error_lines
from launcher.hygiene.findings import Holder, ZombieFinding
from launcher.hygiene.verdicts import INITIALISING_WINDOW, judge
from launcher.probes.base import ProbeResult
from launcher.probes.ib_api import IbApiDiagnosis
from launcher.process.identity import ProcessIdentity
from launcher.process.search import MatchedProcess
from launcher.state.store import ServiceRecord

GATEWAY = Holder(4242, "java -jar ibgateway.jar")


def gateway(**changes) -> ServiceFacts:
    """An external Gateway on 4002 that listens and answers: change what a case needs."""
    facts = ServiceFacts(name="gateway", external=True, probe_kind="ib_api", ports=[4002], label="Gateway",
                         listeners={4002: [GATEWAY]}, ages={4242: 3600.0}, probe_timeout=2.0,
                         tcp={4002: TcpConnect("127.0.0.1", 4002, seconds=0.0004)},
                         ib_api=answered())
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def answered(**changes) -> IbApiDiagnosis:
    diagnosis = IbApiDiagnosis("127.0.0.1", 4002, True, 999, tcp_connected=True, tcp_connect_seconds=0.0004,
                               handshake_sent=True, bytes_received=234, server_version=178,
                               connection_time="20250101 10:00:00 UTC", handshake_seconds=0.002,
                               start_api_sent=True, next_valid_id=1, accounts=["DU1234567"], session_seconds=0.001,
                               errors=[(2104, "Market data farm connection is OK:usfarm", "market data farm connection OK")])
    for name, value in changes.items():
        setattr(diagnosis, name, value)
    return diagnosis


def silent() -> IbApiDiagnosis:
    return answered(bytes_received=0, server_version=None, connection_time=None, handshake_seconds=None,
                    start_api_sent=False, next_valid_id=None, accounts=None, errors=[], verdict="api-silent",
                    failure="TCP accepted, no handshake answer within 2s (0 bytes received)")


def managed(**changes) -> ServiceFacts:
    """A managed websocket server on 8765, running and healthy."""
    facts = ServiceFacts(name="websocket", external=False, probe_kind="http", ports=[8765], label="'websocket'",
                         stack_running=True, has_run_state=True,
                         record=ServiceRecord("websocket", state="healthy", pid=300, pgid=300, create_time=1.0),
                         managed_pids=[300], listeners={8765: [Holder(300, "python -m services.websocket_server")]},
                         ages={300: 90.0}, tcp={8765: TcpConnect("127.0.0.1", 8765, seconds=0.0003)},
                         probe=ProbeResult(True, "http", "HTTP 200 from http://127.0.0.1:8765/healthz in 2ms", 0.002))
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def stale_match(pid: int = 812, service: str = "websocket") -> MatchedProcess:
    return MatchedProcess(service, r"services\.websocket_server\b", ProcessIdentity(pid, 5.0),
                          "python -m services.websocket_server --port 8765")


def test_a_healthy_gateway_is_ok_with_its_numbers():
    verdict = judge(gateway())
    assert verdict.code == "ok" and verdict.fix == ""
    assert verdict.detail == "external, pid 4242; server version 178 in 2.0ms, nextValidId 1, accounts DU1234567"
    statuses = {check.name: check.status for check in build_checks(gateway())}
    assert statuses == {"process": "ok", "port 4002": "ok", "api": "ok", "session": "ok", "sockets": "ok"}


def test_a_silent_api_on_an_old_gateway_says_initialising_or_hung_restart():
    verdict = judge(gateway(ib_api=silent()))
    assert verdict.code == "api-silent"
    assert verdict.detail == ("Gateway (pid 4242, up 1h00m): TCP accepted in 0.4ms, then no handshake answer "
                              "within 2s (0 bytes received)")
    assert verdict.fix.startswith("API answered no handshake in 2s: the API layer is still initialising "
                                  "(wait 30-60 s after login) or hung; if it persists, check Configure")
    assert verdict.fix.endswith("restart IB Gateway (and log in again)")


def test_a_silent_api_on_a_young_gateway_says_wait():
    verdict = judge(gateway(ib_api=silent(), ages={4242: 12.0}))
    assert verdict.code == "api-silent"
    assert verdict.fix.startswith("Gateway started 12s ago: its API layer answers only 30-60 s after login; wait")
    assert judge(gateway(ib_api=silent(), ages={4242: INITIALISING_WINDOW + 1})).fix.startswith("API answered")


def test_close_wait_zombies_on_an_external_gateway_come_before_its_silence():
    zombies = [ZombieFinding("gateway", 4002, GATEWAY, 4, 0, "external", "Gateway")]
    verdict = judge(gateway(ib_api=silent(), zombies=zombies))
    assert verdict.code == "close-wait"
    assert verdict.detail == "Gateway (pid 4242) holds 4 CLOSE_WAIT sockets on port 4002; they clear only when Gateway restarts"
    assert verdict.fix.startswith("restart IB Gateway (and log in again): clients closed these connections")
    sockets = next(check for check in build_checks(gateway(zombies=zombies)) if check.name == "sockets")
    assert sockets.status == "fail" and sockets.data["zombies"][0]["close_wait"] == 4


def test_client_id_in_use_names_the_connected_clients():
    refused = answered(next_valid_id=None, accounts=None, verdict="client-id-in-use",
                       errors=[(326, "client id is already in use", "client id already in use")],
                       failure="client id 999 is already in use (error 326); the probe needs its own id")
    verdict = judge(gateway(ib_api=refused, clients={4002: [Holder(777, "python -m services.runner_async")]}))
    assert verdict.code == "client-id-in-use"
    assert verdict.fix.startswith("client id 999 in use: another client holds it, probably pid 777 (python -m "
                                  "services.runner_async), the one client connected to port 4002; give the ib_api "
                                  "check its own id")
    several = judge(gateway(ib_api=refused, clients={4002: [Holder(777, "a"), Holder(778, "b")]}))
    assert "connected to port 4002 now: pid 777 (a), pid 778 (b)" in several.fix
    nobody = judge(gateway(ib_api=refused, clients={4002: []}))
    assert "none of this user's processes is connected" in nobody.fix


def test_nothing_listening_on_an_external_gateway_says_start_it_and_check_the_port():
    facts = gateway(listeners={4002: []}, tcp={4002: TcpConnect("127.0.0.1", 4002, error="connection refused on "
                                                                 "127.0.0.1:4002 (nothing listening)")},
                    ib_api=answered(tcp_connected=False, verdict="not-listening", server_version=None))
    verdict = judge(facts)
    assert verdict.code == "not-listening"
    assert verdict.detail == "nothing listens on port 4002 (TCP connect refused)"
    assert verdict.fix.startswith("start IB Gateway and log in; check that its API socket port is 4002")


def test_version_mismatch_points_at_trusted_ips_when_closed_without_a_byte():
    closed = answered(server_version=None, bytes_received=0, closed_by_peer=True, verdict="version-mismatch",
                      failure="127.0.0.1:4002 closed the connection without answering the handshake")
    verdict = judge(gateway(ib_api=closed))
    assert verdict.code == "version-mismatch" and verdict.fix.startswith("add 127.0.0.1 to Trusted IPs")


def test_session_errors_get_their_own_fix():
    lost = answered(next_valid_id=None, accounts=None, verdict="session-failed", failure="error 1100: lost",
                    errors=[(1100, "Connectivity between IB and TWS has been lost", "connectivity lost")])
    assert judge(gateway(ib_api=lost)).fix.startswith("Gateway lost its connection to IB's servers")
    refused = answered(verdict="session-failed", failure="error 502", errors=[(502, "Couldn't connect", "x")])
    assert "'Enable ActiveX and Socket Clients'" in judge(gateway(ib_api=refused)).fix


def test_a_foreign_process_on_a_managed_port_wins_over_everything():
    facts = managed(record=None, managed_pids=[], stack_running=False,
                    listeners={8765: [Holder(501, "python -m http.server 8765")]})
    verdict = judge(facts)
    assert verdict.code == "port-held-by-other"
    assert verdict.detail == "port 8765 is held by pid 501 (python -m http.server 8765), which robostack did not start"
    assert "`kill 501`" in verdict.fix


def test_stale_processes_of_a_stopped_stack_are_named_and_up_will_stop_them():
    facts = managed(record=None, managed_pids=[], stack_running=False, stale=[stale_match()],
                    listeners={8765: [Holder(812, "python -m services.websocket_server --port 8765")]})
    verdict = judge(facts)
    assert verdict.code == "stale-processes"
    assert verdict.detail == ("1 stale process matches its `stale` patterns: pid 812 (python -m "
                              "services.websocket_server --port 8765); holding port 8765")
    assert verdict.fix.startswith("`robostack up` stops them first") and "`kill 812`" in verdict.fix


def test_a_stopped_stack_is_not_running_and_a_failed_service_says_why():
    down = managed(stack_running=False, managed_pids=[], listeners={8765: []}, record=None)
    assert judge(down).code == "not-running" and judge(down).fix == "`robostack up`"
    failed = managed(stack_running=False, managed_pids=[], listeners={8765: []},
                     record=ServiceRecord("websocket", state="failed", reason="exited with code 3 before healthy"),
                     log_errors=["OSError: [Errno 98] address already in use"])
    verdict = judge(failed)
    assert verdict.detail == ("not running: it failed in the last run (exited with code 3 before healthy); "
                              "last error in its log: OSError: [Errno 98] address already in use")
    assert verdict.fix.startswith("see `robostack logs websocket`")


def test_a_running_service_without_its_listener_or_with_a_failing_probe():
    no_listener = judge(managed(listeners={8765: []}))
    assert no_listener.code == "not-listening" and "pid 300 is running but nothing listens on port 8765" in no_listener.detail
    failing = judge(managed(probe=ProbeResult(False, "http", "HTTP 503 from /healthz", 0.01)))
    assert failing.code == "unhealthy" and failing.detail == "http probe: HTTP 503 from /healthz"


def test_orphaned_services_and_healthy_ones():
    assert judge(managed(stack_running=False)).code == "orphaned"
    verdict = judge(managed())
    assert verdict.code == "ok" and verdict.detail.startswith("pid 300, up 1m30s; HTTP 200")


def test_a_notify_service_is_judged_from_the_supervisors_last_probe():
    record = ServiceRecord("trader", state="unhealthy", pid=400, pgid=400, create_time=1.0,
                           reason="no WATCHDOG=1 for 30s", probe={"ok": False, "detail": "no WATCHDOG=1 for 30s"})
    facts = ServiceFacts(name="trader", external=False, probe_kind="notify", ports=[], stack_running=True,
                         has_run_state=True, record=record, managed_pids=[400], probe_skipped="only the supervisor")
    assert judge(facts).code == "unhealthy"
    probe_check = next(check for check in build_checks(facts) if check.name == "probe (notify)")
    assert probe_check.status == "fail" and "no WATCHDOG=1" in probe_check.detail


def test_error_lines_keeps_the_last_error_looking_ones():
    lines = ["started", "ERROR: first", "tick", "Traceback (most recent call last):", "ok", "connection refused",
             "API connection failed: TimeoutError()", "fine"]
    assert error_lines(lines) == ["Traceback (most recent call last):", "connection refused",
                                  "API connection failed: TimeoutError()"]

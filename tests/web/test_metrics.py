"""/metrics on values: samples from a status document, sockets and log sizes, parsed back by prometheus_client."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from launcher.commands.status import StatusView, status_json
from launcher.process.sockets import CLOSE_WAIT, ESTABLISHED, FIN_WAIT_2, Endpoint, SocketRecord
from launcher.state.store import RunState, ServiceRecord
from launcher.web.metrics import log_samples, render, socket_samples, status_samples
from launcher.web.provider import Sample


def parsed(text: str) -> dict[tuple[str, tuple], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def a_status() -> dict:
    state = RunState(stack="s", stack_file="/s.yaml", run_id="r", supervisor_pid=1, phase="running",
                     stop_order=["trader", "gateway"], services={
                         "gateway": ServiceRecord("gateway", state="healthy", pid=10, started_at=1.0, restarts=2,
                                                  probe={"ok": True, "detail": "ok", "latency": 0.0025, "at": 1700000000.5}),
                         "trader": ServiceRecord("trader", state="restarting", pid=11, started_at=1.0)})
    return status_json(StatusView(state, True, True))


def service(status: dict, name: str) -> dict:
    return next(s for s in status["services"] if s["name"] == name)


def test_status_samples_parse_and_carry_state_restarts_and_probe():
    values = parsed(render(status_samples(a_status(), alive=True, gateways=["gateway"])))
    assert values[("robostack_up", ())] == 1.0
    assert values[("robostack_service_state", (("service", "gateway"), ("state", "healthy")))] == 1.0
    assert values[("robostack_service_state", (("service", "gateway"), ("state", "failed")))] == 0.0
    assert values[("robostack_service_state", (("service", "trader"), ("state", "restarting")))] == 1.0
    assert values[("robostack_service_healthy", (("service", "trader"),))] == 0.0
    assert values[("robostack_service_restarts_total", (("service", "gateway"),))] == 2.0
    assert values[("robostack_probe_latency_seconds", (("service", "gateway"),))] == 0.0025
    assert values[("robostack_probe_last_timestamp_seconds", (("service", "gateway"),))] == 1700000000.5
    assert values[("robostack_gateway_condition", (("condition", "unknown"), ("service", "gateway")))] == 1.0
    assert ("robostack_probe_ok", (("service", "trader"),)) not in values  # no probe has run


@pytest.mark.parametrize("condition, shown", [("farms-broken", "farms-broken"), ({"name": "logging-in"}, "logging-in"),
                                              ({"state": "maintenance", "until": "23:50"}, "maintenance")])
def test_a_reported_gateway_condition_is_the_label(condition, shown):
    status = a_status()
    service(status, "gateway")["condition"] = condition
    values = parsed(render(status_samples(status, alive=True, gateways=["gateway"])))
    assert values[("robostack_gateway_condition", (("condition", shown), ("service", "gateway")))] == 1.0


def test_an_unknown_state_gets_its_own_series():
    status = a_status()
    service(status, "trader")["state"] = "draining"
    values = parsed(render(status_samples(status, alive=False, gateways=[])))
    assert values[("robostack_service_state", (("service", "trader"), ("state", "draining")))] == 1.0
    assert values[("robostack_up", ())] == 0.0


def record(port, status, side, pid=7):
    local, remote = (Endpoint("127.0.0.1", port), Endpoint("127.0.0.1", 50000)) if side == "server" else \
        (Endpoint("127.0.0.1", 50000), Endpoint("127.0.0.1", port))
    return SocketRecord(port, local, remote, status, pid, "x", side)


def test_close_wait_and_fin_wait_2_are_counted_per_port_with_zeros():
    records = [record(4002, CLOSE_WAIT, "server"), record(4002, CLOSE_WAIT, "server", pid=8),
               record(4002, FIN_WAIT_2, "client"), record(4002, ESTABLISHED, "server"),
               record(4002, FIN_WAIT_2, "server")]  # FIN_WAIT_2 on the server side is not a zombie
    values = parsed(render(socket_samples(records, {"gateway": [4002], "websocket": [8765]})))
    assert values[("robostack_close_wait_sockets", (("port", "4002"), ("service", "gateway")))] == 2.0
    assert values[("robostack_fin_wait_2_sockets", (("port", "4002"), ("service", "gateway")))] == 1.0
    assert values[("robostack_close_wait_sockets", (("port", "8765"), ("service", "websocket")))] == 0.0


def test_label_values_are_escaped_and_undeclared_metrics_refused():
    text = render(log_samples({'we"ird\\name\n': 12}))
    assert parsed(text)[("robostack_log_bytes", (("service", 'we"ird\\name\n'),))] == 12.0
    with pytest.raises(ValueError):
        render([Sample("robostack_made_up", 1.0)])


def test_every_state_a_service_can_show_is_a_series_and_ready_means_what_status_calls_fine():
    from launcher.state.transitions import FINE, ServiceState
    from launcher.web.metrics import HEALTHY_STATES

    values = parsed(render(status_samples(a_status(), alive=True, gateways=[])))
    shown = {dict(labels)["state"] for name, labels in values if name == "robostack_service_state"}
    assert shown == {state.value for state in ServiceState}  # stopping, done and blocked included
    assert set(HEALTHY_STATES) == {state.value for state in FINE}


def test_state_write_failures_and_lost_log_lines():
    status = a_status()
    assert parsed(render(status_samples(status, alive=True, gateways=[])))[("robostack_state_write_failing", ())] == 0
    status["supervisor"]["state_write_error"] = "cannot write state: No space left on device"
    values = parsed(render(status_samples(status, alive=True, gateways=[]) + log_samples({"a": 10}, {"a": 3})))
    assert values[("robostack_state_write_failing", ())] == 1.0
    assert values[("robostack_log_lines_lost_total", (("service", "a"),))] == 3.0
    assert ("robostack_state_write_failing", ()) not in parsed(render(status_samples(status, alive=False,
                                                                                      gateways=[])))

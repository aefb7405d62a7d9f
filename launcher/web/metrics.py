"""`GET /metrics`: the stack as Prometheus samples, and the text exposition format (0.0.4).

Pure: samples are built from the status document (what `status --json` prints), the
socket records of `launcher.process.sockets` and the log writers' figures; rendering is
a function of the samples. A view adds samples without touching the format.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from launcher.process.sockets import SocketRecord, summarise_zombies
from launcher.state.transitions import FINE, ServiceState
from launcher.web.provider import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name -> (type, help). Every sample rendered must be declared here.
METRICS: dict[str, tuple[str, str]] = {
    "robostack_up": ("gauge", "1 while the stack's supervisor runs"),
    "robostack_service_state": ("gauge", "1 for the service's current state, 0 for the others"),
    "robostack_service_healthy": ("gauge", "1 if the service is healthy (or an external service that answers)"),
    "robostack_service_restarts_total": ("counter", "restarts of the service since the stack came up"),
    "robostack_service_uptime_seconds": ("gauge", "seconds since the service's current process started"),
    "robostack_probe_ok": ("gauge", "1 if the service's last health probe passed"),
    "robostack_probe_latency_seconds": ("gauge", "how long the service's last health probe took"),
    "robostack_probe_last_timestamp_seconds": ("gauge", "when the service's last health probe ran (Unix time)"),
    "robostack_gateway_condition": ("gauge", "1 for the Gateway's current condition ('unknown' until one is reported)"),
    "robostack_close_wait_sockets": ("gauge", "CLOSE_WAIT sockets on the service side of a declared port"),
    "robostack_fin_wait_2_sockets": ("gauge", "FIN_WAIT_2 sockets on the client side of a declared port"),
    "robostack_log_bytes": ("gauge", "bytes in the log files of the service's current run (current file and "
                                     "rotated parts still kept)"),
    "robostack_log_lines_lost_total": ("counter", "lines of the service's current run its log writer could not "
                                                  "write (a full disk)"),
    "robostack_state_write_failing": ("gauge", "1 while the supervisor cannot write its state (run.json, the "
                                               "timeline): it keeps it in memory and retries"),
    "robostack_state_write_errors_total": ("counter", "state writes that failed since the supervisor started "
                                                      "(retries included)"),
}

# Every state a service can show (launcher.state.transitions, with status's `orphaned`).
SERVICE_STATES = tuple(state.value for state in ServiceState)
# What counts as ready: the states `robostack status` counts as fine (a one-shot service is done, a halted one
# was stopped on request).
HEALTHY_STATES = tuple(sorted(state.value for state in FINE))
UNKNOWN_CONDITION = "unknown"


def status_samples(status: Mapping[str, Any], *, alive: bool, gateways: Iterable[str]) -> list[Sample]:
    """Samples from a status document; `gateways` names the services speaking the TWS API."""
    samples = [Sample("robostack_up", 1.0 if alive else 0.0)]
    if alive:
        failing = (status.get("supervisor") or {}).get("state_write_error")
        samples.append(Sample("robostack_state_write_failing", 1.0 if failing else 0.0))
    gateway_names = set(gateways)
    for service in status.get("services", []):
        name = service["name"]
        labels = {"service": name}
        state = service.get("state") or "stopped"
        for known in dict.fromkeys((*SERVICE_STATES, state)):
            samples.append(Sample("robostack_service_state", 1.0 if known == state else 0.0, {**labels, "state": known}))
        samples.append(Sample("robostack_service_healthy", 1.0 if state in HEALTHY_STATES else 0.0, labels))
        samples.append(Sample("robostack_service_restarts_total", float(service.get("restarts") or 0), labels))
        if service.get("uptime") is not None:
            samples.append(Sample("robostack_service_uptime_seconds", float(service["uptime"]), labels))
        samples.extend(_probe_samples(service.get("health"), labels))
        if name in gateway_names:
            condition = gateway_condition(service)
            samples.append(Sample("robostack_gateway_condition", 1.0, {**labels, "condition": condition}))
    return samples


def _probe_samples(probe: Mapping[str, Any] | None, labels: dict[str, str]) -> list[Sample]:
    if not probe:
        return []
    samples = [Sample("robostack_probe_ok", 1.0 if probe.get("ok") else 0.0, labels)]
    if probe.get("latency") is not None:
        samples.append(Sample("robostack_probe_latency_seconds", float(probe["latency"]), labels))
    if probe.get("at") is not None:
        samples.append(Sample("robostack_probe_last_timestamp_seconds", float(probe["at"]), labels))
    return samples


def gateway_condition(service: Mapping[str, Any]) -> str:
    """The Gateway's condition as the status reports it (a name, or a mapping with one), else 'unknown'."""
    condition = service.get("condition")
    if isinstance(condition, Mapping):
        condition = condition.get("name") or condition.get("state")
    return str(condition) if condition else UNKNOWN_CONDITION


def socket_samples(records: Iterable[SocketRecord], ports_by_service: Mapping[str, Iterable[int]]) -> list[Sample]:
    """CLOSE_WAIT and FIN_WAIT_2 counts for every declared port (0 when there are none)."""
    counts = summarise_zombies(records)
    samples = []
    for service, ports in ports_by_service.items():
        for port in ports:
            close_wait = sum(c.close_wait for (p, _), c in counts.items() if p == port)
            fin_wait = sum(c.fin_wait_2 for (p, _), c in counts.items() if p == port)
            labels = {"service": service, "port": str(port)}
            samples.append(Sample("robostack_close_wait_sockets", float(close_wait), labels))
            samples.append(Sample("robostack_fin_wait_2_sockets", float(fin_wait), labels))
    return samples


def log_samples(sizes: Mapping[str, int], lost: Mapping[str, int] | None = None) -> list[Sample]:
    """Log bytes per service, and lines lost for those whose log writer reported a count."""
    samples = [Sample("robostack_log_bytes", float(size), {"service": name}) for name, size in sizes.items()]
    return samples + [Sample("robostack_log_lines_lost_total", float(count), {"service": name})
                      for name, count in (lost or {}).items()]


def render(samples: Iterable[Sample]) -> str:
    """The text exposition format: each family's HELP and TYPE once, then its samples."""
    families: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.name not in METRICS:
            raise ValueError(f"undeclared metric {sample.name}")
        families.setdefault(sample.name, []).append(sample)
    lines = []
    for name, members in families.items():
        kind, text = METRICS[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(s.labels)} {_number(s.value)}" for s in members]
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))

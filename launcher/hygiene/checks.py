"""Doctor's checklist for one service: each check the seeds ran by hand, as a row. Pure.

Statuses: ``ok`` (passed), ``fail`` (found a problem), ``warn`` (worth knowing, not
blocking), ``info`` (a measurement or not applicable). ``data`` carries the numbers
behind a row for ``doctor --json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from launcher.hygiene.facts import ServiceFacts
from launcher.hygiene.findings import short_command
from launcher.logwriter.status import describe_failure
from launcher.output.status import format_uptime
from launcher.probes.base import format_seconds
from launcher.probes.ib_messages import meaning_of

Status = Literal["ok", "fail", "warn", "info"]


@dataclass(frozen=True)
class Check:
    """One row of the checklist."""

    name: str
    status: Status
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "data": self.data}


def build_checks(f: ServiceFacts) -> list[Check]:
    """Every check for the service, in the order a person would run them."""
    checks = [_process(f)]
    checks.extend(_port(f, port) for port in f.ports)
    checks.extend(_remote_port(f, port) for port in f.remote_ports)
    if f.ib_api is not None:
        checks.extend([_api(f), _session(f)])
    elif f.probe is not None or f.probe_skipped:
        checks.append(_probe(f))
    if f.gateway is not None:
        checks.append(_gateway(f))
    if f.ports or f.remote:
        checks.append(_sockets(f))
    if not f.external:  # robostack neither stops nor logs an external service
        checks.extend([_stale(f), _log(f)])
    warnings = list(f.record.warnings) if f.record is not None and f.managed_alive else []
    if warnings:  # what the running service itself says is wrong (an unknown symbol)
        checks.append(Check("warnings", "warn", "; ".join(warnings), {"warnings": warnings}))
    return checks


def _process(f: ServiceFacts) -> Check:
    if f.remote:
        return Check("process", "info", f"not checked: '{f.name}' runs on {f.host}; robostack sees only this "
                                        "machine's processes", {"host": f.host})
    if f.external:
        holders = [h for port in f.ports for h in f.listeners.get(port, [])]
        if not holders:
            return Check("process", "fail", "external: no process listens on " + _ports(f), {"pids": []})
        first = holders[0]
        age = f.ages.get(first.pid) if first.pid is not None else None
        started = f", up {format_uptime(age)}" if age is not None else ""
        return Check("process", "ok", f"external: {first.describe()}{started}",
                     {"pids": [h.pid for h in holders]})
    record = f.record
    data = {"pids": f.managed_pids, "state": record.state if record else None,
            "supervisor": "running" if f.stack_running else "not running"}
    if f.managed_alive:
        age = f.ages.get(f.managed_pid) if f.managed_pid is not None else None
        started = f", up {format_uptime(age)}" if age is not None else ""
        members = f" (+{len(f.managed_pids) - 1} in its group)" if len(f.managed_pids) > 1 else ""
        supervisor = "" if f.stack_running else ", supervisor gone"
        return Check("process", "ok" if f.stack_running else "warn",
                     f"pid {f.managed_pid}{members} alive, state {record.state if record else '?'}{started}{supervisor}",
                     data)
    stack = "the stack is up" if f.stack_running else "the stack is down"
    if record is not None and record.pid is not None:
        ended = f" ({record.exit})" if record.exit else ""
        return Check("process", "fail", f"not running: recorded pid {record.pid} is gone{ended}; {stack}", data)
    return Check("process", "fail", f"not running; {stack}", data)


def _port(f: ServiceFacts, port: int) -> Check:
    holders = f.listeners.get(port, [])
    connect = f.tcp.get(port)
    data = {"port": port, "listeners": [{"pid": h.pid, "command": h.command} for h in holders],
            "tcp_connect_seconds": connect.seconds if connect else None,
            "connect_error": connect.error if connect else None, "connections_served": f.served.get(port, 0)}
    if not holders:
        reason = f": {connect.error}" if connect and connect.error else ""
        return Check(f"port {port}", "fail", f"nothing listening{reason}", data)
    foreign = not f.external and any(h.pid not in f.managed_pids for h in holders)
    # The service's own process is named on the process line; strangers get their command here.
    who = ", ".join(f"pid {h.pid}" if h.pid is not None and (f.external or h.pid in f.managed_pids)
                    else h.describe() for h in holders)
    timing = f"; TCP connect {format_seconds(connect.seconds)}" if connect and connect.seconds is not None else ""
    if connect and connect.error:
        timing = f"; TCP connect failed: {connect.error}"
    served = f"; {f.served[port]} connection(s) open" if f.served.get(port) else ""
    return Check(f"port {port}", "fail" if foreign else "ok", f"listening: {who}{timing}{served}", data)


def _remote_port(f: ServiceFacts, port: int) -> Check:
    connect = f.tcp.get(port)
    data = {"port": port, "host": f.host, "tcp_connect_seconds": connect.seconds if connect else None,
            "connect_error": connect.error if connect else None}
    if connect is None:
        return Check(f"port {port}", "info", f"on {f.host}: not tried", data)
    if connect.error:
        return Check(f"port {port}", "fail", f"on {f.host}: {connect.error}", data)
    return Check(f"port {port}", "ok", f"on {f.host}: TCP connect {format_seconds(connect.seconds)} (who listens "
                                       f"there is not visible from here)", data)


def _gateway(f: ServiceFacts) -> Check:
    condition = f.gateway
    status = "ok" if condition.state == "ready" else ("info" if condition.expected_absence else "fail")
    if condition.state in ("unknown", "down", "unresponsive"):
        status = "info"  # said better by the process, port and api rows
    return Check("gateway", status, f"{condition.state}: {condition.detail}", condition.to_dict())


def _api(f: ServiceFacts) -> Check:
    d = f.ib_api
    data = d.to_dict()
    if not d.tcp_connected:
        return Check("api", "fail", f"no TCP connection: {d.connect_error}", data)
    sent = "handshake sent" if d.handshake_sent else "handshake not sent"
    if d.server_version is None:
        return Check("api", "fail", f"{sent} ({d.offered}), {d.bytes_received} bytes received, no server version"
                     + (" (closed by the server)" if d.closed_by_peer else ""), data)
    latency = format_seconds(d.handshake_seconds) if d.handshake_seconds is not None else "?"
    return Check("api", "ok" if d.verdict != "version-mismatch" else "fail",
                 f"{sent}, {d.bytes_received} bytes received; server version {d.server_version}, "
                 f"connection time {d.connection_time!r}, handshake {latency}", data)


def _session(f: ServiceFacts) -> Check:
    d = f.ib_api
    data = {"client_id": d.client_id, "next_valid_id": d.next_valid_id, "accounts": d.accounts,
            "error_codes": [code for code, _, _ in d.errors]}
    if not d.start_api_sent:
        why = "no handshake answer" if d.server_version is None else "the handshake answer came too late"
        return Check("session", "info", f"not tried (client id {d.client_id}): {why}", data)
    notices = "; ".join(f"{code} {meaning}" for code, _, meaning in d.errors)
    codes = f"; codes: {notices}" if notices else ""
    if d.next_valid_id is not None and d.accounts is not None:
        took = f" in {format_seconds(d.session_seconds)}" if d.session_seconds is not None else ""
        warned = any(meaning_of(code).severity == "warning" for code, _, _ in d.errors)
        return Check("session", "warn" if warned else "ok",
                     f"client id {d.client_id}: nextValidId {d.next_valid_id}, accounts "
                     f"{','.join(d.accounts) or 'none'}{took}{codes}", data)
    return Check("session", "fail", (d.failure or f"client id {d.client_id}: incomplete") + codes, data)


def _probe(f: ServiceFacts) -> Check:
    if f.probe is None:
        recorded = f.record.probe if f.record is not None else None
        if f.probe_kind != "notify" or not f.managed_alive:
            return Check(f"probe ({f.probe_kind})", "info", f.probe_skipped or "not run", {"recorded": recorded})
        if not recorded:
            return Check("probe (notify)", "info", f"{f.probe_skipped}: none recorded yet", {"recorded": None})
        text = ("ok" if recorded.get("ok") else "failed") + f": {recorded.get('detail', '')}"
        return Check("probe (notify)", "ok" if recorded.get("ok") else "fail", f"{f.probe_skipped}: {text}",
                     {"recorded": recorded})
    return Check(f"probe ({f.probe.kind})", "ok" if f.probe.ok else "fail", f.probe.detail,
                 {"latency_seconds": f.probe.latency, **f.probe.facts})


def _sockets(f: ServiceFacts) -> Check:
    if f.remote:
        return Check("sockets", "info", f"not checked: CLOSE_WAIT and FIN_WAIT_2 sockets of {f.host} are not visible "
                                        "from this machine", {"zombies": []})
    data = [{"port": z.port, "pid": z.owner.pid, "command": z.owner.command, "close_wait": z.close_wait,
             "fin_wait_2": z.fin_wait_2, "kind": z.kind} for z in f.zombies]
    if not f.zombies:
        return Check("sockets", "ok", "no CLOSE_WAIT or FIN_WAIT_2 on " + _ports(f), {"zombies": data})
    blocking = any(z.close_wait and z.kind in ("external", "managed") for z in f.zombies)
    text = "; ".join(z.describe() for z in f.zombies)
    return Check("sockets", "fail" if blocking else "warn", text, {"zombies": data})


def _stale(f: ServiceFacts) -> Check:
    data = [{"pid": m.pid, "command": m.command, "pattern": m.pattern} for m in f.stale]
    if not f.stale:
        return Check("stale", "ok", "no process matches its stale patterns", {"matches": data})
    text = ", ".join(f"pid {m.pid} ({short_command(m.command, 50)}) matches '{m.pattern}'" for m in f.stale)
    return Check("stale", "fail", text, {"matches": data})


def _log(f: ServiceFacts) -> Check:
    data = {"path": f.log_path, "errors": f.log_errors, "writer": f.log_writer}
    if f.log_path is None:
        return Check("log", "info", "no log yet", data)
    failing = describe_failure(f.log_writer)
    if failing is not None:
        return Check("log", "fail", f"{failing}: {f.log_path}", data)
    lost = (f.log_writer or {}).get("lost") or 0
    if lost:
        return Check("log", "warn", f"{lost:,} lines lost earlier in this run (see the log's \"lines lost\" notes)", data)
    if not f.log_errors:
        return Check("log", "ok", f"no error lines at the end of {f.log_path}", data)
    return Check("log", "warn", " | ".join(short_command(line, 100) for line in f.log_errors), data)


def _ports(f: ServiceFacts) -> str:
    if not f.ports:
        return "its ports (none declared)"
    return ("port " if len(f.ports) == 1 else "ports ") + ", ".join(map(str, f.ports))

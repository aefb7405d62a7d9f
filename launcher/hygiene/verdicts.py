"""Doctor's judgement: one verdict per service, with the detail and the concrete fix. Pure.

A verdict is computed from :class:`launcher.hygiene.facts.ServiceFacts` alone, so every
rule is tested on values. The rules run in order and the first that applies wins: the
order puts first what blocks everything after it (a foreign process on the port hides
whether our own service works) and what a person should fix first.

Verdict codes (``doctor --json``): ok, not-running, not-listening, port-held-by-other,
api-silent, close-wait, client-id-in-use, version-mismatch, stale-processes,
session-failed, protocol-error, unhealthy, orphaned, log-not-written, unreachable (a service
on another machine); for a Gateway also its condition (:mod:`launcher.hygiene.gateway_verdicts`):
starting, logging-in, awaiting-second-factor, existing-session, api-initialising,
restarting, maintenance, login-failed, farms-broken, connectivity-lost,
competing-session, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from launcher.hygiene import gateway_verdicts
from launcher.hygiene.facts import ServiceFacts
from launcher.hygiene.findings import Holder, restart_advice, short_command
from launcher.logwriter.status import describe_failure
from launcher.output.status import format_uptime
from launcher.probes import ib_api
from launcher.probes.base import format_seconds
from launcher.stack.durations import format_duration

OK = "ok"
NOT_RUNNING = "not-running"
NOT_LISTENING = "not-listening"
PORT_HELD_BY_OTHER = "port-held-by-other"
API_SILENT = "api-silent"
CLOSE_WAIT = "close-wait"
CLIENT_ID_IN_USE = "client-id-in-use"
VERSION_MISMATCH = "version-mismatch"
STALE_PROCESSES = "stale-processes"
SESSION_FAILED = "session-failed"
PROTOCOL_ERROR = "protocol-error"
UNHEALTHY = "unhealthy"
ORPHANED = "orphaned"
LOG_NOT_WRITTEN = "log-not-written"
UNREACHABLE = "unreachable"

# A Gateway younger than this may still be logging in or initialising its API layer
# (the API answers 30-60 s after login, and login itself can take a while with 2FA).
INITIALISING_WINDOW = 180.0
GATEWAY_SETTINGS = "Configure → Settings → API → Settings"


@dataclass(frozen=True)
class Verdict:
    """One service's diagnosis: a stable code, what was found, and what to do (empty when ok)."""

    code: str
    detail: str
    fix: str = ""


Rule = Callable[[ServiceFacts], "Verdict | None"]


def judge(facts: ServiceFacts) -> Verdict:
    """The first rule that finds something wins; otherwise the service is ok."""
    for rule in (EXTERNAL_RULES if facts.external else MANAGED_RULES):
        verdict = rule(facts)
        if verdict is not None:
            return verdict
    return _ok(facts)


# -- rules ----------------------------------------------------------------------------------


def _port_held_by_other(f: ServiceFacts) -> Verdict | None:
    stale_pids = {match.pid for match in f.stale}
    for port in f.ports:
        foreign = [h for h in f.listeners.get(port, []) if h.pid not in f.managed_pids and h.pid not in stale_pids]
        if foreign:
            held_by = ", ".join(holder.describe() for holder in foreign)
            pids = " ".join(str(holder.pid) for holder in foreign if holder.pid is not None)
            return Verdict(PORT_HELD_BY_OTHER,
                           f"port {port} is held by {held_by}, which robostack did not start",
                           f"stop it if it is yours (`kill {pids or 'PID'}`), or move '{f.name}' to another port; "
                           "`robostack up` refuses while a foreign process holds a service's port")
    return None


def _stale_when_down(f: ServiceFacts) -> Verdict | None:
    return _stale(f) if not f.managed_alive else None


def _stale(f: ServiceFacts) -> Verdict | None:
    if not f.stale:
        return None
    listed = ", ".join(f"pid {m.pid} ({short_command(m.command, 50)})" for m in f.stale)
    holding = [port for port in f.ports for h in f.listeners.get(port, []) if h.pid in {m.pid for m in f.stale}]
    held = f"; holding port {', '.join(map(str, sorted(set(holding))))}" if holding else ""
    count = len(f.stale)
    detail = f"{count} stale {'process matches' if count == 1 else 'processes match'} its `stale` patterns: {listed}{held}"
    pids = " ".join(str(m.pid) for m in f.stale)
    if f.stack_running:
        fix = f"they are not part of the running stack: stop them (`kill {pids}`)"
    else:
        fix = f"`robostack up` stops them first (see `robostack up --dry-run`), or stop them yourself: `kill {pids}`"
    return Verdict(STALE_PROCESSES, detail, fix)


def _not_running(f: ServiceFacts) -> Verdict | None:
    if f.managed_alive:
        return None
    record = f.record
    last_error = _last_error(f)
    if not f.stack_running:
        detail = "not running: the stack is down" if f.has_run_state else "not running: this stack has not run here"
        if record is not None and record.state == "failed" and record.reason:
            detail = f"not running: it failed in the last run ({record.reason})"
        elif record is not None and record.exit:
            detail += f" (its last process {record.exit})"
        fix = "`robostack up`"
        if record is not None and record.state == "failed":
            fix = f"see `robostack logs {f.name}`, fix the cause, then `robostack up`"
        return Verdict(NOT_RUNNING, detail + last_error, fix)
    state = record.state if record is not None else "unknown"
    why = (record.reason or record.exit) if record is not None else None
    detail = f"not running while the stack is up (state {state}{': ' + why if why else ''})"
    return Verdict(NOT_RUNNING, detail + last_error,
                   f"see `robostack logs {f.name}`, then `robostack restart {f.name}`")


def _not_listening(f: ServiceFacts) -> Verdict | None:
    silent_ports = [port for port in f.ports if not f.listeners.get(port)]
    if not silent_ports:
        return None
    port = silent_ports[0]
    reason = _connect_failure(f, port)
    if f.external:
        detail = f"nothing listens on port {port}{reason}"
        if f.label == "Gateway":
            fix = (f"start IB Gateway and log in; check that its API socket port is {port} ({GATEWAY_SETTINGS}; "
                   "4002 is paper, 4001 live by default)")
        else:
            fix = f"start '{f.name}' (robostack never starts an external service) and check it listens on {port}"
        return Verdict(NOT_LISTENING, detail, fix)
    detail = f"pid {f.managed_pid} is running but nothing listens on port {port}{reason}{_last_error(f)}"
    return Verdict(NOT_LISTENING, detail, f"if it is not still starting, see `robostack logs {f.name}` and "
                                          f"`robostack restart {f.name}`")


def _close_wait(f: ServiceFacts) -> Verdict | None:
    for finding in f.zombies:
        if finding.close_wait == 0 or finding.kind not in ("external", "managed"):
            continue
        if finding.kind == "external":
            fix = (f"{restart_advice(finding.label)}: clients closed these connections and {finding.label} never "
                   "closed its side; nothing else clears them, and `robostack up` refuses until then "
                   "(or pass --ignore-zombies)")
        else:
            fix = f"`robostack restart {f.name}` clears them"
        return Verdict(CLOSE_WAIT, finding.describe(), fix)
    return None


def _ib_api(f: ServiceFacts) -> Verdict | None:
    d = f.ib_api
    if d is None or d.verdict == ib_api.OK:
        return None
    if d.verdict == ib_api.NOT_LISTENING:
        return Verdict(NOT_LISTENING, d.failure or "cannot connect", _start_it(f))
    if d.verdict == ib_api.API_SILENT:
        return _api_silent(f)
    if d.verdict == ib_api.CLIENT_ID_IN_USE:
        return _client_id_in_use(f)
    if d.verdict == ib_api.VERSION_MISMATCH:
        return _version_mismatch(f)
    if d.verdict == ib_api.PROTOCOL_ERROR:
        holders = ", ".join(h.describe() for h in f.listeners.get(d.port, [])) or "a process"
        return Verdict(PROTOCOL_ERROR, d.failure or "not the TWS API",
                       f"port {d.port} is served by {holders}, which does not speak the TWS API: point the "
                       "ib_api check at Gateway's API socket port")
    return _session_failed(f)


def _api_silent(f: ServiceFacts) -> Verdict:
    d = f.ib_api
    holder = _first_listener(f, d.port)
    age = f.ages.get(holder.pid) if holder is not None and holder.pid is not None else None
    bare = f.tcp.get(d.port)
    seconds = bare.seconds if bare is not None and bare.ok else d.tcp_connect_seconds
    connect = f" in {format_seconds(seconds)}" if seconds is not None else ""
    who = f"{f.label} (pid {holder.pid}{', up ' + format_uptime(age) if age is not None else ''})" \
        if holder is not None and holder.pid is not None else f.label
    detail = (f"{who}: TCP accepted{connect}, then no handshake answer within {format_seconds(f.probe_timeout)} "
              f"({d.bytes_received} bytes received)")
    restart = _restart(f)
    if f.label == "Gateway":
        restart = (f"check {GATEWAY_SETTINGS} ('Enable ActiveX and Socket Clients', socket port {d.port}) "
                   f"and {restart}")
    if age is not None and age < INITIALISING_WINDOW:
        fix = (f"{f.label} started {format_uptime(age)} ago: its API layer answers only 30-60 s after login; wait, "
               f"then run `robostack doctor` again; if it stays silent, {restart}")
    else:
        fix = (f"API answered no handshake in {format_seconds(f.probe_timeout)}: the API layer is still "
               f"initialising (wait 30-60 s after login) or hung; if it persists, {restart}")
    return Verdict(API_SILENT, detail, fix)


def _client_id_in_use(f: ServiceFacts) -> Verdict:
    d = f.ib_api
    clients = [h for h in f.clients.get(d.port, []) if h.pid is not None]
    if len(clients) == 1:
        holder = f"another client holds it, probably {clients[0].describe()}, the one client connected to port {d.port}"
    elif clients:
        holder = f"another client holds it; connected to port {d.port} now: " + ", ".join(h.describe() for h in clients)
    else:
        holder = ("another client holds it, but none of this user's processes is connected (another user's, or a "
                  f"connection {f.label} has not noticed is gone: restart it)")
    detail = f"client id {d.client_id} is already in use (error 326): {f.label} refused doctor's session"
    fix = (f"client id {d.client_id} in use: {holder}; give the ib_api check its own id "
           "(health.ib_api.client_id), never the trader's")
    return Verdict(CLIENT_ID_IN_USE, detail, fix)


def _version_mismatch(f: ServiceFacts) -> Verdict:
    d = f.ib_api
    if d.server_version is not None:
        fix = f"update IB Gateway or ib_async: server version {d.server_version} is outside the {d.offered} we speak"
    else:
        fix = (f"add 127.0.0.1 to Trusted IPs ({GATEWAY_SETTINGS}); if it is there, {f.label} refused our version "
               f"range {d.offered}: update IB Gateway or ib_async so they overlap")
    return Verdict(VERSION_MISMATCH, d.failure or "version refused", fix)


def _session_failed(f: ServiceFacts) -> Verdict:
    d = f.ib_api
    codes = {code for code, _, _ in d.errors}
    if 502 in codes:
        fix = f"tick 'Enable ActiveX and Socket Clients' ({GATEWAY_SETTINGS}) and make sure Gateway is logged in"
    elif 1100 in codes:
        fix = f"{f.label} lost its connection to IB's servers: check its window (login, network); {_restart(f)} if it does not restore"
    elif codes & {504, 1300}:
        fix = f"reconnect: {f.label} dropped or moved the API connection; {_restart(f)} if it persists"
    else:
        fix = f"the API is not ready (still logging in?) or refused the session: wait a minute, then {_restart(f)}"
    return Verdict(SESSION_FAILED, d.failure or "session failed", fix)


def _probe_failed(f: ServiceFacts) -> Verdict | None:
    if f.probe is not None and not f.probe.ok:
        detail = f"{f.probe.kind} probe: {f.probe.detail}{_last_error(f)}"
    elif f.probe is None and f.probe_kind == "notify" and f.record is not None and f.record.state == "unhealthy":
        detail = f"the supervisor's last {f.probe_kind} probe failed: {f.record.reason or _recorded_probe(f)}"
    else:
        return None
    fix = (f"see `robostack logs {f.name}`, then `robostack restart {f.name}`" if not f.external
           else f"check '{f.name}' (robostack does not run external services)")
    return Verdict(UNHEALTHY, detail, fix)


def _gateway_login_failed(f: ServiceFacts) -> Verdict | None:
    return _found(gateway_verdicts.login_failed(f.gateway, f.name, f.external,
                                                format_duration(f.second_factor_timeout)))


def _gateway_away(f: ServiceFacts) -> Verdict | None:
    return _found(gateway_verdicts.away(f.gateway, f.name, f.external))


def _gateway_degraded(f: ServiceFacts) -> Verdict | None:
    return _found(gateway_verdicts.degraded(f.gateway, f.ibc_address, f.ladder))


def _found(finding: tuple[str, str, str] | None) -> Verdict | None:
    return Verdict(*finding) if finding is not None else None


def _remote_unreachable(f: ServiceFacts) -> Verdict | None:
    """A service on another machine that does not take TCP: say so, and what cannot be seen from here."""
    if not f.remote:
        return None
    for port in f.remote_ports:
        connect = f.tcp.get(port)
        if connect is not None and connect.error:
            detail = (f"{connect.error}; {f.host} is another machine: robostack cannot see its processes or sockets "
                      "from here")
            if f.label == "Gateway":
                fix = (f"start IB Gateway on {f.host} and log in; check that its API port is {port}, that "
                       f"{f.host}'s firewall lets this machine in, and that this machine's address is in Trusted "
                       f"IPs ({GATEWAY_SETTINGS})")
            else:
                fix = f"start '{f.name}' on {f.host} and check that it listens on {port}"
            return Verdict(UNREACHABLE, detail, fix)
    return None


def _orphaned(f: ServiceFacts) -> Verdict | None:
    if f.managed_alive and not f.stack_running:
        return Verdict(ORPHANED, f"pid {f.managed_pid} runs without a supervisor (it died or was killed)",
                       "`robostack down`, then `robostack up`")
    return None


def _log_not_written(f: ServiceFacts) -> Verdict | None:
    """Its log writer cannot write (a full disk): the service runs on, but what it says is being lost."""
    failing = describe_failure(f.log_writer)
    if failing is None or not f.managed_alive:
        return None
    folder = str(Path(f.log_path).parent) if f.log_path else "the state directory"
    return Verdict(LOG_NOT_WRITTEN, f"{failing}; the service itself keeps running",
                   f"free space where its log lives (`df -h {folder}`); logging resumes by itself and notes "
                   "how many lines were lost")


MANAGED_RULES: tuple[Rule, ...] = (_port_held_by_other, _stale_when_down, _gateway_login_failed, _not_running,
                                   _gateway_away, _not_listening, _close_wait, _gateway_degraded, _ib_api,
                                   _probe_failed, _stale, _orphaned, _log_not_written)
EXTERNAL_RULES: tuple[Rule, ...] = (_gateway_login_failed, _gateway_away, _remote_unreachable, _not_listening,
                                    _close_wait, _gateway_degraded, _ib_api, _probe_failed)


# -- wording helpers ----------------------------------------------------------------------


def _ok(f: ServiceFacts) -> Verdict:
    parts = []
    if f.managed_pid is not None:
        age = f.ages.get(f.managed_pid)
        parts.append(f"pid {f.managed_pid}" + (f", up {format_uptime(age)}" if age is not None else ""))
    elif f.remote:
        parts.append(f"external, on {f.host} (its processes and sockets are not visible from here)")
    elif f.external:
        holders = [h for port in f.ports for h in f.listeners.get(port, []) if h.pid is not None]
        parts.append(f"external, pid {holders[0].pid}" if holders else "external")
    if f.ib_api is not None:
        parts.append(ib_api.describe_success(f.ib_api))
    elif f.probe is not None:
        parts.append(f.probe.detail)
    elif f.probe_kind == "notify":
        parts.append(f"last {f.probe_kind} probe: {_recorded_probe(f)}")
    return Verdict(OK, "; ".join(parts) or "ok")


def _recorded_probe(f: ServiceFacts) -> str:
    probe = f.record.probe if f.record is not None else None
    if not probe:
        return "none recorded"
    return ("ok" if probe.get("ok") else "failed") + (f": {probe.get('detail')}" if probe.get("detail") else "")


def _first_listener(f: ServiceFacts, port: int) -> Holder | None:
    holders = f.listeners.get(port) or []
    return holders[0] if holders else None


def _restart(f: ServiceFacts) -> str:
    return f"`robostack restart {f.name}`" if not f.external else restart_advice(f.label)


def _start_it(f: ServiceFacts) -> str:
    return "start IB Gateway and log in" if f.external and f.label == "Gateway" else \
        (f"start '{f.name}'" if f.external else "`robostack up`")


def _connect_failure(f: ServiceFacts, port: int) -> str:
    connect = f.tcp.get(port)
    if connect is None or not connect.error:
        return ""
    return " (TCP connect refused)" if connect.error.startswith("connection refused") else f" ({connect.error})"


def _last_error(f: ServiceFacts) -> str:
    return f"; last error in its log: {short_command(f.log_errors[-1], 100)}" if f.log_errors else ""

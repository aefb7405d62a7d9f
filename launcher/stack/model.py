"""The stack file's schema: what `stack.yaml` may say, as validated, immutable values.

Pydantic does the schema work (types, unknown keys, ranges) and reports each
problem with its field path; `launcher.stack.loader` maps those paths back to
line numbers. Cross-field rules that pydantic cannot express alone
(dependency cycles, unknown dependencies) live in `launcher.stack.ordering`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, field_validator, model_validator

from launcher.stack.fieldtypes import (Duration, Host, Pattern, Port, PositiveDuration, ProbeDuration,  # noqa: F401
                                       Strict as _Strict, compiles, count_per_duration)
from launcher.stack.gateway_fields import (DEFAULT_LOGIN_BUDGET, GATEWAY_FIELDS, Budget, IbcSettings, LoginBudget,
                                           LoginPatterns, MaintenanceWindow, parse_login_budget)
from launcher.stack.stale import check_stale_pattern
from launcher.stack.urls import check_url
from stackkit.loopback import is_loopback_host
from launcher.stack.signals import parse_stop_signal
from launcher.stack.sizes import parse_size
from stackkit.symbols import validate_symbols

Command = Union[str, list[str]]

DEFAULT_MONITOR_CLIENT_ID = 998  # the Gateway monitor's session; the probe and doctor use 999, the trader 10
PROBE_KINDS = ("ib_api", "tcp", "http", "websocket", "log", "exec", "notify")
_MAX_RESTARTS = re.compile(r"\s*(\d{1,9})\s+within\s+(\S+)\s*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _is_a_name(name: str) -> str:
    # Service and stack names become file and folder names in the state directory:
    # matched whole (fullmatch), so "svc\n" is refused, not taken for "svc".
    shown = json.dumps(name if len(name) <= 40 else name[:40] + "...", ensure_ascii=False)  # "svc\n" stays one line
    if len(name) > 100:
        raise ValueError(f"{shown} is not a valid name: longer than 100 characters")
    if not _NAME.fullmatch(name):
        raise ValueError(f'{shown} is not a valid name (letters, digits, "_", "-" or ".", starting with a letter or digit)')
    return name


def _is_a_variable_name(key: str) -> str:
    # The OS refuses these at spawn time; refusing them here names the key and its line.
    if not key or "=" in key or "\0" in key:
        raise ValueError(f'"{key}" cannot be an environment variable name (empty, or contains "=")')
    return key


def _is_a_generated_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        raise ValueError(f'"{name[:40]}" cannot be a variable name (letters, digits and "_", not starting with a digit)')
    return name


def _has_no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("an environment value cannot contain a NUL character")
    return value


# Validated per item (not per list or dict) so an error points at the offending line.
StalePattern = Annotated[str, AfterValidator(compiles), AfterValidator(check_stale_pattern)]
Name = Annotated[str, AfterValidator(_is_a_name)]
EnvName = Annotated[str, AfterValidator(_is_a_variable_name)]
EnvValue = Annotated[str, AfterValidator(_has_no_nul)]


class TcpCheck(_Strict):
    """Healthy once a TCP connect to host:port succeeds."""

    port: Port
    host: Host = "127.0.0.1"


class HttpCheck(_Strict):
    """Healthy once a GET of `url` (http://, a loopback host) answers with `status` (default 200)."""

    url: Annotated[str, AfterValidator(lambda url: check_url(url, ("http",)))]
    status: int = Field(default=200, ge=100, le=599)


class WebSocketCheck(_Strict):
    """Healthy once a WebSocket opening handshake to `url` (ws:// or wss://, a loopback host) completes."""

    url: Annotated[str, AfterValidator(lambda url: check_url(url, ("ws", "wss")))]


class IbApiCheck(_Strict):
    """Healthy once the TWS API handshake is answered (TCP alone is not enough).

    With `session`, the probe also sends startApi with its own `client_id` and
    waits for nextValidId and managedAccounts. The probe's client id must never
    be the trader's, or the probe would kick it off (error 326). Doctor uses it too.

    With `monitor` (the default), liveness is one long-lived API session on
    `monitor_client_id` (:mod:`launcher.probes.gateway_monitor`) that heartbeats and
    hears the farm and connectivity notices; the probe above is its fallback.
    """

    port: Port
    host: Host = "127.0.0.1"
    session: bool = False
    client_id: int = Field(default=999, ge=0, le=2**31 - 1)
    monitor: bool = True
    monitor_client_id: int = Field(default=DEFAULT_MONITOR_CLIENT_ID, ge=0, le=2**31 - 1)

    @model_validator(mode="before")
    @classmethod
    def _default_monitor_id_avoids_the_probes(cls, data: object) -> object:
        # A stack that gave the probe 998 before the monitor existed keeps working: its monitor takes 997.
        if isinstance(data, dict) and "monitor_client_id" not in data and data.get("client_id") == \
                DEFAULT_MONITOR_CLIENT_ID:
            return {**data, "monitor_client_id": DEFAULT_MONITOR_CLIENT_ID - 1}
        return data

    @model_validator(mode="after")
    def _monitor_has_its_own_client_id(self) -> "IbApiCheck":
        if self.monitor and self.monitor_client_id == self.client_id:
            raise ValueError(f"monitor_client_id {self.monitor_client_id} is also client_id (the probe's and doctor's):"
                             " the Gateway would refuse one of the two sessions (error 326); give the monitor its own")
        return self


class LogCheck(_Strict):
    """Healthy once a line of the service's current log matches `pattern`."""

    pattern: Pattern


class ExecCheck(_Strict):
    """Healthy when `command` exits 0 (run without a shell)."""

    command: Command


class NotifyCheck(_Strict):
    """systemd's readiness protocol: healthy on READY=1.

    With `watchdog_timeout`, a service that sends no WATCHDOG=1 for that long
    after becoming ready counts as unhealthy.
    """

    watchdog_timeout: PositiveDuration | None = None


class Health(_Strict):
    """Exactly one probe kind, plus the timing shared by all kinds."""

    ib_api: IbApiCheck | None = None
    tcp: TcpCheck | None = None
    http: HttpCheck | None = None
    websocket: WebSocketCheck | None = None
    log: LogCheck | None = None
    exec: ExecCheck | None = None
    notify: NotifyCheck | None = None
    start_period: Duration = 0.0
    interval: ProbeDuration = 1.0
    timeout: ProbeDuration = 2.0
    retries: int = Field(default=3, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _bare_kind_means_defaults(cls, data: object) -> object:
        # `notify:` with nothing after it is YAML null; it means "notify, default settings".
        if isinstance(data, dict):
            return {k: {} if k in PROBE_KINDS and v is None else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Health":
        kinds = [k for k in PROBE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"exactly one probe kind ({', '.join(PROBE_KINDS)}) is required, found {found}")
        return self

    @property
    def kind(self) -> str:
        """The name of the one probe kind configured."""
        return next(k for k in PROBE_KINDS if getattr(self, k) is not None)

    @property
    def check(self) -> BaseModel:
        """The configured probe's own settings."""
        return getattr(self, self.kind)


class Backoff(_Strict):
    """Exponential restart delays: `initial`, doubling, capped at `max`."""

    initial: Duration = 1.0
    max: Duration = 30.0


class RestartLimit(_Strict):
    """At most `count` restarts within `window` seconds before the service is `failed`."""

    count: int = Field(default=5, ge=0, le=100_000)
    window: PositiveDuration = 600.0


_parse_restart_limit = count_per_duration("within", _MAX_RESTARTS, "5 within 10m")


def _yaml_no_is_the_word_no(value: object) -> object:
    # YAML 1.1 reads a bare `no` as False; `restart: no` means the policy "no".
    return "no" if value is False else value


# --- logs and alerts (issue 14): rotation of each service's log, and where alerts go ---------------------
Size = Annotated[int, BeforeValidator(parse_size)]
ALERT_EVENTS = ("unhealthy", "recovered", "restarting", "gave-up", "blocked", "second-factor", "maintenance",
                "disk-full")
_RATE_LIMIT = re.compile(r"^\s*(\d+)\s+per\s+(\S+)\s*$")


class LogSettings(_Strict):
    """Log rotation (launcher.logwriter): a new file once the current one reaches `max_size`, and the newest
    `keep` closed files of a service kept (earlier parts and earlier runs alike). Unset fields of a service
    take the stack-wide `logs:`, then the defaults (10MB, 10)."""

    max_size: Size | None = None
    keep: int | None = Field(default=None, ge=1, le=10_000)


class AlertRateLimit(_Strict):
    """At most `count` alert messages within `window` seconds."""

    count: int = Field(default=20, ge=1)
    window: PositiveDuration = 3600.0


_parse_rate_limit = count_per_duration("per", _RATE_LIMIT, "10 per 1h")  # a plain count is per hour


class Alerts(_Strict):
    """Alerts (launcher.alerts): run `command` and/or POST JSON to `url` for the chosen `events`.

    A service's alerts within `dedup` of the last one sent for it are folded into one summary;
    at most `rate_limit` messages go out. Each delivery gets `timeout`.
    """

    command: Command | None = None
    url: str | None = None
    headers: dict[EnvName, EnvValue] = Field(default_factory=dict)
    events: list[Literal[ALERT_EVENTS]] = Field(default_factory=lambda: list(ALERT_EVENTS))  # type: ignore[valid-type]
    dedup: Duration = 600.0
    rate_limit: Annotated[AlertRateLimit, BeforeValidator(_parse_rate_limit)] = Field(default_factory=AlertRateLimit)
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f'expected an http:// or https:// URL, got "{url}"')
        return url

    @model_validator(mode="after")
    def _somewhere_to_send(self) -> "Alerts":
        if not self.command and not self.url:
            raise ValueError("alerts need a command, a url, or both")
        return self


class Service(_Strict):
    """One process of the stack (or, with `external`, one that someone else runs)."""

    command: Command | None = None
    cwd: str = "."
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    ports: list[Port] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    health: Health | None = None
    startup_timeout: PositiveDuration = 120.0
    stop_signal: Annotated[str, BeforeValidator(parse_stop_signal)] = "SIGTERM"
    stop_grace: Duration = 10.0
    stale: list[StalePattern] = Field(default_factory=list)
    external: bool = False
    oneshot: bool = False  # runs once: done when it exits 0, which its dependents wait for (a migration, a login)
    restart: Annotated[Literal["no", "on-failure", "always"], BeforeValidator(_yaml_no_is_the_word_no)] = "on-failure"
    backoff: Backoff = Field(default_factory=Backoff)
    max_restarts: Annotated[RestartLimit, BeforeValidator(_parse_restart_limit)] = Field(default_factory=RestartLimit)
    on_failure: Literal["stop-stack", "keep-running"] = "keep-running"
    on_dependency_restart: Literal["wait", "restart"] = "wait"
    dependency_grace: Duration = 30.0
    logs: LogSettings = Field(default_factory=LogSettings)
    # An external service on another machine: its probes connect there (see launcher.stack.gateway_fields
    # for the Gateway's own fields below).
    host: Host | None = None
    ibc: IbcSettings | None = None
    login_patterns: LoginPatterns | None = None
    maintenance: Annotated[list[MaintenanceWindow], Field(max_length=50)] = Field(default_factory=list)
    login_budget: Budget | None = None

    @model_validator(mode="before")
    @classmethod
    def _host_is_where_probes_go(cls, data: object) -> object:
        # `host:` is said once; the tcp/ib_api check and IBC's command server connect there unless told otherwise.
        if not isinstance(data, dict) or not isinstance(data.get("host"), str):
            return data
        data = dict(data)
        if data.get("ibc", False) is None:
            data["ibc"] = {}
        for kind, parent in (("ib_api", "health"), ("tcp", "health"), ("ibc", None)):
            holder = data.get(parent) if parent else data
            block = holder.get(kind) if isinstance(holder, dict) else None
            if isinstance(block, dict) and "host" not in block:
                block = {**block, "host": data["host"]}
                holder = {**holder, kind: block}
                if parent:
                    data[parent] = holder
                else:
                    data = holder
        return data

    @field_validator("ibc", mode="before")
    @classmethod
    def _bare_ibc_means_defaults(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("env", mode="before")
    @classmethod
    def _env_values_are_text(cls, env: object) -> object:
        # `PORT: 4002` in YAML is an int; the environment only holds strings.
        if isinstance(env, dict):
            # Lists and mappings are left for the schema to refuse ("expected text, got a list").
            return {k: v if isinstance(v, (str, list, dict)) else _scalar_text(v) for k, v in env.items()}
        return env

    @model_validator(mode="after")
    def _command_unless_external(self) -> "Service":
        if not self.external and not self.command:
            raise ValueError("a service that is not external needs a command")
        if self.health and self.health.kind in ("log", "notify") and self.external:
            raise ValueError(f"an external service cannot use a {self.health.kind} probe (robostack does not run it)")
        if self.oneshot:
            _check_oneshot(self)
        problems = gateway_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def effective_login_budget(self) -> LoginBudget | None:
        """The login budget: its own, else the default for an IBC-managed Gateway, else none."""
        if self.login_budget is not None or self.ibc is None:
            return self.login_budget
        return LoginBudget.model_validate(parse_login_budget(DEFAULT_LOGIN_BUDGET))


def _check_oneshot(service: Service) -> None:
    """A one-shot service is done when it exits 0: nothing to probe, never restarted once done."""
    if service.external:
        raise ValueError("an external service cannot be oneshot (robostack does not run it)")
    if service.health is not None:
        raise ValueError("a oneshot service has no health probe: it is done when it exits 0")
    if service.restart == "always":
        raise ValueError('a oneshot service cannot use restart: always (it exits by design); use "no" or "on-failure"')


def gateway_field_problems(service: Service) -> list[str]:
    """Every misuse of the Gateway's fields, each in plain words (they go into one line, joined by ';')."""
    problems = []
    is_gateway = service.health is not None and service.health.kind == "ib_api"
    given = [name for name in GATEWAY_FIELDS if name in service.model_fields_set and getattr(service, name)]
    if given and not is_gateway:
        problems.append(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} an ib_api health check: only a "
                        "TWS API service (IB Gateway) logs in, restarts itself and answers IBC's commands")
    if service.host is not None and not service.external:
        problems.append(f'host "{service.host}" is only for an external service (external: true): robostack starts '
                        "its own services on this machine")
    check = service.health.check if service.health is not None and service.health.kind in ("ib_api", "tcp") else None
    if service.host is not None and check is not None and check.host != service.host:
        problems.append(f'health.{service.health.kind}.host "{check.host}" differs from host "{service.host}": '
                        "give the host once, as host")
    if service.external and service.ibc is not None and service.login_budget is not None:
        problems.append("login_budget is for a Gateway robostack starts: an external one is never restarted by it")
    return problems


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


# -- the read-only HTTP API and dashboard (launcher/web) ------------------------------------------
DEFAULT_HTTP_PORT = 8790  # clear of the default stack's 4002 (API), 8765 (WebSocket) and 7462 (IBC)
_FEED_URL = re.compile(r"^wss?://[^/\s?#]+(/\S*)?$")


def _loopback_only(host: str) -> str:
    # The API shows the stack to whoever can reach it: it never listens beyond this machine.
    if not is_loopback_host(host):
        raise ValueError(f'"{host}" is not a loopback address; the HTTP API listens on 127.0.0.1, ::1 or localhost only')
    return host


def _feed_is_a_websocket_url(url: str) -> str:
    if not _FEED_URL.match(url):
        raise ValueError(f'"{url}" is not a WebSocket URL (like ws://127.0.0.1:8765/)')
    return url


def _bare_section_means_defaults(value: object) -> object:
    # `http:` with nothing after it is YAML null; it means "on, default settings".
    return {} if value is None else value


class HttpSettings(_Strict):
    """The supervisor's read-only HTTP API and dashboard: on when the `http:` section is present.

    The dashboard page subscribes to the trading feed itself: `feed` if given, else the
    WebSocket server of the service named `feed_service` (its first port, on 127.0.0.1).
    """

    enabled: bool = True
    host: Annotated[str, AfterValidator(_loopback_only)] = "127.0.0.1"
    port: int = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535, strict=True)  # 0: any free port
    feed: Annotated[str, AfterValidator(_feed_is_a_websocket_url)] | None = None
    feed_service: Name = "websocket"


class StackFile(_Strict):
    """The whole stack file as written (before substitution and path resolution)."""

    name: Name | None = None
    symbols: list[str] = Field(default_factory=list)
    env_file: str | None = None
    # Variables robostack fills with a fresh random value on every `up` (a publisher token):
    # substituted like any ${VAR}, masked everywhere, never written or printed.
    generated_secrets: list[Annotated[str, AfterValidator(_is_a_generated_name)]] = Field(default_factory=list)
    services: dict[Name, Service] = Field(min_length=1)
    http: Annotated[HttpSettings | None, BeforeValidator(_bare_section_means_defaults)] = None
    logs: LogSettings = Field(default_factory=LogSettings)
    alerts: Alerts | None = None

    @field_validator("symbols")
    @classmethod
    def _symbols_are_tickers(cls, symbols: list[str]) -> list[str]:
        return validate_symbols(symbols)

"""The stack file's schema: what `stack.yaml` may say, as validated, immutable values.

Pydantic does the schema work (types, unknown keys, ranges) and reports each
problem with its field path; `launcher.stack.loader` maps those paths back to
line numbers. Cross-field rules that pydantic cannot express alone
(dependency cycles, unknown dependencies) live in `launcher.stack.ordering`.
"""

from __future__ import annotations

import re
import signal
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from launcher.stack.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
Command = Union[str, list[str]]

PROBE_KINDS = ("ib_api", "tcp", "http", "websocket", "log", "exec", "notify")
_SYMBOL = re.compile(r"^[A-Za-z0-9.]+$")
_MAX_RESTARTS = re.compile(r"^\s*(\d+)\s+within\s+(\S+)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f'"{pattern}" is not a valid regular expression: {err}') from err
    return pattern


def _is_a_name(name: str) -> str:
    # Service and stack names become file and folder names in the state directory.
    if not _NAME.match(name):
        raise ValueError(f'"{name}" is not a valid name (letters, digits, "_", "-" or ".", starting with a letter or digit)')
    return name


def _is_a_variable_name(key: str) -> str:
    # The OS refuses these at spawn time; refusing them here names the key and its line.
    if not key or "=" in key or "\0" in key:
        raise ValueError(f'"{key}" cannot be an environment variable name (empty, or contains "=")')
    return key


def _has_no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("an environment value cannot contain a NUL character")
    return value


# Validated per item (not per list or dict) so an error points at the offending line.
Pattern = Annotated[str, AfterValidator(_compiles)]
Name = Annotated[str, AfterValidator(_is_a_name)]
EnvName = Annotated[str, AfterValidator(_is_a_variable_name)]
EnvValue = Annotated[str, AfterValidator(_has_no_nul)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TcpCheck(_Strict):
    """Healthy once a TCP connect to host:port succeeds."""

    port: Port
    host: str = "127.0.0.1"


class HttpCheck(_Strict):
    """Healthy once a GET of `url` answers with `status` (default 200)."""

    url: str
    status: int = 200


class WebSocketCheck(_Strict):
    """Healthy once a WebSocket opening handshake to `url` completes."""

    url: str


class IbApiCheck(_Strict):
    """Healthy once the TWS API handshake is answered (TCP alone is not enough).

    With `session`, the probe also sends startApi with its own `client_id` and
    waits for nextValidId and managedAccounts. The probe's client id must never
    be the trader's, or the probe would kick it off (error 326).
    """

    port: Port
    host: str = "127.0.0.1"
    session: bool = False
    client_id: int = Field(default=999, ge=0)


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

    watchdog_timeout: Duration | None = None


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
    interval: Duration = 1.0
    timeout: Duration = 2.0
    retries: int = Field(default=3, ge=1)

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

    count: int = Field(default=5, ge=0)
    window: float = 600.0


def _parse_restart_limit(value: object) -> object:
    """Accept ``5 within 10m``, a plain count, or a mapping."""
    if isinstance(value, bool):
        raise ValueError(f'expected "N within DURATION", got {value!r}')
    if isinstance(value, int):
        return {"count": value}
    if isinstance(value, str):
        match = _MAX_RESTARTS.match(value)
        if not match:
            raise ValueError(f'expected "N within DURATION" (like "5 within 10m"), got "{value}"')
        return {"count": int(match.group(1)), "window": parse_duration(match.group(2))}
    return value


def _parse_signal(value: object) -> str:
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if not hasattr(signal, name) or name in ("SIG_DFL", "SIG_IGN"):
        raise ValueError(f'unknown signal "{value}"')
    return name


def _yaml_no_is_the_word_no(value: object) -> object:
    # YAML 1.1 reads a bare `no` as False; `restart: no` means the policy "no".
    return "no" if value is False else value


class Service(_Strict):
    """One process of the stack (or, with `external`, one that someone else runs)."""

    command: Command | None = None
    cwd: str = "."
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    ports: list[Port] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    health: Health | None = None
    startup_timeout: Duration = 120.0
    stop_signal: Annotated[str, BeforeValidator(_parse_signal)] = "SIGTERM"
    stop_grace: Duration = 10.0
    stale: list[Pattern] = Field(default_factory=list)
    external: bool = False
    oneshot: bool = False  # runs once: done when it exits 0, which its dependents wait for (a migration, a login)
    restart: Annotated[Literal["no", "on-failure", "always"], BeforeValidator(_yaml_no_is_the_word_no)] = "on-failure"
    backoff: Backoff = Field(default_factory=Backoff)
    max_restarts: Annotated[RestartLimit, BeforeValidator(_parse_restart_limit)] = Field(default_factory=RestartLimit)
    on_failure: Literal["stop-stack", "keep-running"] = "keep-running"
    on_dependency_restart: Literal["wait", "restart"] = "wait"
    dependency_grace: Duration = 30.0

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
        return self


def _check_oneshot(service: Service) -> None:
    """A one-shot service is done when it exits 0: nothing to probe, never restarted once done."""
    if service.external:
        raise ValueError("an external service cannot be oneshot (robostack does not run it)")
    if service.health is not None:
        raise ValueError("a oneshot service has no health probe: it is done when it exits 0")
    if service.restart == "always":
        raise ValueError('a oneshot service cannot use restart: always (it exits by design); use "no" or "on-failure"')


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class StackFile(_Strict):
    """The whole stack file as written (before substitution and path resolution)."""

    name: Name | None = None
    symbols: list[str] = Field(default_factory=list)
    env_file: str | None = None
    services: dict[Name, Service] = Field(min_length=1)

    @field_validator("symbols")
    @classmethod
    def _symbols_are_tickers(cls, symbols: list[str]) -> list[str]:
        return validate_symbols(symbols)


def validate_symbols(symbols: list[str]) -> list[str]:
    """Tickers are letters, digits and dots; no empties, no duplicates. Returns them upper-cased."""
    seen: list[str] = []
    for raw in symbols:
        symbol = str(raw).strip().upper()
        if not symbol:
            raise ValueError("empty symbol in the symbol list")
        if not _SYMBOL.match(symbol):
            raise ValueError(f'"{raw}" is not a symbol (letters, digits and "." only)')
        if symbol in seen:
            raise ValueError(f'symbol "{symbol}" is listed twice')
        seen.append(symbol)
    return seen

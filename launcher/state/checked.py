"""run.json read as untrusted input: every field's type and range checked before anything acts on it.

The run state names processes to signal (pids, groups, create times, a stop signal and
grace), so a damaged or hand-edited file must never reach ``os.kill`` or a formatter as
a string pid, a NaN grace, a list where a table belongs, an unknown signal name or a
pid no kernel can have. :func:`check_run_state` takes the decoded JSON and returns the
same data, checked; anything wrong raises ValueError naming the field and the value
(``services.gw.pid: expected a process id, got 'x'``), which the reader turns into a
one-line StateError (exit 6). Pure: data in, data out.

Fields a reader does not know are dropped (a newer robostack may add some); missing
ones take their defaults, except the few every run state has.
"""

from __future__ import annotations

import math
import re

from launcher.stack.durations import MAX_DURATION
from launcher.stack.signals import parse_stop_signal
from launcher.state.transitions import ServiceState

MAX_PID = 4_194_304  # the kernel's largest pid_max
MAX_TIMESTAMP = 1e11  # seconds since 1970: the year 5138
MAX_COUNT = 10**9
PHASES = ("starting", "running", "stopping", "stopped")
_RUN_TOKEN = re.compile(r"[A-Za-z0-9_.-]{0,128}")
_HTTP_URL = re.compile(r"https?://[^\s/?#]{1,300}/")
_IBC_ADDRESS = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}:(\d{1,5})")

TYPE_CHECKING = False  # typing itself costs `status` its import
if TYPE_CHECKING:
    from typing import Any, Callable

    Check = Callable[[str, Any], Any]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _fail(where: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: expected {expected}, got {_shown(value)}")


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    return value


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


def _whole(low: int, high: int, expected: str) -> Check:
    def check(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(where, expected, value)
        return value
    return check


def _number(low: float, high: float, expected: str) -> Check:
    def check(where: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise _fail(where, expected, value)
        return value
    return check


def _optional(check: Check) -> Check:
    return lambda where, value: None if value is None else check(where, value)


def _list_of(check: Check) -> Check:
    def checked(where: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        return [check(f"{where}[{index}]", item) for index, item in enumerate(value)]
    return checked


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(where: str, value: Any) -> str:
        if value not in choices:
            raise _fail(where, "one of " + ", ".join(choices), value)
        return value
    return check


def _stop_signal(where: str, value: Any) -> str:
    try:
        name = parse_stop_signal(value)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    if name != value:
        raise _fail(where, "a signal name as robostack writes it (SIGTERM)", value)
    return name


def _run_token(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _RUN_TOKEN.fullmatch(value):
        raise _fail(where, "a run token (letters and digits)", value)
    return value


def _http_url(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _HTTP_URL.fullmatch(value):
        raise _fail(where, "the supervisor's http:// URL (http://HOST:PORT/)", value)
    return value


def _ibc_address(where: str, value: Any) -> str:
    match = _IBC_ADDRESS.fullmatch(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        raise _fail(where, "IBC's command server as HOST:PORT", value)
    return value


_PID = _whole(1, MAX_PID, "a process id")
_TIME = _number(0, MAX_TIMESTAMP, "a time in seconds since 1970")
_PORT = _whole(1, 65535, "a port number")
_PROBE = {"ok": _flag, "detail": _text, "latency": _number(0, MAX_DURATION, "seconds"), "at": _TIME}
_LAST_EVENT = {"time": _TIME, "event": _text, "reason": _text}
_CONDITION = {"state": _text, "detail": _text, "since": _optional(_TIME), "until": _optional(_TIME),
              "also": _list_of(_text), "farms_broken": _list_of(_text)}


def _table(fields: dict[str, Check]) -> Check:
    """A JSON object with these fields (each optional); others dropped."""
    def check(where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        return {key: fields[key](f"{where}.{key}", item) for key, item in value.items() if key in fields}
    return check


SERVICE_FIELDS: dict[str, Check] = {
    "name": _text, "state": _one_of(tuple(state.value for state in ServiceState)), "pid": _optional(_PID), "pgid": _optional(_PID),
    "create_time": _optional(_TIME), "started_at": _optional(_TIME), "healthy_at": _optional(_TIME),
    "restarts": _whole(0, MAX_COUNT, "a count"), "log": _optional(_text), "probe": _optional(_table(_PROBE)),
    "reason": _optional(_text), "next_try_at": _optional(_TIME), "last_event": _optional(_table(_LAST_EVENT)),
    "exit": _optional(_text), "external": _flag, "ports": _list_of(_PORT), "stop_signal": _stop_signal,
    "stop_grace": _number(0, MAX_DURATION, "a grace in seconds (at most a week)"),
    "warnings": _list_of(_text),
    "condition": _optional(_table(_CONDITION)), "ibc_address": _optional(_ibc_address),
}

RUN_FIELDS: dict[str, Check] = {
    "stack": _text, "stack_file": _text, "run_id": _text, "symbols": _list_of(_text),
    "supervisor_pid": _optional(_PID), "supervisor_create_time": _optional(_TIME), "detached": _flag,
    "started_at": _optional(_TIME), "phase": _one_of(PHASES), "stop_order": _list_of(_text),
    "run_token": _run_token, "http_url": _optional(_http_url),
}
REQUIRED = ("stack", "stack_file", "run_id")


def check_run_state(data: Any) -> dict[str, Any]:
    """The run state's fields, each checked (ValueError naming the first bad one); unknown fields dropped."""
    checked = _table(RUN_FIELDS)("run state", data)
    missing = [name for name in REQUIRED if name not in checked]
    if missing:
        raise ValueError(f"run state: missing {', '.join(missing)}")
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise _fail("services", "an object of services", services)
    checked["services"] = {name: {"name": name, **_table(SERVICE_FIELDS)(f"services.{name}", record)}
                           for name, record in services.items()}
    unknown = [name for name in checked.get("stop_order", ()) if name not in services]
    if unknown:
        raise _fail("stop_order", "names of the recorded services", unknown[0])
    return checked

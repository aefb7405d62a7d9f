"""The stack-file fields of a Gateway service: IBC, login patterns, maintenance windows, login budget.

A real IB Gateway logs in (Java start, the login dialog, a second factor on the
phone, 30-60 s of API initialisation), restarts itself every day, and must not be
killed in a loop: each new process asks for the second factor again, and repeated
logins can get an account locked. These fields tell robostack what it needs to
know to handle that (see :mod:`launcher.gateway`):

```yaml
gateway:
  ibc: {command_port: 7462}            # IBC's command server: soft restarts, RECONNECTDATA, STOP
  login_budget: 3 per day              # at most 3 process starts (logins) a day
  maintenance:                         # the Gateway's absence is expected here: no restarts
    - {at: "23:45", duration: 15m, timezone: America/New_York}
  login_patterns:                      # only to add to or replace the defaults (IBC's lines)
    awaiting_second_factor: 'Second Factor Authentication initiated'
```
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

from launcher.stack.fieldtypes import (Host, Pattern, Port, PositiveDuration, ProbeDuration, Strict,
                                       count_per_duration)
from stackkit.times import parse_clock_time, parse_time_zone

DEFAULT_IBC_COMMAND_PORT = 7462
DEFAULT_LOGIN_BUDGET = "3 per day"  # for a service with an `ibc:` block and no login_budget of its own
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOGIN_BUDGET = re.compile(r"\s*(\d{1,4})\s+per\s+(\S+)\s*")
_PERIODS = {"day": 86400.0, "hour": 3600.0, "week": 7 * 86400.0}


class IbcSettings(Strict):
    """IBC's command server (one command per line; answers ``OK ...`` or ``ERROR ...``).

    With it robostack restarts the Gateway softly (``RESTART``: the login is kept, no
    second factor), asks for the data farms again (``RECONNECTDATA``) and stops it with
    ``STOP`` before any signal.
    """

    command_port: Port = DEFAULT_IBC_COMMAND_PORT
    host: Host = "127.0.0.1"
    timeout: ProbeDuration = 10.0  # for one command's answer
    second_factor_timeout: PositiveDuration = 180.0  # IBC's own: past it IBC gives up the login and exits
    restart_timeout: PositiveDuration = 300.0  # a soft restart must bring the API back within this
    reconnect_after: PositiveDuration = 10.0  # farms broken this long (a blip clears itself) before RECONNECTDATA
    reconnect_account_after: PositiveDuration = 60.0  # IB lost this long (it usually returns) before RECONNECTACCOUNT
    escalate_after: PositiveDuration = 120.0  # a RECONNECT... that has not helped within this: a soft restart


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


Patterns = Annotated[list[Pattern], BeforeValidator(_one_or_many), Field(min_length=1, max_length=20)]


class LoginPatterns(Strict):
    """Regular expressions for the Gateway's (or IBC's) log lines, one or a list per phase.

    A phase given here replaces its defaults (IBC's real lines and the simulator's);
    the phases not given keep theirs (:mod:`launcher.gateway.login`).
    """

    starting: Patterns | None = None
    logging_in: Patterns | None = None
    awaiting_second_factor: Patterns | None = None
    existing_session: Patterns | None = None
    logged_in: Patterns | None = None  # login complete: the API initialises (30-60 s) from here
    ready: Patterns | None = None
    restarting: Patterns | None = None
    login_failed: Patterns | None = None
    stopping: Patterns | None = None
    read_only: Patterns | None = None
    read_write: Patterns | None = None


def _clock_time(value: object) -> str:
    time = parse_clock_time(value)
    return f"{time:%H:%M}" if not time.second else f"{time:%H:%M:%S}"


def _time_zone(value: object) -> str:
    parse_time_zone(value)
    return str(value).strip()


def _weekday(value: object) -> str:
    text = value.strip().lower()[:3] if isinstance(value, str) else ""
    if text not in WEEKDAYS:
        raise ValueError(f"expected a day of the week ({', '.join(WEEKDAYS)}), got {str(value)[:20]!r}")
    return text


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
TimeZoneName = Annotated[str, BeforeValidator(_time_zone)]
Weekday = Annotated[str, BeforeValidator(_weekday)]


class MaintenanceWindow(Strict):
    """A time when the Gateway's absence is expected (IB's daily restart, weekend maintenance).

    Starts at `at` (local time in `timezone`, default the machine's) on `days` (default
    every day) and lasts `duration` (at most a week).
    """

    at: ClockTime
    duration: PositiveDuration
    timezone: TimeZoneName | None = None
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None


class LoginBudget(Strict):
    """At most `count` process starts (each a full login, with its second factor) within `window` seconds."""

    count: int = Field(ge=1, le=1000)
    window: PositiveDuration


# "3 per day", "2 per 12h", "10 per week"; a plain number is per day.
parse_login_budget = count_per_duration("per", _LOGIN_BUDGET, DEFAULT_LOGIN_BUDGET, _PERIODS)


def _per_day(value: object) -> object:
    return {"count": value, "window": _PERIODS["day"]} if isinstance(value, int) and not isinstance(value, bool) \
        else parse_login_budget(value)


Budget = Annotated[LoginBudget, BeforeValidator(_per_day)]
GATEWAY_FIELDS = ("ibc", "login_patterns", "maintenance", "login_budget")  # need an ib_api health check

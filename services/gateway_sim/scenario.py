"""The Gateway's week: the options that shape its login, restarts and data conditions, and scenario files.

Every scenario key is one of these command-line options without its dashes
(``--farm-outage`` is ``farm_outage``), so the file and the command line share
one vocabulary and one set of value parsers. A value given on the command line
wins over the scenario's. Bad values give one line naming the option, or the
file and field (``week.yaml: farm_outage[1].duration: ...``), and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from services.errors import UsageError
from services.gateway_sim.calendar import login_zone
from services.gateway_sim.conditions import FARM_NAMES
from stackkit.durations import parse_duration
from services.gateway_sim.weekly import DAY_NAMES, day_on_or_after, parse_weekday
from stackkit.times import parse_clock_time, parse_time_zone, zone_name

NEVER = math.inf  # --second-factor never: nobody taps the phone
MAX_TIME_SCALE = 100_000.0


class BadValue(ValueError):
    """A value that does not parse; ``where`` names the part inside it (``.duration``), if any."""

    def __init__(self, message: str, where: str = ""):
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class FarmOutage:
    """``at`` seconds after the first login, these farms break for ``duration`` seconds."""

    at: float
    duration: float
    farms: tuple[str, ...] = FARM_NAMES


@dataclass(frozen=True)
class ConnectivityLoss:
    """``at`` seconds after the first login, IB is unreachable for ``duration``; market data kept or lost."""

    at: float
    duration: float
    data_kept: bool


@dataclass(frozen=True)
class CompetingSession:
    """``at`` seconds after the first login, a live session elsewhere takes the market data for ``duration``."""

    at: float
    duration: float


@dataclass(frozen=True)
class WeekConfig:
    """The Gateway lifecycle options; the defaults are a plain simulator with no login at all."""

    ibc_command_port: int | None = None
    java_start: float = 0.0
    second_factor: float | None = None  # seconds until approved; NEVER; None = no second factor
    second_factor_timeout: float = 180.0  # IBC's SecondFactorAuthenticationTimeout default
    later_second_factor: float | None = None  # the full logins after the first; None: as second_factor
    existing_session: bool = False
    restart_delay: float = 60.0
    restart_duration: float = 30.0
    auto_restart: time | None = None
    cold_restart: time | None = None  # IBC's ColdRestartTime: Sundays at this local time
    timezone: tzinfo = field(default_factory=lambda: local_timezone())
    farm_outage: tuple[FarmOutage, ...] = ()
    connectivity_loss: tuple[ConnectivityLoss, ...] = ()
    competing_session: tuple[CompetingSession, ...] = ()
    outages_on_ibs_side: bool = False  # RECONNECTDATA/RECONNECTACCOUNT answer OK and change nothing
    time_scale: float = 1.0
    start_time: time | None = None
    start_day: int | None = None  # date.weekday() of the simulated start
    api_delay: float | None = None  # only from a scenario; the command line's --api-delay wins

    @property
    def ibc(self) -> bool:
        """True when the simulator plays IB Gateway under IBC: IBC's log lines and login phases."""
        return self.ibc_command_port is not None or self.second_factor is not None

    @property
    def plain(self) -> bool:
        """True when none of the week is asked for: the simulator's API is up from the start, as ever."""
        return not (self.ibc or self.java_start or self.existing_session or self.auto_restart is not None
                    or self.cold_restart is not None or self.farm_outage or self.connectivity_loss
                    or self.competing_session or self.outages_on_ibs_side or self.simulated_clock)

    @property
    def simulated_clock(self) -> bool:
        """True when the week runs on its own clock (compressed, or starting at another time or day)."""
        return self.time_scale != 1 or self.start_time is not None or self.start_day is not None

    def describe(self) -> str:
        """One line for the log: what this run will go through."""
        parts = []
        if self.ibc_command_port is not None:
            parts.append("IBC command server")
        if self.java_start:
            parts.append(f"Java start {self.java_start:g}s")
        if self.second_factor is not None:
            after = "never" if self.second_factor == NEVER else f"after {self.second_factor:g}s"
            parts.append(f"second factor {after} (IBC gives up after {self.second_factor_timeout:g}s)")
        if self.later_second_factor is not None:
            later = self.later_second_factor
            parts.append(f"later full logins' second factor {'never' if later == NEVER else f'after {later:g}s'}")
        if self.existing_session:
            parts.append("existing session detected at login")
        parts.append(f"soft restart: delay {self.restart_delay:g}s, port refusing {self.restart_duration:g}s")
        if self.auto_restart is not None:
            parts.append(f"daily auto-restart {self.auto_restart:%H:%M} {timezone_name(self.timezone)}")
        if self.cold_restart is not None:
            parts.append(f"cold restart Sundays {self.cold_restart:%H:%M} {timezone_name(self.timezone)}")
        for label, events in (("farm outage", self.farm_outage), ("connectivity loss", self.connectivity_loss),
                              ("competing session", self.competing_session)):
            if events:
                parts.append(f"{len(events)} {label}(s)")
        if self.outages_on_ibs_side:
            parts.append("outages on IB's side (RECONNECTDATA/RECONNECTACCOUNT change nothing)")
        if self.simulated_clock:
            day = DAY_NAMES[self.start_day].title() if self.start_day is not None else ""
            when = " ".join(p for p in (day, f"{self.start_time:%H:%M:%S}" if self.start_time else "") if p)
            parts.append(f"time scale {self.time_scale:g}" + (f", simulated start {when}" if when else ""))
        return "; ".join(parts)


# --- values ---------------------------------------------------------------------------------

def local_timezone() -> tzinfo:
    """The machine's time zone, as the login's (calendar.login_zone): the auto-restart time is local, like IB's."""
    return login_zone()[1]


timezone_name = zone_name  # the one spelling of a zone, for the lifecycle's lines


def seconds(value: Any) -> float:
    """A duration: ``90``, ``"90s"``, ``"15m"``, ``"2h"``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BadValue(f"expected a duration (like 250ms, 2s, 1m), got {value!r}")
    try:
        return parse_duration(value)
    except ValueError as problem:
        raise BadValue(str(problem)) from None


def positive_seconds(value: Any) -> float:
    result = seconds(value)
    if result <= 0:
        raise BadValue(f"expected more than zero seconds, got {value!r}")
    return result


def second_factor(value: Any) -> float:
    """Seconds until the phone approves the login, or ``never``."""
    if isinstance(value, str) and value.strip().lower() == "never":
        return NEVER
    try:
        return seconds(value)
    except BadValue:
        raise BadValue(f'expected seconds until approval (like 20s) or "never", got {value!r}') from None


def clock_time(value: Any) -> time:
    """``"23:45"`` or ``"23:44:50"``, a time of day (the stack file's spelling: :mod:`stackkit.times`)."""
    try:
        return parse_clock_time(value)
    except ValueError as problem:
        raise BadValue(str(problem)) from None


def timezone(value: Any) -> tzinfo:
    """An IANA time zone name such as ``America/New_York``."""
    try:
        return parse_time_zone(value)
    except ValueError as problem:
        raise BadValue(str(problem)) from None


def weekday(value: Any) -> int:
    """A day of the week: ``sun`` or ``Sunday``."""
    try:
        return parse_weekday(value)
    except ValueError as problem:
        raise BadValue(str(problem)) from None


def time_scale(value: Any) -> float:
    """How many simulated seconds pass per real second."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if isinstance(value, bool) or not 0 < scale <= MAX_TIME_SCALE:
        raise BadValue(f"expected a number above 0 and at most {MAX_TIME_SCALE:g}, got {value!r}")
    return scale


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue(f"expected true or false, got {value!r}")
    return value


def _event_parts(value: Any, names: Sequence[str], optional: int = 0) -> dict[str, Any]:
    """``"AT:DURATION[:...]"`` or a mapping with those keys -> a dict by name."""
    shape = ":".join(name.upper() for name in names)
    if isinstance(value, str):
        parts = value.split(":")
        if not len(names) - optional <= len(parts) <= len(names):
            raise BadValue(f"expected {shape}, got {value!r}")
        return dict(zip(names, parts))
    if isinstance(value, int) and not isinstance(value, bool):
        raise BadValue(f'expected "{shape}" in quotes or a mapping (YAML reads an unquoted 60:30 as the '
                       f"number {value})")
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - set(names))
        if unknown:
            raise BadValue(f"unknown field {unknown[0]!r} (known: {', '.join(names)})", f".{unknown[0]}")
        missing = [name for name in names[:len(names) - optional] if name not in value]
        if missing:
            raise BadValue(f"missing field {missing[0]!r}", f".{missing[0]}")
        return dict(value)
    raise BadValue(f"expected {shape} or a mapping, got {value!r}")


def _part(parts: dict[str, Any], name: str, parse: Callable[[Any], Any]) -> Any:
    try:
        return parse(parts[name])
    except BadValue as problem:
        raise BadValue(str(problem), f".{name}") from None


def _timing(parts: dict[str, Any]) -> tuple[float, float]:
    return _part(parts, "at", seconds), _part(parts, "duration", positive_seconds)


def _farm_list(value: Any) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise BadValue(f"expected farm names from {', '.join(FARM_NAMES)}, got {value!r}")
    farms = []
    for name in (str(n).strip() for n in names):
        if name not in FARM_NAMES:
            raise BadValue(f"unknown farm {name!r} (choose from {', '.join(FARM_NAMES)})")
        if name not in farms:
            farms.append(name)
    return tuple(farms)


def farm_outage(value: Any) -> FarmOutage:
    """``AT:DURATION[:FARM,...]`` or ``{at, duration, farms}``."""
    parts = _event_parts(value, ("at", "duration", "farms"), optional=1)
    at, duration = _timing(parts)
    farms = _part(parts, "farms", _farm_list) if "farms" in parts else FARM_NAMES
    return FarmOutage(at, duration, farms)


def _data(value: Any) -> bool:
    if value in ("kept", "lost"):
        return value == "kept"
    raise BadValue(f"expected kept or lost, got {value!r}")


def connectivity_loss(value: Any) -> ConnectivityLoss:
    """``AT:DURATION:kept|lost`` or ``{at, duration, data}``."""
    parts = _event_parts(value, ("at", "duration", "data"))
    at, duration = _timing(parts)
    return ConnectivityLoss(at, duration, _part(parts, "data", _data))


def competing_session(value: Any) -> CompetingSession:
    """``AT:DURATION`` or ``{at, duration}``."""
    return CompetingSession(*_timing(_event_parts(value, ("at", "duration"))))


# --- the option table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One week option: its parser, whether it repeats, and its help."""

    parse: Callable[[Any], Any]
    metavar: str | None
    help: str
    repeats: bool = False

    def flag_name(self, key: str) -> str:
        return "--" + key.replace("_", "-")


OPTIONS: dict[str, Option] = {
    "java_start": Option(seconds, "S", "seconds from process start to IB Gateway's login dialog (default 0)"),
    "second_factor": Option(second_factor, "AFTER",
                            "the login waits for the second factor, approved AFTER seconds later, or 'never'"),
    "later_second_factor": Option(second_factor, "AFTER",
                                  "the full logins after the first (IBC's cold restart, IB's weekly reset) are "
                                  "approved AFTER seconds later, or 'never' (default: as --second-factor)"),
    "second_factor_timeout": Option(positive_seconds, "S",
                                    "IBC's second factor timeout; past it the process exits with status 87, "
                                    "as ibcstart.sh does (default 180)"),
    "existing_session": Option(flag, None, "the login meets IB's 'Existing session detected' dialog"),
    "restart_delay": Option(seconds, "S", "IBC RESTART: seconds until the soft restart begins (default 60)"),
    "restart_duration": Option(positive_seconds, "S",
                               "seconds the API port refuses connections during a soft restart (default 30)"),
    "auto_restart": Option(clock_time, "HH:MM", "a daily soft restart at this local time, like IB's auto-restart"),
    "cold_restart": Option(clock_time, "HH:MM", "IBC's ColdRestartTime: every Sunday at this local time, a full "
                           "restart whose login asks for the second factor again"),
    "timezone": Option(timezone, "TZ", "time zone of --auto-restart, --cold-restart and --start-time "
                       "(default: the machine's)"),
    "farm_outage": Option(farm_outage, "AT:DURATION[:FARMS]",
                          "AT seconds after the first login, send 2103/2105/2157 (farm broken) to every session, "
                          "and 2104/2106/2158 after DURATION or on RECONNECTDATA; repeatable", repeats=True),
    "connectivity_loss": Option(connectivity_loss, "AT:DURATION:kept|lost",
                                "AT seconds after the first login, send 1100, then 1102 (kept) or 1101 (lost: "
                                "every market data subscription dropped) after DURATION; repeatable", repeats=True),
    "competing_session": Option(competing_session, "AT:DURATION",
                                "AT seconds after the first login, a live session elsewhere takes the market data "
                                "(10197 per subscription, ticks stop) for DURATION; repeatable", repeats=True),
    "outages_on_ibs_side": Option(flag, None, "the outages above are IB's own: RECONNECTDATA and RECONNECTACCOUNT "
                                              "answer OK and change nothing; only their DURATION ends them"),
    "time_scale": Option(time_scale, "X", "simulated seconds per real second for all of the above (default 1)"),
    "start_time": Option(clock_time, "HH:MM[:SS]", "simulated local time at process start (default: now)"),
    "start_day": Option(weekday, "DAY", "simulated day of the week at process start, mon..sun (default: today)"),
}
SCENARIO_ONLY = {"api_delay": Option(seconds, None, "API initialisation after login (--api-delay)")}
SCENARIO_KEYS = {**OPTIONS, **SCENARIO_ONLY}


def add_week_options(parser: argparse.ArgumentParser) -> None:
    """The command-line block for the Gateway's week (IBC, login, restarts, conditions, scenario)."""
    group = parser.add_argument_group("the Gateway's week (IBC, login, restarts, data conditions)")
    group.add_argument("--ibc-command-port", type=int, metavar="PORT",
                       help="serve IBC's command server on this loopback port (0 picks a free one)")
    for key, option in OPTIONS.items():
        if option.parse is flag:
            group.add_argument(option.flag_name(key), action="store_const", const=True, default=None,
                               help=option.help)
        else:
            group.add_argument(option.flag_name(key), metavar=option.metavar, help=option.help,
                               action="append" if option.repeats else "store", default=None)
    group.add_argument("--scenario", metavar="FILE",
                       help="a YAML or JSON file of the options above (keys without dashes: farm_outage, ...)")


def week_config(args: argparse.Namespace) -> WeekConfig:
    """Merge the scenario file (if any) and the command line into one :class:`WeekConfig`."""
    values = load_scenario(Path(args.scenario)) if args.scenario else {}
    for key, option in OPTIONS.items():
        given = getattr(args, key)
        if given is None:
            continue
        flag_name = option.flag_name(key)
        try:
            values[key] = tuple(option.parse(item) for item in given) if option.repeats else option.parse(given)
        except BadValue as problem:
            raise UsageError(f"{flag_name}: {problem}") from None
    port = args.ibc_command_port
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--ibc-command-port: {port} is not a TCP port (0..65535)")
    return WeekConfig(ibc_command_port=port, **values)


def load_scenario(path: Path) -> dict[str, Any]:
    """Read and validate a scenario file; any mistake is one :class:`UsageError` line naming the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else str(problem)
        raise UsageError(f"--scenario: cannot read {path}: {reason}") from None
    document = _parse_document(path, text)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise UsageError(f"{path}: expected a mapping of options (like 'second_factor: 20s'), "
                         f"got {type(document).__name__}")
    values: dict[str, Any] = {}
    for key, raw in document.items():
        option = SCENARIO_KEYS.get(str(key))
        if option is None:
            raise UsageError(f"{path}: unknown field {key!r} (known: {', '.join(SCENARIO_KEYS)})")
        values[key] = _scenario_value(path, str(key), option, raw)
    return values


def _parse_document(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as problem:
            raise UsageError(f"{path}: line {problem.lineno}: not valid JSON: {problem.msg}") from None
    import yaml  # only a scenario needs it; the simulator otherwise starts on the standard library

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise UsageError(f"{path}: {where}not valid YAML: {reason}") from None


def _scenario_value(path: Path, key: str, option: Option, raw: Any) -> Any:
    if option.repeats:
        items = raw if isinstance(raw, list) else [raw]
        parsed = []
        for index, item in enumerate(items):
            try:
                parsed.append(option.parse(item))
            except BadValue as problem:
                raise UsageError(f"{path}: {key}[{index}]{problem.where}: {problem}") from None
        return tuple(parsed)
    try:
        return option.parse(raw)
    except BadValue as problem:
        raise UsageError(f"{path}: {key}{problem.where}: {problem}") from None


def simulated_start(week: WeekConfig, now: datetime) -> datetime | None:
    """The simulated wall-clock time at start: today (or the coming ``start_day``) at ``start_time`` (or now)."""
    if week.start_time is None and week.start_day is None:
        return None
    local = now.astimezone(week.timezone)
    day = local.date() if week.start_day is None else day_on_or_after(local.date(), week.start_day)
    at = week.start_time if week.start_time is not None else local.timetz().replace(tzinfo=None)
    return datetime.combine(day, at, tzinfo=week.timezone)


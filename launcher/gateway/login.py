"""The Gateway's login phases, read from its (or IBC's) log lines. Pure.

A Gateway's login is slow and fragile: Java starts, IBC fills in the login dialog,
the second factor waits for a phone (IBC gives up after about 3 minutes), an
"Existing session detected" dialog may appear, then the API takes 30-60 s to
answer. Its port says none of this; its log does. Each phase has patterns: the
defaults match IBC's own log lines (``IBC: Second Factor Authentication
initiated``, ``IBC: Login has completed``...) and the Gateway simulator's
``gateway_sim: state NAME:`` lines; a stack file's ``login_patterns`` replace the
defaults of the phases they name.

Patterns run on the ``regex`` engine with a time limit per line, so a pattern
that backtracks badly loses that line, never the supervisor's loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import regex

from launcher.stack.gateway_fields import LoginPatterns

# Phases, in the order a login goes through them.
STARTING = "starting"
LOGGING_IN = "logging-in"
AWAITING_SECOND_FACTOR = "awaiting-second-factor"
EXISTING_SESSION = "existing-session"
API_INITIALISING = "api-initialising"
READY = "ready"
RESTARTING = "restarting"
LOGIN_FAILED = "login-failed"
STOPPING = "stopping"
# While the Gateway is in one of these its API is expected not to answer yet: nothing to restart.
LOGIN_PHASES = (STARTING, LOGGING_IN, AWAITING_SECOND_FACTOR, EXISTING_SESSION, API_INITIALISING, RESTARTING)

# stack-file key -> phase (read_only / read_write set a flag instead)
FIELD_PHASES = {"starting": STARTING, "logging_in": LOGGING_IN, "awaiting_second_factor": AWAITING_SECOND_FACTOR,
                "existing_session": EXISTING_SESSION, "logged_in": API_INITIALISING, "ready": READY,
                "restarting": RESTARTING, "login_failed": LOGIN_FAILED, "stopping": STOPPING}
FLAG_FIELDS = ("read_only", "read_write")

_IBC = r"IBC: "
_SIM = r"gateway_sim: (?:state|condition) "
DEFAULT_PATTERNS: dict[str, tuple[str, ...]] = {
    "starting": (_IBC + r"Starting Gateway$", _SIM + r"starting:"),
    "logging_in": (_IBC + r"Login dialog WINDOW_OPENED", _SIM + r"login-dialog:"),
    "awaiting_second_factor": (_IBC + r"Second Factor Authentication initiated", _SIM + r"awaiting-second-factor:"),
    "existing_session": (_IBC + r"detected dialog entitled: Existing session detected", _SIM + r"existing-session:"),
    "logged_in": (_IBC + r"Login has completed$", _SIM + r"api-initialising:"),
    "ready": (_SIM + r"ready:",),
    "restarting": (_IBC + r"Re-starting session", _SIM + r"restarting:"),
    "login_failed": (_IBC + r"IBC closing because login has not completed", _IBC + r"Login has not completed"),
    "stopping": (_SIM + r"stopping:", _IBC + r"Login has completed: exiting"),
    "read_only": (_IBC + r"Read-Only API checkbox is (?:now|already) set to: true", _SIM + r"read-only:"),
    "read_write": (_IBC + r"Read-Only API checkbox is (?:now|already) set to: false",),
}
# IBC says when the Gateway will restart itself each day; a stack's maintenance window should cover it.
AUTO_RESTART = regex.compile(_IBC + r"Auto restart time (?:set to|already set to|changed from .* to) (\d\d:\d\d [AP]M)")
MATCH_TIME_LIMIT = 0.05  # seconds per line and pattern
LINE_LIMIT = 4096  # a longer line is matched on its first 4 KiB


@dataclass(frozen=True)
class LoginState:
    """Where the login is, since when (seconds on the caller's clock), and what the log said on the way."""

    phase: str | None = None
    since: float | None = None
    read_only: bool | None = None  # None: the log never said
    auto_restart: str | None = None  # "11:45 PM", as IBC logs it
    second_factor_prompts: int = 0
    logins: int = 0  # completed logins (a soft restart's counts too)
    last_line: str = ""  # the line that set the phase

    @property
    def in_login(self) -> bool:
        return self.phase in LOGIN_PHASES


def compile_patterns(patterns: LoginPatterns | None) -> list[tuple[str, list[regex.Pattern]]]:
    """(field, compiled patterns) in matching order: the stack's own replace the defaults of their phase."""
    given: Mapping[str, Sequence[str] | None] = patterns.model_dump() if patterns is not None else {}
    order = ["stopping", "login_failed", *[f for f in DEFAULT_PATTERNS if f not in ("stopping", "login_failed")]]
    return [(name, [regex.compile(p) for p in (given.get(name) or DEFAULT_PATTERNS[name])]) for name in order]


class LoginTracker:
    """Feeds on log lines; :attr:`state` is the latest :class:`LoginState` (immutable snapshots)."""

    def __init__(self, patterns: LoginPatterns | None = None):
        self._patterns = compile_patterns(patterns)
        self.state = LoginState()

    def feed(self, line: str, now: float) -> str | None:
        """Take one log line read at ``now``; return the new phase if it changed the phase."""
        text = line.rstrip("\r\n")[:LINE_LIMIT]
        auto = _search(AUTO_RESTART, text)
        if auto is not None:
            self.state = replace(self.state, auto_restart=auto.group(1))
        for name, compiled in self._patterns:
            if not any(_search(pattern, text) is not None for pattern in compiled):
                continue
            if name in FLAG_FIELDS:
                self.state = replace(self.state, read_only=name == "read_only")
                return None
            return self._enter(FIELD_PHASES[name], now, text)
        return None

    def _enter(self, phase: str, now: float, line: str) -> str | None:
        state = self.state
        counts = {"second_factor_prompts": state.second_factor_prompts + (phase == AWAITING_SECOND_FACTOR),
                  "logins": state.logins + (phase == API_INITIALISING)}
        if phase == state.phase or (phase == STOPPING and state.phase == LOGIN_FAILED):
            # A Gateway stopping because its login failed is still a failed login (the sim says both).
            self.state = replace(state, **counts)
            return None
        self.state = replace(state, phase=phase, since=now, last_line=line, **counts)
        return phase


def _search(pattern: regex.Pattern, text: str) -> regex.Match | None:
    try:
        return pattern.search(text, timeout=MATCH_TIME_LIMIT)
    except TimeoutError:
        return None

"""`stop_signal`: which signal names can stop a service. Pure, and cheap to import: the run
state's reader (:mod:`launcher.state.checked`) checks recorded stop signals with it, and
`status` must not pay for the stack model.
"""

from __future__ import annotations

import re
import signal

# Signals that cannot stop a service: uncatchable SIGKILL is what follows stop_grace anyway,
# the job-control ones freeze or resume it, SIGCHLD is ignored by default.
_NOT_STOP_SIGNALS = {
    signal.SIGKILL: "SIGKILL is what robostack sends after stop_grace; to kill at once, set stop_grace: 0s",
    signal.SIGSTOP: "SIGSTOP freezes a process, it never ends it",
    signal.SIGTSTP: "SIGTSTP suspends a process by default, it does not end it",
    signal.SIGTTIN: "SIGTTIN suspends a process by default, it does not end it",
    signal.SIGTTOU: "SIGTTOU suspends a process by default, it does not end it",
    signal.SIGCONT: "SIGCONT resumes a process, it never ends it",
    signal.SIGCHLD: "SIGCHLD is ignored by default, it never ends a process",
}


def parse_stop_signal(value: object) -> str:
    """A real signal's name (``SIGTERM``, ``term``, ``sigint``) that can end a process.

    Only members of :class:`signal.Signals` count: ``SIG_BLOCK``, ``SIG_SETMASK``,
    ``SIG_DFL`` and friends are constants of the signal module, not signals.
    """
    text = value.upper() if isinstance(value, str) else ""
    name = text if text.startswith("SIG") else "SIG" + text
    if not re.fullmatch(r"SIG[A-Z0-9]{2,12}", name) or name not in signal.Signals.__members__:
        shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
        raise ValueError(f'unknown signal "{shown}" (expected a signal name like SIGTERM, SIGINT or SIGQUIT)')
    number = signal.Signals[name]
    if number in _NOT_STOP_SIGNALS:
        raise ValueError(f"{name} cannot be a stop signal: {_NOT_STOP_SIGNALS[number]}")
    return number.name

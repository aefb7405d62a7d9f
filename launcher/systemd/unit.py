"""The systemd unit that runs a stack, as text. Pure: values in, the unit file and its settings out.

The unit runs ``robostack -f STACK up`` in the foreground as a ``Type=notify``
service (READY=1 once every service is healthy, see :mod:`notifier`):

* ``KillMode=mixed``: ``systemctl stop`` sends SIGTERM to robostack alone, which
  stops the services itself, in order, each with its grace; only what is still
  there after ``TimeoutStopSec`` gets SIGKILL from systemd.
* ``TimeoutStopSec`` and ``TimeoutStartSec`` come from the stack: the sum of the
  services' ``stop_grace`` (they are stopped one after another) plus a margin, and
  the longest chain of ``startup_timeout`` along the dependencies plus a margin.
* ``Restart=on-failure`` after ``RestartSec``, and at most 5 starts in 10 minutes
  (a login with a second factor must never be retried in a loop).
* Credentials only through the environment: an ``EnvironmentFile=`` that only its
  owner can read; nothing secret is ever written into the unit itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from launcher.stack.resolved import ResolvedStack

START_MARGIN = 30.0  # interpreter start, pre-flight, leftovers of an earlier run
STOP_MARGIN_PER_SERVICE = 5.0  # SIGKILL and reaping after a grace ran out
STOP_MARGIN = 15.0
DEFAULT_WATCHDOG = 30.0
DEFAULT_RESTART_DELAY = 5.0
STACK_FILE_MARK = "# robostack-stack-file: "  # names the stack a unit was written for


@dataclass(frozen=True)
class UnitSettings:
    """Everything the unit says; `render_unit` turns it into the file."""

    description: str
    exec_start: tuple[str, ...]
    working_directory: str
    stack_file: str
    timeout_start: float
    timeout_stop: float
    watchdog: float = DEFAULT_WATCHDOG
    restart_delay: float = DEFAULT_RESTART_DELAY
    environment: dict[str, str] = field(default_factory=dict)  # plain, non-secret settings only
    environment_file: str | None = None
    user: str | None = None  # --system units run as this user
    system: bool = False


def stop_timeout(stack: ResolvedStack) -> float:
    """Seconds robostack may need to stop everything: each service's grace in turn, plus margins."""
    managed = [service for service in stack.services.values() if not service.external]
    return sum(service.spec.stop_grace for service in managed) + STOP_MARGIN_PER_SERVICE * len(managed) + STOP_MARGIN


def start_timeout(stack: ResolvedStack) -> float:
    """Seconds `up` may need until every service is healthy: the longest dependency chain of startup_timeout."""
    finish: dict[str, float] = {}
    for name in stack.start_order:
        service = stack.services[name]
        ready_before = max((finish[dependency] for dependency in service.depends_on if dependency in finish), default=0.0)
        finish[name] = ready_before + service.spec.startup_timeout
    return max(finish.values(), default=0.0) + START_MARGIN


def quote_argument(argument: str) -> str:
    """One ExecStart= word: quoted when needed, ``%`` (specifiers) and ``$`` (variables) made literal."""
    escaped = argument.replace("%", "%%").replace("$", "$$")
    if escaped and not any(char in escaped for char in ' \t"\'\\;'):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_assignment(assignment: str) -> str:
    """One Environment= assignment: double-quoted, ``%`` made literal (``$`` means nothing there)."""
    return '"' + assignment.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal_path(path: str) -> str:
    """A path for WorkingDirectory=/EnvironmentFile=: taken whole, only ``%`` (specifiers) made literal."""
    return path.replace("%", "%%")


def seconds(value: float) -> str:
    """A time span systemd reads: ``90s``, ``1.5s``."""
    return f"{value:g}s"


def render_unit(settings: UnitSettings) -> str:
    """The unit file's text."""
    unit = ["[Unit]", f"Description={settings.description.replace('%', '%%')}",
            "StartLimitIntervalSec=10min", "StartLimitBurst=5"]
    if settings.system:
        unit += ["Wants=network-online.target", "After=network-online.target"]
    service = ["[Service]", "Type=notify", "NotifyAccess=main",
               f"ExecStart={' '.join(quote_argument(word) for word in settings.exec_start)}",
               f"WorkingDirectory={literal_path(settings.working_directory)}"]
    if settings.user:
        service.append(f"User={settings.user}")
    for key, value in settings.environment.items():
        service.append(f"Environment={quote_assignment(f'{key}={value}')}")
    if settings.environment_file:
        service.append(f"EnvironmentFile=-{literal_path(settings.environment_file)}")
    service += ["Environment=PYTHONUNBUFFERED=1", f"WatchdogSec={seconds(settings.watchdog)}",
                f"TimeoutStartSec={seconds(settings.timeout_start)}", f"TimeoutStopSec={seconds(settings.timeout_stop)}",
                "KillMode=mixed", "KillSignal=SIGTERM",
                "SuccessExitStatus=130",  # `up` stopped by a signal (systemctl stop) exits 130: a clean stop
                "Restart=on-failure",
                f"RestartSec={seconds(settings.restart_delay)}", "UMask=0077"]
    install = ["[Install]", f"WantedBy={'multi-user.target' if settings.system else 'default.target'}"]
    header = [f"# Written by `robostack service install`; `robostack service uninstall` removes it.",
              f"{STACK_FILE_MARK}{settings.stack_file}"]
    return "\n".join(header + [""] + unit + [""] + service + [""] + install) + "\n"


def stack_file_of(unit_text: str) -> str | None:
    """The stack file a unit written by robostack runs, or None for a unit robostack did not write."""
    for line in unit_text.splitlines():
        if line.startswith(STACK_FILE_MARK):
            return line[len(STACK_FILE_MARK):].strip()
    return None


def environment_file_text(values: dict[str, str]) -> str:
    """``KEY='value'`` lines systemd's EnvironmentFile= parser reads back exactly (no expansion)."""
    lines = ["# Written by `robostack service install`: readable by its owner only."]
    for key, value in values.items():
        if "\n" in value or "\0" in value:
            raise ValueError(f"the value of {key} spans several lines, which an EnvironmentFile cannot hold")
        if "'" not in value:
            lines.append(f"{key}='{value}'")
        else:
            escaped = "".join("\\" + char if char in '\\"$`' else char for char in value)
            lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"

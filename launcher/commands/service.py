"""`robostack service install|uninstall|status`: run a stack at boot under systemd.

`install` writes the unit (:mod:`launcher.systemd.unit`) for the stack file in use,
and credentials named with ``--env`` into an EnvironmentFile only its owner can
read; where systemd runs, it reloads it and enables the unit. `uninstall` undoes
all of it; `status` says what is installed and what systemd thinks of it.
``--user`` units go to ``~/.config/systemd/user`` (at boot only with
``loginctl enable-linger``), ``--system`` units to ``/etc/systemd/system``, run as
the user who installed them. ``$ROBOSTACK_SYSTEMD_DIR`` puts both the unit and the
credentials file in one folder instead and leaves systemd alone (packaging, tests).
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, NotRunningError, StateError, UsageError
from launcher.stack.resolved import ResolvedStack
from launcher.systemd.unit import (UnitSettings, environment_file_text, render_unit, stack_file_of, start_timeout,
                                   stop_timeout)

DIRECTORY_VARIABLE = "ROBOSTACK_SYSTEMD_DIR"
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")


@dataclass(frozen=True)
class Target:
    """Where units and credentials go, and whether to drive systemctl."""

    system: bool
    unit_dir: Path
    env_dir: Path
    manage: bool  # systemd runs here and the standard folders are used

    def systemctl(self, *args: str) -> list[str]:
        return ["systemctl", *([] if self.system else ["--user"]), *args]

    def journalctl(self, unit: str) -> str:
        return f"journalctl {'' if self.system else '--user '}-u {unit} -f"


def target_for(system: bool, environ: dict[str, str] | None = None) -> Target:
    environ = dict(os.environ if environ is None else environ)
    override = environ.get(DIRECTORY_VARIABLE)
    if override:
        folder = Path(override).expanduser().absolute()
        return Target(system, folder, folder, manage=False)
    running = Path("/run/systemd/system").is_dir()
    if system:
        return Target(True, Path("/etc/systemd/system"), Path("/etc/robostack"), manage=running)
    config = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return Target(False, config / "systemd" / "user", config / "robostack", manage=running)


def unit_name(stack_name: str, given: str | None) -> str:
    name = given or f"robostack-{stack_name}"
    if not name.endswith(".service"):
        name += ".service"
    if not _UNIT_NAME.match(name):
        raise UsageError(f'"{name}" cannot be a systemd unit name (letters, digits, ":", "_", ".", "-", "@")')
    return name


def run_install(ctx: CommandContext, *, system: bool, name: str | None, env_names: tuple[str, ...],
                watchdog: float, restart_delay: float, enable: bool, now: bool, symbols: str | None,
                as_user: str | None) -> int:
    stack = ctx.load(symbols.split(",") if symbols else None)
    target = target_for(system)
    unit = unit_name(stack.name, name)
    unit_path, env_path = target.unit_dir / unit, target.env_dir / f"{unit[: -len('.service')]}.env"
    _refuse_a_foreign_unit(unit_path, stack)
    _check_interpreter()
    secrets = _credentials(env_names)
    environment = {"ROBOSTACK_STATE_DIR": str(Path(os.environ["ROBOSTACK_STATE_DIR"]).absolute())} \
        if os.environ.get("ROBOSTACK_STATE_DIR") else {}
    user = (as_user or os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name) if system else None
    exec_start = (sys.executable, "-m", "launcher", "-f", str(stack.path), "up", *([symbols] if symbols else []))
    settings = UnitSettings(description=f"robostack stack {stack.name} ({stack.path})", exec_start=exec_start,
                            working_directory=str(stack.root), stack_file=str(stack.path),
                            timeout_start=start_timeout(stack), timeout_stop=stop_timeout(stack), watchdog=watchdog,
                            restart_delay=restart_delay, environment=environment, environment_file=str(env_path),
                            user=user, system=system)
    if secrets:
        _write_private(env_path, environment_file_text(secrets))
    _write_atomically(unit_path, render_unit(settings), 0o644)
    say = _say
    say(f"wrote {unit_path} (runs: robostack -f {stack.path} up{' ' + symbols if symbols else ''})")
    if secrets:
        say(f"credentials: {env_path} (mode 0600): {', '.join(secrets)}")
    if target.manage:
        _systemctl(target, "daemon-reload")
        if enable:
            _systemctl(target, "enable", *(["--now"] if now else []), unit)
    _next_steps(ctx, target, unit, enabled=target.manage and enable, started=target.manage and enable and now)
    return EXIT_OK


def run_uninstall(ctx: CommandContext, *, system: bool, name: str | None) -> int:
    target = target_for(system)
    unit = unit_name(_stack_name(ctx) if name is None else "", name)
    unit_path, env_path = target.unit_dir / unit, target.env_dir / f"{unit[: -len('.service')]}.env"
    if not unit_path.exists():
        raise NotRunningError(f"no unit {unit_path} to remove")
    if stack_file_of(unit_path.read_text(errors="replace")) is None:
        raise UsageError(f"{unit_path} was not written by robostack; remove it yourself if you mean to")
    if target.manage:
        _systemctl(target, "disable", "--now", unit, check=False)
    unit_path.unlink()
    env_path.unlink(missing_ok=True)
    if target.manage:
        _systemctl(target, "daemon-reload")
    _say(f"removed {unit_path}")
    return EXIT_OK


def run_status(ctx: CommandContext, *, system: bool, name: str | None) -> int:
    target = target_for(system)
    unit = unit_name(_stack_name(ctx) if name is None else "", name)
    unit_path, env_path = target.unit_dir / unit, target.env_dir / f"{unit[: -len('.service')]}.env"
    say = _say
    if not unit_path.exists():
        say(f"{unit}: not installed ({unit_path} does not exist)")
        return EXIT_NOT_RUNNING
    say(f"{unit}: installed at {unit_path}")
    say(f"  stack file: {stack_file_of(unit_path.read_text(errors='replace')) or '(not written by robostack)'}")
    if env_path.exists():
        mode = env_path.stat().st_mode & 0o777
        warning = "" if mode & 0o077 == 0 else " - readable by others: chmod 600 it"
        say(f"  credentials: {env_path} (mode {mode:04o}){warning}")
    if not target.manage:
        say("  systemd: not running here (or $ROBOSTACK_SYSTEMD_DIR is set): cannot ask it")
        return EXIT_OK
    enabled = _systemctl(target, "is-enabled", unit, check=False).strip() or "unknown"
    active = _systemctl(target, "is-active", unit, check=False).strip() or "unknown"
    say(f"  systemd: {enabled}, {active}; logs: {target.journalctl(unit)}")
    return EXIT_OK if active == "active" else EXIT_NOT_RUNNING


def _stack_name(ctx: CommandContext) -> str:
    """The stack's name without resolving it: uninstall and status work without its credentials set."""
    import yaml

    path = ctx.stack_path()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        document = None
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else (path.absolute().parent.name or "stack")


def _refuse_a_foreign_unit(unit_path: Path, stack: ResolvedStack) -> None:
    if not unit_path.exists():
        return
    existing = stack_file_of(unit_path.read_text(errors="replace"))
    if existing is None:
        raise UsageError(f"{unit_path} exists and was not written by robostack; choose another name with --name")
    if existing != str(stack.path):
        raise UsageError(f"{unit_path} already runs {existing}; choose another name with --name")


def _check_interpreter() -> None:
    """systemd starts `python -m launcher` from the stack's folder: robostack must be installed in it."""
    result = subprocess.run([sys.executable, "-c", "import launcher"], cwd="/", capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", os.defpath)}, timeout=60)
    if result.returncode != 0:
        raise StateError(f"robostack is not installed for {sys.executable} (systemd could not start it); "
                         "install it there first: pip install .")


def _credentials(names: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for name in names:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise UsageError(f'--env {name}: not a variable name')
        if name not in os.environ:
            raise UsageError(f"--env {name}: it is not set in this environment, so there is nothing to keep")
        values[name] = os.environ[name]
    try:
        environment_file_text(values)
    except ValueError as err:
        raise UsageError(f"--env: {err}") from err
    return values


def _write_private(path: Path, text: str) -> None:
    """Credentials: created 0600 from the first byte (never world-readable, not even for a moment)."""
    _write_atomically(path, text, 0o600)


def _write_atomically(path: Path, text: str, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if mode == 0o600 else 0o755)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as err:
        raise StateError(f"cannot write {path}: {err.strerror or err}") from err


def _systemctl(target: Target, *args: str, check: bool = True) -> str:
    command = target.systemctl(*args)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StateError(f"{' '.join(command)} failed: {err}") from err
    if check and result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise StateError(f"{' '.join(command)} failed: {reason}")
    return result.stdout


def _next_steps(ctx: CommandContext, target: Target, unit: str, *, enabled: bool, started: bool) -> None:
    say = _say
    steps = []
    if not target.manage:
        steps.append(f"{' '.join(target.systemctl('daemon-reload'))} && {' '.join(target.systemctl('enable', '--now', unit))}")
    elif not started:
        steps.append(" ".join(target.systemctl("start", unit)))
    if not target.system:
        steps.append(f"loginctl enable-linger {pwd.getpwuid(os.getuid()).pw_name}   # start it at boot, before any login")
    steps.append(target.journalctl(unit) + "   # its output")
    say(("enabled; " if enabled and not started else "started; " if started else "") + "next:")
    for step in steps:
        say(f"  {step}")


def _say(text: str) -> None:
    """One plain line on stdout, never wrapped (it is often a command to copy)."""
    print(text, flush=True)

"""Where a stack's state lives: one private directory per stack file.

Keyed by the stack file's absolute path only (its folder name plus a hash), so
two checkouts never share a lock or run state, and `down` still finds a running
stack after its file was edited into something invalid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from launcher.errors import StateError
from launcher.state import files

TYPE_CHECKING = False  # typing itself costs `status` its import
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Mapping


@dataclass(frozen=True)
class StatePaths:
    """Every path in a stack's state directory."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def control_socket(self) -> Path:
        """The supervisor's control socket (only this user can reach it: the folder is theirs alone)."""
        return self.root / "control.sock"

    @property
    def run_state(self) -> Path:
        return self.root / "run.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def current_log(self, service: str) -> Path:
        """The stable path of a service's current log (a symlink to this run's file)."""
        return self.logs / f"{service}.log"

    def run_log(self, service: str, run_id: str) -> Path:
        """The log file of one service for one run."""
        return self.logs / service / f"{run_id}.log"

    def ensure(self) -> "StatePaths":
        """Create the folder tree private to this user (0700), or check an existing one (see files.py).

        An existing folder that another user owns or may write is refused (StateError),
        never chmod'ed.
        """
        files.ensure_private_dir(self.root)
        files.ensure_private_dir(self.logs)
        from launcher.state.registry import remember  # the registry builds on this module

        remember(self.root)
        return self

    def verify(self) -> "StatePaths":
        """Refuse (StateError) an existing state folder that is not this user's alone; a missing one is fine."""
        files.check_existing_dir(self.root)
        return self

    def current_log_target(self, service: str) -> Path | None:
        """This run's log file of `service`, read from robostack's own link (None before its first start).

        The link must point inside the logs folder; anything else is refused (StateError).
        """
        return files.read_link_inside(self.current_log(service), root=self.root)


STATE_DIR_VARIABLE = "ROBOSTACK_STATE_DIR"


def sha256_hex(text: str) -> str:
    """The SHA-256 of `text` in hex, from the interpreter's built-in module when there is one: hashlib loads
    OpenSSL, which costs every command a few milliseconds for a digest of a path."""
    try:
        from _sha256 import sha256  # CPython 3.10, 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256(text.encode()).hexdigest()


def state_base(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding this user's default state folders: $XDG_STATE_HOME/robostack (~/.local/state/robostack)."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "robostack"


def state_dir_for(stack_path: Path, environ: Mapping[str, str] | None = None) -> StatePaths:
    """The state directory of a stack file: $ROBOSTACK_STATE_DIR, else under $XDG_STATE_HOME."""
    env = os.environ if environ is None else environ
    override = env.get(STATE_DIR_VARIABLE)
    if override:
        return StatePaths(Path(override).expanduser().resolve())
    absolute = stack_path.resolve()
    digest = sha256_hex(str(absolute))[:8]
    folder = "".join(c if c.isalnum() or c in "-_." else "_" for c in absolute.parent.name) or "stack"
    return StatePaths(state_base(env) / f"{folder}-{digest}")


def new_run_id(moment: datetime, pid: int) -> str:
    """A sortable, unique-enough id for one `up`: its start time and the supervisor's pid."""
    return f"{moment:%Y%m%d-%H%M%S}-{pid}"


def point_current_log(paths: StatePaths, service: str, run_log: Path) -> None:
    """Make `logs/<service>.log` point at this run's file, atomically (a randomly named link, then rename)."""
    try:
        target = PurePosixPath(run_log.relative_to(paths.logs))
    except ValueError as err:
        raise StateError(f"log {run_log} is not inside {paths.logs}") from err
    files.replace_symlink(paths.current_log(service), target, root=paths.root)

"""Every stack of this user: where its state lives, what it was started from, who is running it.

A stack's state folder is either under the base folder (``$XDG_STATE_HOME/robostack``,
default ``~/.local/state/robostack``), one folder per stack file, or wherever
``ROBOSTACK_STATE_DIR`` pointed when it was brought up. The second kind cannot be found by
looking, so :func:`remember` (called whenever a state folder is created or checked for
`up`) records it in the index: one small file per folder under ``<base>/index/``, named by
a hash of the folder's path and holding that path, so writing an entry is idempotent and
two robostacks never contend for one file. Entries whose folder is gone are dropped when
read.

:func:`list_stacks` reads them all, through the same safe file access as everything else
in a state folder: a folder that is not the user's is listed with the reason, never read.
Pre-flight uses it so that another live stack's processes are never taken for leftovers;
`robostack ls` can list it as is.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from launcher.errors import RobostackError, StateError
from launcher.state import files
from launcher.state.paths import STATE_DIR_VARIABLE, StatePaths, sha256_hex, state_base
from launcher.state.store import RunState, StackLock, read_run_state

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Mapping

INDEX_FOLDER = "index"  # under the base folder; a stack's own folder is always "<name>-<8 hex>"


@dataclass(frozen=True)
class StackEntry:
    """One stack of this user, as its state folder tells it."""

    state_dir: Path
    custom: bool  # its folder came from ROBOSTACK_STATE_DIR (found through the index)
    state: RunState | None = field(default=None, repr=False)  # None: it never wrote a run state, or unreadable
    supervisor_pid: int | None = None  # who holds its lock (-1: held, pid unreadable); None when nobody holds it
    problem: str | None = None  # why its state could not be read (another user's folder, damaged run.json)

    @property
    def name(self) -> str:
        return self.state.stack if self.state else self.state_dir.name

    @property
    def stack_file(self) -> str | None:
        return self.state.stack_file if self.state else None

    @property
    def run_token(self) -> str | None:
        return (self.state.run_token or None) if self.state else None

    @property
    def running(self) -> bool:
        """A supervisor holds the stack's lock right now."""
        return self.supervisor_pid is not None

    def stop_command(self) -> str:
        """The command that stops this stack, as the user would type it."""
        prefix = f"{STATE_DIR_VARIABLE}={shlex.quote(str(self.state_dir))} " if self.custom else ""
        target = f"-f {shlex.quote(self.stack_file)} " if self.stack_file else ""
        return f"{prefix}robostack {target}down"

    def describe(self) -> str:
        """"the running stack 'robo' (stack file /a/stack.yaml, supervisor pid 42)" and the like."""
        where = f"stack file {self.stack_file}" if self.stack_file else f"state folder {self.state_dir}"
        if self.running:
            pid = self.supervisor_pid if self.supervisor_pid and self.supervisor_pid > 0 else "unknown"
            return f"the running stack '{self.name}' ({where}, supervisor pid {pid})"
        return f"stack '{self.name}' ({where}), whose supervisor is gone"


def index_dir(environ: Mapping[str, str] | None = None) -> Path:
    return state_base(environ) / INDEX_FOLDER


def remember(state_dir: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Record a state folder outside the base folder in the index (nothing to do for one inside it).

    Best effort: a home that cannot be written (read-only, another user's HOME after `su`)
    must not stop `up`; the stack is then only missing from `ls`, and its processes are
    still recognised as another stack's by the recorded state of that stack's own folder
    when it is found. Returns whether the folder is indexed.
    """
    state_dir = Path(state_dir)
    base = state_base(environ)
    if state_dir.parent == base:
        return True
    entry = index_dir(environ) / _entry_name(state_dir)
    try:
        if entry.exists():
            return True
        files.ensure_private_dir(entry.parent)
        files.write_atomically(entry, f"{state_dir}\n".encode())
    except (OSError, StateError):
        return False
    return True


def _entry_name(state_dir: Path) -> str:
    return sha256_hex(str(state_dir))[:24]


def state_dirs(environ: Mapping[str, str] | None = None) -> list[tuple[Path, bool]]:
    """(folder, custom) for every state folder of this user that still exists; stale index entries are dropped."""
    base = state_base(environ)
    found: list[tuple[Path, bool]] = []
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        names = []
    for name in names:
        folder = base / name
        if name != INDEX_FOLDER and ((folder / "lock").exists() or (folder / "run.json").exists()):
            found.append((folder, False))
    found.extend((folder, True) for folder in _indexed(environ) if (folder, False) not in found)
    return found


def _indexed(environ: Mapping[str, str] | None) -> list[Path]:
    folder = index_dir(environ)
    try:
        if not files.check_existing_dir(folder):
            return []
        names = sorted(os.listdir(folder))
    except (StateError, OSError):
        return []  # an unusable index hides custom folders from `ls`; it must not stop `up`
    found = []
    for name in names:
        entry = folder / name
        try:
            text = (files.read_bytes(entry, limit=4096) or b"").decode("utf-8", "replace").strip()
        except StateError:
            continue
        if text and os.path.isdir(text):
            found.append(Path(text))
        elif name == _entry_name(Path(text)):
            _forget(entry)  # its folder is gone
    return found


def _forget(entry: Path) -> None:
    try:
        entry.unlink()
    except OSError:
        pass


def read_entry(state_dir: Path, custom: bool = False) -> StackEntry:
    """What one state folder says about its stack; a problem reading it is recorded, never raised."""
    paths = StatePaths(Path(state_dir))
    try:
        paths.verify()
        state = read_run_state(paths)
        holder = StackLock(paths).holder()
    except RobostackError as error:
        return StackEntry(paths.root, custom, problem=str(error))
    return StackEntry(paths.root, custom, state, holder)


def list_stacks(environ: Mapping[str, str] | None = None) -> list[StackEntry]:
    """Every stack of this user, default folders first, then those found through the index."""
    return [read_entry(folder, custom) for folder, custom in state_dirs(environ)]

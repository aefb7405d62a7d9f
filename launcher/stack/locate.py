"""Which stack file a command means: -f, else $ROBOSTACK_FILE, else ./stack.yaml (nothing heavy imported:
every command needs this, most never parse the file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from launcher.errors import StackFileError

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Mapping

DEFAULT_FILE_NAME = "stack.yaml"
FILE_VARIABLE = "ROBOSTACK_FILE"


def find_stack_file(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """The stack file to use: `explicit` (-f/--file), else $ROBOSTACK_FILE, else ./stack.yaml.

    A relative path is taken relative to `cwd`. The returned path keeps the
    user's spelling when `cwd` is the process's working directory (so errors
    say ``stack.yaml:12``, not a long absolute path); otherwise it is joined
    to `cwd` so that it still names the right file. A missing file raises
    StackFileError naming the path and how it was chosen.
    """
    if explicit:
        given, origin = explicit, "given with -f/--file"
    elif environ.get(FILE_VARIABLE):
        given, origin = environ[FILE_VARIABLE], f"from {FILE_VARIABLE}"
    else:
        given, origin = DEFAULT_FILE_NAME, f"the default; use -f PATH or set {FILE_VARIABLE} to use another file"
    chosen = Path(given)
    located = chosen if chosen.is_absolute() else cwd / chosen
    if located.is_dir():
        raise StackFileError(given, f"is a folder, not a stack file ({origin})")
    if not located.is_file():
        kind = file_kind(located)
        raise StackFileError(given, f"{'no such file' if kind is None else f'is {kind}, not a regular file'} ({origin})")
    return chosen if chosen.is_absolute() or _is_process_cwd(cwd) else located


def _is_process_cwd(cwd: Path) -> bool:
    try:
        return cwd.resolve() == Path.cwd().resolve()
    except OSError:  # the working directory was removed under us
        return False


def file_kind(path: Path) -> str | None:
    """'a FIFO (named pipe)', 'a folder', ... for what is at `path`; None if nothing is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "an unusual kind of file"

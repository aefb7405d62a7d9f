"""What every command needs: which stack file, its state directory, where and how to print.

Cheap to create: nothing heavy is imported until a command asks for it (the stack
model and its validation only for commands that load the stack file, rich only for
commands that print with it), so `status`, `ps`, `logs`, `down`, `--help` start fast.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from launcher.output.term import Out, colour_wanted, terminal_width

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from rich.console import Console

    from launcher.stack.redaction import Redactor
    from launcher.stack.resolved import ResolvedStack
    from launcher.state.paths import StatePaths

WIDE = 100_000  # a rich Console's width when the output is not a terminal: lines are never cut or wrapped


class CommandContext:
    """Shared by all subcommands; created once by the CLI (a plain class: dataclasses costs every command inspect)."""

    def __init__(self, file_option: str | None, *, no_color: bool = False, file_from_environment: bool = False):
        self.file_option = file_option
        self.no_color = no_color
        self.file_from_environment = file_from_environment  # the stack file came from ROBOSTACK_FILE, not -f
        self._consoles: dict = {}
        self._outs: dict = {}

    # -- the stack file and its state ------------------------------------------------------------

    def stack_path(self) -> Path:
        from launcher.stack.locate import find_stack_file

        return find_stack_file(self.file_option, os.environ, Path.cwd())

    def load(self, symbols: list[str] | None = None) -> "ResolvedStack":
        from launcher.stack.loader import load_stack

        return load_stack(self.stack_path(), symbols=symbols, environ=os.environ)

    def paths(self) -> "StatePaths":
        """The state directory; needs only the file's path, so it works even if the file is now invalid.

        An existing folder that is not this user's alone is refused here (StateError, exit 6),
        before any command reads from it.
        """
        from launcher.state.paths import state_dir_for

        return state_dir_for(self.stack_path()).verify()

    def command(self, *words: str) -> str:
        """A robostack command line to suggest, naming the stack file the way the user did (`-f` or
        ROBOSTACK_FILE), so it acts on the same stack when pasted."""
        return shlex.join(["robostack", *words]).replace("robostack", self._invocation(), 1)

    def suggest(self, text: str) -> str:
        """`text` with every suggested `` `robostack ...` `` command naming the stack file as the user did."""
        invocation = self._invocation()
        if invocation == "robostack":
            return text
        return text.replace("`robostack ", f"`{invocation} ").replace(f"`{invocation} -f ", "`robostack -f ")

    def _invocation(self) -> str:
        if not self.file_option:
            return "robostack"
        if self.file_from_environment:
            return f"ROBOSTACK_FILE={shlex.quote(self.file_option)} robostack"
        return f"robostack -f {shlex.quote(self.file_option)}"

    def redactor(self, *, with_stack: bool = True) -> "Redactor":
        """The masking rule for what a command shows: secrets of the environment, and the stack's own
        when its file still loads (`status`, `events` and `down` must work while it is broken).

        `with_stack=False` for the commands typed many times a day (`status`, `ps`, `events`): loading
        the stack file costs more than their whole run, and what they show was written by the
        supervisor, which masks everything with the stack's secrets already; the environment's
        secrets and the shapes (`--password x`, a DSN's password, a Bearer token) are still masked.
        """
        from launcher.errors import RobostackError
        from launcher.stack.redaction import Redactor

        known = Redactor.from_environment(os.environ)
        if not with_stack:
            return known
        try:
            return known.with_secrets(self.load().secret_values)
        except RobostackError:
            return known

    # -- output -------------------------------------------------------------------------------------

    @property
    def out(self) -> Out:
        """Plain lines to stdout (colours only when wanted)."""
        return self._out(sys.stdout)

    @property
    def err(self) -> Out:
        return self._out(sys.stderr)

    def _out(self, stream) -> Out:
        if stream not in self._outs:
            self._outs[stream] = Out(stream, colour=colour_wanted(stream, self.no_color))
        return self._outs[stream]

    @property
    def console(self) -> "Console":
        """A rich Console on stdout, for the commands that render with rich (up, doctor, restart, config)."""
        return self._console(stderr=False)

    @property
    def error_console(self) -> "Console":
        return self._console(stderr=True)

    def _console(self, *, stderr: bool) -> "Console":
        if stderr not in self._consoles:
            self._consoles[stderr] = make_console(sys.stderr if stderr else sys.stdout, no_color=self.no_color)
        return self._consoles[stderr]


def make_console(stream, *, no_color: bool) -> "Console":
    """A rich Console that follows the output rules: colours only when wanted, full width when not a terminal,
    and a closed pipe mutes it (the command goes on and exits with its own code)."""
    from rich.console import Console

    colour = colour_wanted(stream, no_color)
    console = Console(file=stream, width=terminal_width(stream) or WIDE, no_color=not colour,
                      color_system="auto" if colour else None, force_terminal=colour or None,
                      highlight=False, stderr=stream is sys.stderr)
    console.on_broken_pipe = lambda: _mute(console)  # type: ignore[method-assign]
    return console


def _mute(console: "Console") -> None:
    console.quiet = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, console.file.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

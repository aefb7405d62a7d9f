"""What every command needs: which stack file, its state directory, a console."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from launcher.errors import RobostackError
from launcher.stack.loader import find_stack_file, load_stack
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.paths import StatePaths, state_dir_for


@dataclass
class CommandContext:
    """Shared by all subcommands; created once by the CLI group."""

    file_option: str | None
    console: Console = field(default_factory=Console)
    error_console: Console = field(default_factory=lambda: Console(stderr=True))

    def stack_path(self) -> Path:
        return find_stack_file(self.file_option, os.environ, Path.cwd())

    def load(self, symbols: list[str] | None = None) -> ResolvedStack:
        return load_stack(self.stack_path(), symbols=symbols, environ=os.environ)

    def paths(self) -> StatePaths:
        """The state directory; needs only the file's path, so it works even if the file is now invalid.

        An existing folder that is not this user's alone is refused here (StateError, exit 6),
        before any command reads from it.
        """
        return state_dir_for(self.stack_path()).verify()

    def redactor(self) -> Redactor:
        """The masking rule for what a command shows: secrets of the environment, and the stack's own
        when its file still loads (`status`, `events` and `down` must work while it is broken)."""
        known = Redactor.from_environment(os.environ)
        try:
            return known.with_secrets(self.load().secret_values)
        except RobostackError:
            return known

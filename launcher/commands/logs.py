"""`robostack logs [SERVICE...] [-f] [-n N]`: tail and follow the services' own log files."""

from __future__ import annotations

import asyncio
import os
import sys

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, UsageError
from launcher.output.logs import follow, last_lines, make_printer, start_cursor
from launcher.stack.redaction import Redactor
from launcher.state.store import read_run_state


def run_logs(ctx: CommandContext, services: tuple[str, ...], follow_new: bool, lines: int) -> int:
    paths = ctx.paths()
    state = read_run_state(paths)
    if state is None:
        raise NotRunningError(f"no logs yet: this stack has not run here (state directory {paths.root})")
    known = [name for name in reversed(state.stop_order or list(state.services)) if not state.services[name].external]
    unknown = [name for name in services if name not in state.services]
    if unknown:
        raise UsageError(f"unknown service {unknown[0]!r}; this stack has: {', '.join(known)}")
    chosen = [name for name in (services or known) if not state.services[name].external]
    printer = make_printer(sys.stdout, chosen)
    # Headers are masked when written; a service may still print a secret it was given. Only the
    # environment is consulted (not the stack file): `logs` must work while the file is broken.
    redactor = Redactor.from_environment(os.environ)

    def show(name: str, text: str) -> None:
        printer.line(name, redactor.mask(text))

    for name in chosen:
        target = paths.current_log_target(name)
        for text in last_lines(target, lines) if target else ():
            show(name, text)
    if follow_new:
        cursors = {name: start_cursor(paths.current_log(name)) for name in chosen}
        try:
            asyncio.run(follow(cursors, show))
        except KeyboardInterrupt:
            pass
    return EXIT_OK

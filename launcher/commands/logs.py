"""`robostack logs [SERVICE...] [-f] [-n N] [--since T] [--until T] [-t] [--no-color] [--no-log-prefix]`."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, UsageError
from launcher.logwriter import reader
from launcher.stack.redaction import Redactor
from launcher.state import files as state_files
from launcher.output.logs import DEFAULT_LINES, LogPrinter, colour_wanted, entries, follow, parse_moment, show
from launcher.state.store import read_run_state


def run_logs(ctx: CommandContext, services: tuple[str, ...], follow_new: bool, lines: int | None, *,
             since: str | None = None, until: str | None = None, timestamps: bool = False,
             no_color: bool = False, prefix: bool = True) -> int:
    """Print the chosen services' lines merged in time order; with `follow_new`, keep printing new ones."""
    paths = ctx.paths()
    state = read_run_state(paths)
    if state is None:
        raise NotRunningError(f"no logs yet: this stack has not run here (state directory {paths.root})")
    known = [name for name in reversed(state.stop_order or list(state.services)) if not state.services[name].external]
    unknown = [name for name in services if name not in state.services]
    if unknown:
        raise UsageError(f"unknown service {unknown[0]!r}; this stack has: {', '.join(known)}")
    if follow_new and until:
        raise UsageError("--until cannot be combined with --follow (following shows lines as they come)")
    now = datetime.now(timezone.utc)
    start, end = _moment("--since", since, now), _moment("--until", until, now)
    count = lines if lines is not None else (DEFAULT_LINES if start is None and end is None else None)
    chosen = [name for name in (services or known) if not state.services[name].external]
    for name in chosen:
        _check_log_folder(paths, name)
    # Headers are masked when written; a service may still print a secret it was given. Only the
    # environment is consulted (not the stack file): `logs` must work while the file is broken.
    printer = LogPrinter(sys.stdout, chosen, colour=colour_wanted(sys.stdout, no_color), prefix=prefix,
                         timestamps=timestamps, mask=Redactor.from_environment(os.environ).mask)
    followers = {name: reader.Follower(paths.current_log(name)) for name in chosen} if follow_new else {}
    try:
        streams = []
        for name in chosen:
            ends = followers[name].start_at_end() if follow_new else None
            found = reader.segments(paths.logs / name, since=start, until=end, ends=ends)
            lines_of = reader.tail(found, count) if count is not None else reader.forward(found)
            streams.append(entries(name, lines_of))
        show(streams, printer)
        if follow_new:
            import asyncio

            asyncio.run(follow(followers, printer.write, flush=printer.flush))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        _quiet_closed_stdout()  # `robostack logs | head`: the reader has all it wanted
    finally:
        for follower in followers.values():
            follower.close()
    return EXIT_OK


def _check_log_folder(paths, name: str) -> None:
    """A service's log folder and current-log link are robostack's own, or StateError says what is wrong."""
    paths.current_log_target(name)  # refuses a link that points outside the state folder
    folder = paths.logs / name
    if os.path.lexists(folder):
        os.close(state_files.open_dir(folder))  # a real folder of this user's, not a link to elsewhere


def _moment(option: str, text: str | None, now: datetime) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except ValueError as err:
        raise UsageError(f"{option}: {err}") from err


def _quiet_closed_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

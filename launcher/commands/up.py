"""`robostack up`: in the foreground, or detached behind a background supervisor.

A detached supervisor is this process forked into its own session; it
reports its progress as JSON lines on a pipe, and `up --detach` renders them
and returns when the stack is healthy (0) or could not be brought up (the
supervisor's exit code). No file is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import traceback
from typing import Iterator

from rich.console import Console
from rich.markup import escape

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_INTERRUPTED, EXIT_OK, RobostackError, ServiceFailed, StateError, UsageError
from launcher.hygiene.preflight import run_preflight
from launcher.output.console import ConsoleReporter
from launcher.state.paths import StatePaths
from launcher.state.rotation import RotatingFile
from launcher.state.store import read_run_state
from launcher.supervise.journal import Output
from launcher.supervise.reporter import PipeReporter, render_message
from launcher.supervise.supervisor import Supervisor


def print_log_tail(ctx: CommandContext, service: str, lines: list[str]) -> None:
    """The last lines of a failed service's log, to stderr, as they are (no re-wrapping)."""
    if not lines:
        return
    try:
        ctx.error_console.print(f"--- last {len(lines)} lines of {service}'s log ---", style="dim", highlight=False)
        for line in lines:
            ctx.error_console.print(line, markup=False, highlight=False, soft_wrap=True)
        ctx.error_console.print("---", style="dim")
    except OSError:
        pass  # the terminal is gone; the log file itself has every line


def load_for_up(ctx: CommandContext, symbols: list[str] | None):
    """The stack to bring up, refusing a symbol that is one of its services' names (`robostack up trader`)."""
    stack = ctx.load(symbols)
    services = {name.upper(): name for name in stack.services}
    clashing = [symbol for symbol in (symbols or ()) if symbol.upper() in services]
    if clashing:
        name = services[clashing[0].upper()]
        raise UsageError(f"{clashing[0]!r} is the name of a service of this stack, not a symbol; nothing was started: "
                         f"`{ctx.command('up')}` starts every service, `{ctx.command('start', name)}` starts {name} "
                         f"in a running stack (if {clashing[0].upper()} really is the ticker you mean, put it in the "
                         "stack file's `symbols:`)")
    return stack


def up_message(supervisor: Supervisor) -> str:
    """The line that says the stack is up, with what its services warn about (an unknown symbol)."""
    stack = supervisor.stack
    warnings = [f"{name}: {warning}" for name, record in supervisor.state.services.items()
                for warning in record.warnings]
    text = f"stack '{stack.name}' is up ({', '.join(stack.symbols) or 'no symbols'})"
    return text + (f" with {len(warnings)} warning(s): " + "; ".join(warnings) if warnings else "")


def run_foreground(ctx: CommandContext, symbols: list[str] | None, *, ignore_zombies: bool,
                   attach: bool = False) -> int:
    """Run the stack in this process until a signal stops it; with `attach`, print what the services write too.

    Exit code rule (the same during start-up and after "is up"): a foreground `up`
    never ends by itself. Stopped by a signal (Ctrl-C, SIGTERM, `robostack down`, a
    closed terminal's SIGHUP) with every service stopped: 130. Ended by a service's
    failure (a failed start-up, `on_failure: stop-stack`): 1. Refused before anything
    started: 2, 3 or 4.
    """
    stack = load_for_up(ctx, symbols)
    paths = ctx.paths().ensure()
    terminal = ConsoleReporter(ctx.console)
    terminal.set_names(list(stack.services))
    with supervisor_log(paths, stack) as log:
        supervisor = Supervisor(stack, paths, outputs=[Output("terminal", terminal), log],
                                preflight=make_preflight(ignore_zombies))

        def ready() -> None:
            dashboard = f"; dashboard {supervisor.state.http_url}" if supervisor.state.http_url else ""
            supervisor.journal.note(f"{up_message(supervisor)}{dashboard}; Ctrl-C stops it, a second Ctrl-C kills it")

        async def main() -> None:
            supervisor.install_signal_handlers()
            stop_following = asyncio.Event()
            following = asyncio.ensure_future(follow_services(ctx, stack, paths, stop_following)) if attach else None
            try:
                await supervisor.run(on_ready=ready)
            finally:
                if following is not None:
                    stop_following.set()
                    await asyncio.wait([following], timeout=5.0)

        try:
            asyncio.run(main())
        except ServiceFailed as failure:
            print_log_tail(ctx, failure.service, failure.log_tail)
            raise
        supervisor.journal.note(f"stack '{stack.name}' stopped ({supervisor.stop_reason or 'done'})")
    return EXIT_INTERRUPTED if supervisor.stop_signal else EXIT_OK


async def follow_services(ctx: CommandContext, stack, paths: StatePaths, stop: asyncio.Event) -> None:
    """`up --attach`: every managed service's output as it is written (`service | line`), until `stop`."""
    from launcher.logwriter.reader import Follower
    from launcher.output.logs import LogPrinter, follow
    from launcher.output.term import colour_wanted
    from launcher.stack.redaction import Redactor

    names = [name for name in stack.start_order if not stack.services[name].external]
    printer = LogPrinter(sys.stdout, names, colour=colour_wanted(sys.stdout, ctx.no_color),
                         mask=Redactor.of(stack.secret_values).mask)
    followers = {name: Follower(paths.current_log(name)) for name in names}
    for follower in followers.values():
        follower.start_at_end()  # an earlier run's lines are not this run's output

    def emit(entry) -> None:
        try:
            printer.write(entry)
        except OSError:
            stop.set()  # the terminal or pipe is gone: stop following; supervision goes on

    try:
        await follow(followers, emit, stop, flush=lambda: _flush_quietly(printer))
    finally:
        for follower in followers.values():
            follower.close()


def _flush_quietly(printer) -> None:
    try:
        printer.flush()
    except OSError:
        pass


@contextlib.contextmanager
def supervisor_log(paths: StatePaths, stack) -> Iterator[Output]:
    """supervisor.log as an output that outlives the terminal, rotated like the timeline (the stack's `logs:`);
    a line a full disk refuses is lost, never fatal."""
    log = RotatingFile(paths.supervisor_log, root=paths.root, **supervisor_files_rotation(stack))
    log.open()  # now: a link or someone else's file there refuses `up` (StateError) before anything starts
    try:
        yield Output("supervisor.log", log_reporter(log, list(stack.services)), disposable=False)
    finally:
        log.close()


def supervisor_files_rotation(stack) -> dict[str, int]:
    """max_size and keep of the supervisor's own files: the stack file's top-level `logs:` (or the defaults)."""
    from launcher.logwriter.policy import rotation_policy

    policy = rotation_policy(stack.logs)
    return {"max_size": policy.max_size, "keep": policy.keep}


def log_reporter(log: RotatingFile, names: list[str]) -> ConsoleReporter:
    reporter = ConsoleReporter(Console(file=_AppendOnly(log), force_terminal=False, color_system=None, width=160))
    reporter.set_names(names)
    return reporter


class _AppendOnly:
    """A file for rich: each line is one write(2) on an O_APPEND descriptor, or lost if it fails (ENOSPC).

    Nothing is buffered, so a failed line is neither retried later out of order nor kept growing.
    """

    def __init__(self, log: RotatingFile):
        self._log = log

    def write(self, text: str) -> int:
        try:
            self._log.write(text.encode("utf-8", errors="replace"))
        except (OSError, StateError):
            pass
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._log.open()


def make_preflight(ignore_zombies: bool):
    """The pre-flight hook the supervisor runs after taking the lock, before starting anything."""

    async def preflight(supervisor: Supervisor) -> None:
        await run_preflight(supervisor.stack, supervisor.paths, reporter=supervisor.journal,
                            ignore_zombies=ignore_zombies)

    return preflight


def run_detached(ctx: CommandContext, symbols: list[str] | None, *, ignore_zombies: bool) -> int:
    """Fork a background supervisor and relay its progress until the stack is up or failed.

    A fork rather than a fresh interpreter: the stack is already loaded and
    validated here, and starting Python again would cost about half a second
    before the first service starts. Nothing runs yet that a fork could break
    (no event loop, no threads).
    """
    stack = load_for_up(ctx, symbols)  # validate here so a bad file fails in the foreground, at once
    paths = ctx.paths().ensure()
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the background supervisor: never returns into the CLI
        os.close(read_end)
        os._exit(_become_supervisor(stack, paths, write_end, ignore_zombies))
    os.close(write_end)
    child = _Child(pid)
    reporter = ConsoleReporter(ctx.console)
    reporter.set_names(list(stack.services))
    try:
        return _relay(ctx, reporter, read_end, child, paths)
    except KeyboardInterrupt:
        ctx.error_console.print("interrupted: stopping the background supervisor and its services")
        child.send_signal(signal.SIGTERM)
        _drain(read_end, reporter)
        child.wait()
        return EXIT_INTERRUPTED
    finally:
        os.close(read_end)


class _Child:
    """The forked supervisor, as the `up --detach` that started it sees it."""

    def __init__(self, pid: int):
        self.pid = pid

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)  # our own child, not yet reaped: its pid cannot have been reused


def _become_supervisor(stack, paths, report_fd: int, ignore_zombies: bool) -> int:
    """In the forked child: a new session, output into supervisor.log, run the stack until stopped."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    pipe = PipeReporter(report_fd)
    # stdout and stderr are supervisor.log (a stray traceback lands there too), also after each rotation.
    log_file = RotatingFile(paths.supervisor_log, also=(1, 2), root=paths.root, **supervisor_files_rotation(stack))
    try:
        log_file.open()  # opened like every state file: no link followed, yours alone
    except RobostackError as error:
        pipe.finish(ok=False, message=str(error), exit_code=error.exit_code)
        return error.exit_code
    try:
        log = Output("supervisor.log", log_reporter(log_file, list(stack.services)), disposable=False)
        supervisor = Supervisor(stack, paths, detached=True, preflight=make_preflight(ignore_zombies),
                                outputs=[Output("the `up --detach` pipe", pipe), log])

        async def main() -> None:
            supervisor.install_signal_handlers()
            await supervisor.run(on_ready=lambda: pipe.finish(ok=True, message=up_message(supervisor)))

        asyncio.run(main())
        return EXIT_OK
    except RobostackError as error:
        failed = error if isinstance(error, ServiceFailed) else None
        pipe.finish(ok=False, message=str(error), exit_code=error.exit_code,
                    log_tail=failed.log_tail if failed else [], service=failed.service if failed else "")
        print(f"robostack: {error}", flush=True)
        return error.exit_code
    except BaseException:  # a bug: keep the evidence in supervisor.log, tell `up --detach` where it is
        traceback.print_exc()
        pipe.finish(ok=False, message=f"internal error in the background supervisor; see {paths.supervisor_log}",
                    exit_code=1)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _relay(ctx: CommandContext, reporter: ConsoleReporter, read_end: int, child, paths: StatePaths) -> int:
    """Show the background supervisor's progress until it says the stack is up (0) or could not be.

    A reader of our output that went away (`up -d | head -3`) changes nothing but the
    output: the progress is still read to the end and the exit code still says whether
    the stack came up.
    """
    log = paths.supervisor_log
    muted = False

    def show(action) -> None:
        nonlocal muted
        if not muted:
            try:
                action()
            except OSError:
                muted = True

    for message in _messages(read_end):
        if message["kind"] == "finish":
            if message["ok"]:
                text = message.get("message") or "stack is up"
                style = "bold yellow" if " warning(s): " in text else "bold green"
                state = read_run_state(paths)  # saved before the supervisor said it is up
                dashboard = f"; dashboard {escape(state.http_url)}" if state is not None and state.http_url else ""
                show(lambda: ctx.console.print(
                    f"[{style}]{escape(text)}[/] (supervisor pid {child.pid}){dashboard}; `robostack status`, "
                    "`robostack logs -f`, `robostack down`", highlight=False, soft_wrap=True))
                return EXIT_OK
            show(lambda: print_log_tail(ctx, message.get("service") or "the failed service", message.get("log_tail", [])))
            child.wait()
            raise _DetachedFailure(message["message"], message.get("exit_code", 1))
        show(lambda: render_message(reporter, message))
    code = child.wait()
    raise _DetachedFailure(f"the background supervisor exited (code {code}) before the stack was up; see {log}", 1)


def _drain(read_end: int, reporter: ConsoleReporter) -> None:
    for message in _messages(read_end):
        if message["kind"] != "finish":
            try:
                render_message(reporter, message)
            except OSError:
                pass


def _messages(read_end: int):
    with os.fdopen(os.dup(read_end), "r", encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                yield json.loads(line)
            except ValueError:
                continue


class _DetachedFailure(RobostackError):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

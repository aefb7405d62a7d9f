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
from launcher.errors import EXIT_INTERRUPTED, EXIT_OK, RobostackError, ServiceFailed
from launcher.hygiene.preflight import run_preflight
from launcher.output.console import ConsoleReporter
from launcher.state import files
from launcher.state.events import Event
from launcher.state.paths import StatePaths
from launcher.state.store import read_run_state
from launcher.supervise.journal import Output
from launcher.supervise.reporter import PipeReporter
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


def run_foreground(ctx: CommandContext, symbols: list[str] | None, *, ignore_zombies: bool) -> int:
    """Run the stack in this process until a signal stops it.

    Exit code rule (the same during start-up and after "is up"): a foreground `up`
    never ends by itself. Stopped by a signal (Ctrl-C, SIGTERM, `robostack down`, a
    closed terminal's SIGHUP) with every service stopped: 130. Ended by a service's
    failure (a failed start-up, `on_failure: stop-stack`): 1. Refused before anything
    started: 2, 3 or 4.
    """
    stack = ctx.load(symbols)
    paths = ctx.paths().ensure()
    terminal = ConsoleReporter(ctx.console)
    terminal.set_names(list(stack.services))
    with supervisor_log(paths, list(stack.services)) as log:
        supervisor = Supervisor(stack, paths, outputs=[Output("terminal", terminal), log],
                                preflight=make_preflight(ignore_zombies))

        def ready() -> None:
            dashboard = f"; dashboard {supervisor.state.http_url}" if supervisor.state.http_url else ""
            supervisor.journal.note(f"stack '{stack.name}' is up ({', '.join(stack.symbols) or 'no symbols'})"
                                    f"{dashboard}; Ctrl-C stops it, a second Ctrl-C kills it")

        async def main() -> None:
            supervisor.install_signal_handlers()
            await supervisor.run(on_ready=ready)

        try:
            asyncio.run(main())
        except ServiceFailed as failure:
            print_log_tail(ctx, failure.service, failure.log_tail)
            raise
        supervisor.journal.note(f"stack '{stack.name}' stopped ({supervisor.stop_reason or 'done'})")
    return EXIT_INTERRUPTED if supervisor.stop_signal else EXIT_OK


@contextlib.contextmanager
def supervisor_log(paths: StatePaths, names: list[str]) -> Iterator[Output]:
    """supervisor.log as an output that outlives the terminal; a line a full disk refuses is lost, never fatal."""
    fd = open_supervisor_log(paths)
    try:
        yield Output("supervisor.log", log_reporter(fd, names), disposable=False)
    finally:
        os.close(fd)


def open_supervisor_log(paths: StatePaths) -> int:
    """supervisor.log for appending, opened like every state file (no link followed, yours alone)."""
    return files.open_file(paths.supervisor_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, root=paths.root)


def log_reporter(fd: int, names: list[str]) -> ConsoleReporter:
    reporter = ConsoleReporter(Console(file=_AppendOnly(fd), force_terminal=False, color_system=None, width=160))
    reporter.set_names(names)
    return reporter


class _AppendOnly:
    """A file for rich: each line is one write(2) on an O_APPEND descriptor, or lost if it fails (ENOSPC).

    Nothing is buffered, so a failed line is neither retried later out of order nor kept growing.
    """

    def __init__(self, fd: int):
        self._fd = fd

    def write(self, text: str) -> int:
        try:
            os.write(self._fd, text.encode("utf-8", errors="replace"))
        except OSError:
            pass
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd


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
    stack = ctx.load(symbols)  # validate here so a bad file fails in the foreground, at once
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
    try:
        log = open_supervisor_log(paths)
    except RobostackError as error:
        PipeReporter(report_fd).finish(ok=False, message=str(error), exit_code=error.exit_code)
        return error.exit_code
    os.dup2(log, 1)
    os.dup2(log, 2)
    pipe = PipeReporter(report_fd)
    log = Output("supervisor.log", log_reporter(1, list(stack.services)), disposable=False)  # fd 1 is the log now
    try:
        supervisor = Supervisor(stack, paths, detached=True, preflight=make_preflight(ignore_zombies),
                                outputs=[Output("the `up --detach` pipe", pipe), log])

        async def main() -> None:
            supervisor.install_signal_handlers()
            await supervisor.run(on_ready=lambda: pipe.finish(ok=True))

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
    log = paths.supervisor_log
    for message in _messages(read_end):
        if message["kind"] == "finish":
            if message["ok"]:
                state = read_run_state(paths)  # saved before the supervisor said it is up
                dashboard = f"; dashboard {escape(state.http_url)}" if state is not None and state.http_url else ""
                ctx.console.print(f"[bold green]stack is up[/] (supervisor pid {child.pid}){dashboard}; "
                                  "`robostack status`, `robostack logs -f`, `robostack down`",
                                  highlight=False, markup=True, soft_wrap=True)
                return EXIT_OK
            print_log_tail(ctx, message.get("service") or "the failed service", message.get("log_tail", []))
            child.wait()
            raise _DetachedFailure(message["message"], message.get("exit_code", 1))
        render_message(reporter, message)
    code = child.wait()
    raise _DetachedFailure(f"the background supervisor exited (code {code}) before the stack was up; see {log}", 1)


def _drain(read_end: int, reporter: ConsoleReporter) -> None:
    for message in _messages(read_end):
        if message["kind"] != "finish":
            render_message(reporter, message)


def _messages(read_end: int):
    with os.fdopen(os.dup(read_end), "r", encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def render_message(reporter: ConsoleReporter, message: dict) -> None:
    from launcher.probes.base import ProbeResult

    if message["kind"] == "event":
        reporter.event(Event.from_json(message["event"]))
    elif message["kind"] == "probe":
        result = ProbeResult(ok=message["ok"], kind="probe", detail=message["detail"], latency=message["latency"])
        reporter.probe(message["service"], result, message["elapsed"])
    elif message["kind"] == "note":
        reporter.note(message["text"])


class _DetachedFailure(RobostackError):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

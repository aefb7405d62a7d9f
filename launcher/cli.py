"""The `robostack` command line. The only place errors become messages and exit codes.

Exit codes: 0 ok; 1 a service failed (or doctor/status found a problem);
2 bad stack file or usage; 3 the stack is already running; 4 pre-flight refused
(a foreign process holds a port, zombie sockets on an external Gateway); 5 the
stack is not running (or is stopping); 6 unsafe or damaged state folder; 130 interrupted: a signal (Ctrl-C, SIGTERM,
SIGHUP) stopped a foreground `up`, during start-up or after it was up, and every
service was stopped. Each command's --help lists the codes it uses.

Start-up cost matters here (`status` is typed many times a day): this module imports
click and nothing heavy; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys

import click

from launcher import __version__
from launcher.commands.context import CommandContext
from launcher.errors import EXIT_INTERRUPTED, EXIT_USAGE, RobostackError, UsageError

_MEANINGS = {
    0: "ok",
    1: "a service failed, or doctor/status found a problem",
    2: "bad stack file, bad arguments or usage",
    3: "the stack is already running",
    4: "pre-flight refused (a foreign process holds a port, zombie sockets)",
    5: "the stack is not running (or is stopping)",
    6: "unsafe state: the state folder is not yours, others may write it, a link",
    130: "interrupted: a signal stopped a foreground `up` (all stopped)",
}
CLOSED_PIPE = "A closed output (`| head`) never changes the exit code."


def exit_codes(**meanings: str) -> str:
    """The epilog of a command: its exit codes (`c0="..."` overrides the meaning of 0), and the closed-pipe rule."""
    lines = ["\b", "Exit codes:"]
    for key, meaning in meanings.items():
        code = int(key[1:])
        lines.append(f"  {code:<4} {meaning or _MEANINGS[code]}")
    return "\n".join([*lines, "", CLOSED_PIPE])


EXIT_CODES_HELP = exit_codes(**{f"c{code}": "" for code in _MEANINGS})
STATE = {"c6": ""}  # every command that reads the state folder may refuse it

pass_context = click.make_pass_decorator(CommandContext)


def parse_symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from stackkit.symbols import validate_symbols

    try:
        return validate_symbols(text.split(","))
    except ValueError as err:
        raise UsageError(f"bad symbol list {text!r}: {err}") from err


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "file_option", metavar="PATH", envvar="ROBOSTACK_FILE",
              help="Stack file (default: ./stack.yaml, or $ROBOSTACK_FILE).")
@click.option("--no-color", is_flag=True, help="No colours anywhere (also: NO_COLOR set, or output not a terminal).")
@click.version_option(__version__, prog_name="robostack")
@click.pass_context
def cli(click_context: click.Context, file_option: str | None, no_color: bool) -> None:
    """Bring an Interactive Brokers trading stack up and down, and say what is wrong when it can't."""
    click_context.obj = CommandContext(file_option, no_color=no_color)


def preflight_options(function):
    function = click.option("--dry-run", is_flag=True, help="Only show what pre-flight would stop, and why.")(function)
    return click.option("--ignore-zombies", is_flag=True,
                        help="Start even if an external Gateway holds CLOSE_WAIT sockets.")(function)


@cli.command(epilog=exit_codes(c0="the stack is up (detached); with --dry-run: `up` would start", c1="",
                               c2="bad stack file, bad arguments, or a symbol that is a service's name",
                               c3="", c4="", c6="",
                               c130="a signal stopped a foreground `up` (a foreground `up` never exits 0)")
             + "\n\nA symbol the Gateway does not know is a `warning:` line; `up` still exits 0 (the stack runs "
               "without it) and `status`/`doctor` keep showing it.")
@click.argument("symbols", required=False)
@click.option("-d", "--detach", is_flag=True, help="Run the supervisor in the background; return once healthy.")
@click.option("--wait", "wait_healthy", is_flag=True, help="The same as --detach (docker compose's `up --wait`).")
@click.option("-a", "--attach", is_flag=True, help="In the foreground, also print what the services write.")
@preflight_options
@pass_context
def up(ctx: CommandContext, symbols: str | None, detach: bool, wait_healthy: bool, attach: bool, dry_run: bool,
       ignore_zombies: bool) -> int:
    """Start the stack in dependency order, each service gated on its health probe.

    SYMBOLS is a comma-separated list (AAPL,NVDA,TSLA) that overrides the stack file's.
    """
    from launcher.commands import up as up_command

    chosen = parse_symbols(symbols)
    if (detach or wait_healthy) and attach:
        raise UsageError("--attach follows the services in the foreground; it cannot be combined with --detach/--wait")
    if dry_run:
        from launcher.commands.preflight import run_dry_run

        return run_dry_run(ctx, chosen, ignore_zombies=ignore_zombies)
    if detach or wait_healthy:
        return up_command.run_detached(ctx, chosen, ignore_zombies=ignore_zombies)
    return up_command.run_foreground(ctx, chosen, ignore_zombies=ignore_zombies, attach=attach)


@cli.command(epilog=exit_codes(c0="stopped (or it was stopped already, with its final state written)",
                               c1="stopped, but a port is still held", c5="nothing to stop: no run state", **STATE))
@pass_context
def down(ctx: CommandContext) -> int:
    """Stop every service, dependents first; works even if the supervisor was killed."""
    from launcher.commands.down import run_down

    return run_down(ctx)


STATUS_EXITS = exit_codes(c0="every service is healthy (or done, external, halted on request)",
                          c1="a service is not, or the supervisor does not answer or cannot save its state",
                          c5="the stack is not running", **STATE)


@cli.command(epilog=STATUS_EXITS)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@pass_context
def status(ctx: CommandContext, as_json: bool) -> int:
    """Each service's state, pid, uptime, last probe, restarts and what is true of it now."""
    from launcher.commands.status import run_status

    return run_status(ctx, as_json)


cli.add_command(click.Command("ps", callback=status.callback, params=status.params, epilog=STATUS_EXITS,
                              help="The same as `robostack status` (docker compose's name for it)."))


@cli.command("ls", epilog=exit_codes(c0="", **STATE))
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one per stack.")
@pass_context
def list_stacks(ctx: CommandContext, as_json: bool) -> int:
    """Every stack of yours on this machine: its state, stack file and state folder."""
    from launcher.commands.stacks import run_ls

    return run_ls(ctx, as_json)


@cli.command(epilog=exit_codes(c0="", c2="bad option, or an unknown service", c5="no logs yet", **STATE))
@click.argument("services", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (across rotations and restarts).")
@click.option("-n", "--lines", "--tail", type=click.IntRange(min=0), default=None,
              help="Last N lines of each service [default: 20, or every line of --since/--until].")
@click.option("--since", metavar="WHEN", help="Lines received since WHEN: 10m, 2h, 1d ago, or 2025-10-23T18:05, 18:05.")
@click.option("--until", metavar="WHEN", help="Lines received until WHEN (same forms as --since).")
@click.option("-t", "--timestamps", is_flag=True, help="Show the time each line was received (UTC).")
@click.option("--no-color", is_flag=True, help="No colours (also: NO_COLOR set, or output not a terminal).")
@click.option("--no-log-prefix", is_flag=True, help="No 'service |' prefix.")
@pass_context
def logs(ctx: CommandContext, services: tuple[str, ...], follow: bool, lines: int | None, since: str | None,
         until: str | None, timestamps: bool, no_color: bool, no_log_prefix: bool) -> int:
    """Show the services' logs, merged in time order, each line prefixed with its service."""
    from launcher.commands.logs import run_logs

    return run_logs(ctx, services, follow, lines, since=since, until=until, timestamps=timestamps,
                    no_color=no_color or ctx.no_color, prefix=not no_log_prefix)


@cli.command(epilog=exit_codes(c0="", c2="bad option", **STATE))
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.option("-n", "--lines", "--tail", "count", type=click.IntRange(min=0), default=None,
              help="Only the last N events (read from the end of the timeline).")
@click.option("--since", metavar="WHEN", help="Events since WHEN: 10m, 2h, 1d ago, or 2025-10-23T18:05, 18:05.")
@pass_context
def events(ctx: CommandContext, follow: bool, as_json: bool, count: int | None, since: str | None) -> int:
    """The event timeline: started, healthy, unhealthy, exited, restarted, gave up, stopped."""
    from launcher.commands.events import run_events

    return run_events(ctx, follow, as_json, count=count, since=since)


CHANGE_EXITS = exit_codes(c0="done", c1="it did not come back (its reason is printed)",
                          c2="unknown service, or an external one", c5="the stack is not running, or is stopping",
                          **STATE)


@cli.command(epilog=CHANGE_EXITS)
@click.argument("service")
@click.option("--with-dependents", is_flag=True, help="Also restart every service that depends on it.")
@pass_context
def restart(ctx: CommandContext, service: str, with_dependents: bool) -> int:
    """Restart one service of the running stack (foreground or detached), gated on its probe."""
    from launcher.commands.restart import run_change

    return run_change(ctx, "restart", [service], with_dependents)


@cli.command(epilog=CHANGE_EXITS)
@click.argument("services", nargs=-1, required=True)
@click.option("--with-dependents", is_flag=True, help="Also stop every service that depends on them.")
@pass_context
def stop(ctx: CommandContext, services: tuple[str, ...], with_dependents: bool) -> int:
    """Stop services of the running stack and keep them stopped (`halted`) until `robostack start`.

    Dependents that a restart would take along (`on_dependency_restart: restart`, --with-dependents) are
    stopped first; the others wait (`waiting`). To stop the whole stack: `robostack down`.
    """
    from launcher.commands.restart import run_change

    return run_change(ctx, "stop", list(services), with_dependents)


@cli.command(epilog=CHANGE_EXITS)
@click.argument("services", nargs=-1, required=True)
@click.option("--with-dependents", is_flag=True, help="Also restart every service that depends on them.")
@pass_context
def start(ctx: CommandContext, services: tuple[str, ...], with_dependents: bool) -> int:
    """Start services of the running stack that were stopped (halted, failed, left stopped), gated on their probes.

    Dependents stopped along with them come back after them. To start the stack: `robostack up`.
    """
    from launcher.commands.restart import run_change

    return run_change(ctx, "start", list(services), with_dependents)


@cli.command(epilog=exit_codes(c0="every named service (all by default) is healthy",
                               c1="one failed, is blocked or halted, or --timeout passed (the reason is printed)",
                               c2="unknown service or bad --timeout", c5="the stack is not running, or is stopping",
                               **STATE))
@click.argument("services", nargs=-1)
@click.option("--timeout", metavar="DURATION", help="Give up after this long (30s, 5m) [default: no limit].")
@pass_context
def wait(ctx: CommandContext, services: tuple[str, ...], timeout: str | None) -> int:
    """Wait until the services (all by default) are healthy; for scripts and cron."""
    from launcher.commands.wait import run_wait

    return run_wait(ctx, list(services), timeout)


@cli.command(epilog=exit_codes(c0="every service is ok", c1="a service needs attention, or the supervisor does",
                               c2="bad stack file, or an unknown service", **STATE))
@click.argument("service", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: a verdict, detail, fix and checks per service.")
@pass_context
def doctor(ctx: CommandContext, service: str | None, as_json: bool) -> int:
    """Diagnose every service (or SERVICE) without touching anything: one verdict and fix each."""
    from launcher.commands.doctor import run_doctor

    return run_doctor(ctx, service, as_json)


@cli.command(epilog=exit_codes(c0="", c1="the server could not start", c2="bad stack file or option", **STATE))
@click.option("--serve", is_flag=True, help="Serve the dashboard and the HTTP API from this process, reading the "
              "state directory, until Ctrl-C.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to use instead of the stack file's http.port (with --serve, 0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Only print the URL.")
@pass_context
def dashboard(ctx: CommandContext, serve: bool, port: int | None, no_browser: bool) -> int:
    """Open the stack's dashboard in a browser (or print its URL when there is no browser)."""
    from launcher.commands.dashboard import run_dashboard

    return run_dashboard(ctx, serve=serve, port=port, open_browser=not no_browser)


@cli.command(epilog=exit_codes(c0="", c2="bad stack file or symbols"))
@click.argument("symbols", required=False)
@pass_context
def config(ctx: CommandContext, symbols: str | None) -> int:
    """Print the resolved stack (substituted, defaults filled in, secrets masked)."""
    from launcher.stack.render import render_stack

    ctx.console.print(render_stack(ctx.load(parse_symbols(symbols))), markup=False, highlight=False, soft_wrap=True)
    return 0


@cli.group(epilog=exit_codes(c0="", c1="systemctl failed", c2="bad stack file or option"))
def service() -> None:
    """Run the stack at boot under systemd (install, uninstall, status)."""


def systemd_scope(function):
    function = click.option("--name", metavar="UNIT", help="Unit name [default: robostack-<stack name>].")(function)
    return click.option("--user/--system", "user_scope", default=True,
                        help="A unit of your own user's systemd (default), or a system unit run as you.")(function)


@service.command("install", epilog=exit_codes(c0="", c1="systemctl failed", c2="bad stack file or option"))
@click.argument("symbols", required=False)
@systemd_scope
@click.option("--env", "env_names", multiple=True, metavar="NAME",
              help="Keep this variable's current value for the unit, in a file only you can read (repeatable).")
@click.option("--watchdog", default="30s", show_default=True, metavar="DURATION",
              help="WatchdogSec: systemd restarts robostack if its main loop stops answering for this long.")
@click.option("--restart-delay", default="5s", show_default=True, metavar="DURATION", help="RestartSec.")
@click.option("--enable/--no-enable", default=True, show_default=True, help="Enable the unit (start at boot).")
@click.option("--now", is_flag=True, help="Also start it now.")
@click.option("--as", "as_user", metavar="USER", help="With --system: the user the stack runs as [default: you].")
@pass_context
def service_install(ctx: CommandContext, symbols: str | None, user_scope: bool, name: str | None,
                    env_names: tuple[str, ...], watchdog: str, restart_delay: str, enable: bool, now: bool,
                    as_user: str | None) -> int:
    """Write a systemd unit that runs `robostack up` for this stack file (Type=notify)."""
    from launcher.commands.service import run_install

    watchdog_seconds, delay_seconds = parse_duration_option("--watchdog", watchdog), \
        parse_duration_option("--restart-delay", restart_delay)
    parse_symbols(symbols)
    return run_install(ctx, system=not user_scope, name=name, env_names=env_names, watchdog=watchdog_seconds,
                       restart_delay=delay_seconds, enable=enable, now=now, symbols=symbols, as_user=as_user)


def parse_duration_option(option: str, text: str) -> float:
    from launcher.stack.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise UsageError(f"{option}: {err}") from err


@service.command("uninstall", epilog=exit_codes(c0="", c1="systemctl failed", c2="bad stack file or option"))
@systemd_scope
@pass_context
def service_uninstall(ctx: CommandContext, user_scope: bool, name: str | None) -> int:
    """Stop and disable the unit, and remove it and its credentials file."""
    from launcher.commands.service import run_uninstall

    return run_uninstall(ctx, system=not user_scope, name=name)


@service.command("status", epilog=exit_codes(c0="installed", c1="not installed", c2="bad stack file or option"))
@systemd_scope
@pass_context
def service_status(ctx: CommandContext, user_scope: bool, name: str | None) -> int:
    """Whether the unit is installed, for which stack file, and what systemd says about it."""
    from launcher.commands.service import run_status

    return run_status(ctx, system=not user_scope, name=name)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn RobostackError into one line on stderr and its exit code."""
    try:
        code = cli.main(args=argv, prog_name="robostack", standalone_mode=False)
    except click.exceptions.Abort:
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except click.ClickException as error:
        _show_click_error(error)
        code = error.exit_code if error.exit_code else EXIT_USAGE
    except RobostackError as error:
        _say_on_stderr(f"robostack: {error}")
        code = error.exit_code
    except BrokenPipeError:  # help or version text to a reader that went away; commands mute their own output
        code = 0
    _silence_broken_streams()
    sys.exit(code if isinstance(code, int) else 0)


def _show_click_error(error: click.ClickException) -> None:
    try:
        error.show()
    except OSError:
        pass


def _say_on_stderr(text: str) -> None:
    try:
        click.echo(text, err=True)
    except OSError:
        pass  # the terminal is gone (EIO) or nobody reads the pipe (EPIPE): the exit code still tells


def _silence_broken_streams() -> None:
    """A closed terminal or pipe must not turn the exit into "Exception ignored ... BrokenPipeError" and
    exit code 120: whatever cannot be flushed now is pointed at /dev/null."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass

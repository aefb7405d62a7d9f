"""The `robostack` command line. The only place errors become messages and exit codes.

Exit codes: 0 ok; 1 a service failed (or doctor/status found a problem);
2 bad stack file or usage; 3 the stack is already running; 4 pre-flight refused
(a foreign process holds a port, zombie sockets on an external Gateway); 5 the
stack is not running (or is stopping); 6 unsafe or damaged state folder; 130 interrupted: a signal (Ctrl-C, SIGTERM,
SIGHUP) stopped a foreground `up`, during start-up or after it was up, and every
service was stopped. Each command's --help lists the codes it uses.

Start-up cost matters here (`status` is typed many times a day, and must take at most
three times a bare interpreter's start): the parser is the standard library's argparse
(click alone cost more than a bare interpreter's whole start, measured with
``python -X importtime``), and each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from launcher import __version__
from launcher.commands.context import CommandContext
from launcher.errors import EXIT_INTERRUPTED, RobostackError, UsageError

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
FILE_VARIABLE = "ROBOSTACK_FILE"


def exit_codes(**meanings: str) -> str:
    """The epilog of a command: its exit codes (`c0="..."` overrides the meaning of 0), and the closed-pipe rule."""
    lines = ["Exit codes:"]
    for key, meaning in meanings.items():
        code = int(key[1:])
        lines.append(f"  {code:<4} {meaning or _MEANINGS[code]}")
    return "\n".join([*lines, "", CLOSED_PIPE])


EXIT_CODES_HELP = exit_codes(**{f"c{code}": "" for code in _MEANINGS})
STATE = {"c6": ""}  # every command that reads the state folder may refuse it
STATUS_EXITS = exit_codes(c0="every service is healthy (or done, external, halted on request)",
                          c1="a service is not, or the supervisor does not answer or cannot save its state",
                          c5="the stack is not running", **STATE)
CHANGE_EXITS = exit_codes(c0="done", c1="it did not come back (its reason is printed)",
                          c2="unknown service, or an external one", c5="the stack is not running, or is stopping",
                          **STATE)
UP_EXITS = exit_codes(c0="the stack is up (detached); with --dry-run: `up` would start", c1="",
                      c2="bad stack file, bad arguments, or a symbol that is a service's name", c3="", c4="", c6="",
                      c130="a signal stopped a foreground `up` (a foreground `up` never exits 0)") + (
    "\n\nA symbol the Gateway does not know is a `warning:` line; `up` still exits 0 (the stack runs without it),\n"
    "and `status` and `doctor` keep showing it.")
CURRENT: list["CommandContext | None"] = [None]  # this run's context: error messages suggest commands through it

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Callable

    Handler = Callable[[CommandContext, argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line as one line on stderr and exit code 2 (a UsageError), never a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def parse_symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from stackkit.symbols import validate_symbols

    try:
        return validate_symbols(text.split(","))
    except ValueError as err:
        raise UsageError(f"bad symbol list {text!r}: {err}") from err


def parse_duration_option(option: str, text: str) -> float:
    from launcher.stack.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise UsageError(f"{option}: {err}") from err


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


# -- the commands ---------------------------------------------------------------------------------


def _up(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands import up as up_command

    chosen = parse_symbols(args.symbols)
    detach = args.detach or args.wait
    if detach and args.attach:
        raise UsageError("--attach follows the services in the foreground; it cannot be combined with --detach/--wait")
    if args.dry_run:
        from launcher.commands.preflight import run_dry_run

        return run_dry_run(ctx, chosen, ignore_zombies=args.ignore_zombies)
    if detach:
        return up_command.run_detached(ctx, chosen, ignore_zombies=args.ignore_zombies)
    return up_command.run_foreground(ctx, chosen, ignore_zombies=args.ignore_zombies, attach=args.attach)


def _down(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.down import run_down

    return run_down(ctx)


def _status(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.status import run_status

    return run_status(ctx, args.json)


def _ls(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.stacks import run_ls

    return run_ls(ctx, args.json)


def _logs(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.logs import run_logs

    return run_logs(ctx, tuple(args.services), args.follow, args.lines, since=args.since, until=args.until,
                    timestamps=args.timestamps, no_color=args.no_color or ctx.no_color, prefix=not args.no_log_prefix)


def _events(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.events import run_events

    return run_events(ctx, args.follow, args.json, count=args.lines, since=args.since)


def _change(command: str) -> Handler:
    def handler(ctx: CommandContext, args: argparse.Namespace) -> int:
        from launcher.commands.restart import run_change

        return run_change(ctx, command, [args.service] if command == "restart" else list(args.services),
                          args.with_dependents)

    return handler


def _wait(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.wait import run_wait

    return run_wait(ctx, list(args.services), args.timeout)


def _doctor(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.doctor import run_doctor

    return run_doctor(ctx, args.service, args.json)


def _dashboard(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.dashboard import run_dashboard

    return run_dashboard(ctx, serve=args.serve, port=args.port, open_browser=not args.no_browser)


def _config(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.stack.render import render_stack

    ctx.console.print(render_stack(ctx.load(parse_symbols(args.symbols))), markup=False, highlight=False,
                      soft_wrap=True)
    return 0


def _service_install(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.service import run_install

    watchdog = parse_duration_option("--watchdog", args.watchdog)
    delay = parse_duration_option("--restart-delay", args.restart_delay)
    parse_symbols(args.symbols)
    return run_install(ctx, system=not args.user_scope, name=args.name, env_names=tuple(args.env_names or ()),
                       watchdog=watchdog, restart_delay=delay, enable=args.enable, now=args.now,
                       symbols=args.symbols, as_user=args.as_user)


def _service_uninstall(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.service import run_uninstall

    return run_uninstall(ctx, system=not args.user_scope, name=args.name)


def _service_status(ctx: CommandContext, args: argparse.Namespace) -> int:
    from launcher.commands.service import run_status

    return run_status(ctx, system=not args.user_scope, name=args.name)


# -- the parser -----------------------------------------------------------------------------------
#
# One small parser for the global options and the command's name, then one parser for that command
# alone: building an argparse parser per command on every run would cost `status` more than its work.


def _up_arguments(up: argparse.ArgumentParser) -> None:
    up.add_argument("symbols", nargs="?", metavar="SYMBOLS")
    up.add_argument("-d", "--detach", action="store_true", help="Run the supervisor in the background; return once "
                                                                "healthy.")
    up.add_argument("--wait", action="store_true", help="The same as --detach (docker compose's `up --wait`).")
    up.add_argument("-a", "--attach", action="store_true", help="In the foreground, also print what the services "
                                                                "write.")
    up.add_argument("--dry-run", action="store_true", help="Only show what pre-flight would stop, and why.")
    up.add_argument("--ignore-zombies", action="store_true",
                    help="Start even if an external Gateway holds CLOSE_WAIT sockets.")


def _json_table(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="One JSON object instead of a table.")


def _json_lines(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON lines, one per stack.")


def _logs_arguments(logs: argparse.ArgumentParser) -> None:
    logs.add_argument("services", nargs="*", metavar="SERVICE")
    logs.add_argument("-f", "--follow", action="store_true", help="Keep printing new lines (across rotations and "
                                                                  "restarts).")
    logs.add_argument("-n", "--lines", "--tail", type=_count, metavar="N",
                      help="Last N lines of each service [default: 20, or every line of --since/--until].")
    logs.add_argument("--since", metavar="WHEN",
                      help="Lines received since WHEN: 10m, 2h, 1d ago, or 2025-10-23T18:05, 18:05.")
    logs.add_argument("--until", metavar="WHEN", help="Lines received until WHEN (same forms as --since).")
    logs.add_argument("-t", "--timestamps", action="store_true", help="Show the time each line was received (UTC).")
    logs.add_argument("--no-color", action="store_true", help="No colours (also: NO_COLOR set, or output not a "
                                                              "terminal).")
    logs.add_argument("--no-log-prefix", action="store_true", help="No 'service |' prefix.")


def _events_arguments(events: argparse.ArgumentParser) -> None:
    events.add_argument("-f", "--follow", action="store_true", help="Keep printing new events.")
    events.add_argument("--json", action="store_true", help="JSON lines.")
    events.add_argument("-n", "--lines", "--tail", type=_count, metavar="N",
                        help="Only the last N events (read from the end of the timeline).")
    events.add_argument("--since", metavar="WHEN",
                        help="Events since WHEN: 10m, 2h, 1d ago, or 2025-10-23T18:05, 18:05.")


def _change_arguments(verb: str, one: bool = False):
    def arguments(parser: argparse.ArgumentParser) -> None:
        if one:
            parser.add_argument("service", metavar="SERVICE")
        else:
            parser.add_argument("services", nargs="+", metavar="SERVICE")
        parser.add_argument("--with-dependents", action="store_true",
                            help=f"Also {verb} every service that depends on {'it' if one else 'them'}.")

    return arguments


def _wait_arguments(wait: argparse.ArgumentParser) -> None:
    wait.add_argument("services", nargs="*", metavar="SERVICE")
    wait.add_argument("--timeout", metavar="DURATION", help="Give up after this long (30s, 5m) [default: no limit].")


def _doctor_arguments(doctor: argparse.ArgumentParser) -> None:
    doctor.add_argument("service", nargs="?", metavar="SERVICE")
    doctor.add_argument("--json", action="store_true",
                        help="One JSON object: a verdict, detail, fix and checks per service.")


def _dashboard_arguments(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument("--serve", action="store_true", help="Serve the dashboard and the HTTP API from this "
                                                                "process, reading the state directory, until Ctrl-C.")
    dashboard.add_argument("--port", type=_port, metavar="N",
                           help="Port to use instead of the one the running supervisor serves on (with --serve, "
                                "instead of the stack file's http.port; 0 picks a free one).")
    dashboard.add_argument("--no-browser", action="store_true", help="Only print the URL.")


def _symbols_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("symbols", nargs="?", metavar="SYMBOLS")


def _service_arguments(service: argparse.ArgumentParser) -> None:
    actions = service.add_subparsers(dest="action", metavar="ACTION", title="actions", parser_class=_Parser)
    systemd_exits = exit_codes(c0="", c1="systemctl failed", c2="bad stack file or option")
    install = _subcommand(actions, "install", _service_install, "Write a systemd unit that runs `robostack up` for "
                                                                "this stack file (Type=notify).", systemd_exits)
    install.add_argument("symbols", nargs="?", metavar="SYMBOLS")
    install.add_argument("--env", dest="env_names", action="append", metavar="NAME",
                         help="Keep this variable's current value for the unit, in a file only you can read "
                              "(repeatable).")
    install.add_argument("--watchdog", default="30s", metavar="DURATION",
                         help="WatchdogSec: systemd restarts robostack if its main loop stops answering for this "
                              "long [default: 30s].")
    install.add_argument("--restart-delay", default="5s", metavar="DURATION", help="RestartSec [default: 5s].")
    install.add_argument("--enable", action=argparse.BooleanOptionalAction, default=True,
                         help="Enable the unit (start at boot) [default: --enable].")
    install.add_argument("--now", action="store_true", help="Also start it now.")
    install.add_argument("--as", dest="as_user", metavar="USER",
                         help="With --system: the user the stack runs as [default: you].")
    uninstall = _subcommand(actions, "uninstall", _service_uninstall, "Stop and disable the unit, and remove it and "
                                                                      "its credentials file.", systemd_exits)
    shown = _subcommand(actions, "status", _service_status, "Whether the unit is installed, for which stack file, "
                                                            "and what systemd says about it.",
                        exit_codes(c0="installed", c1="not installed", c2="bad stack file or option"))
    for sub in (install, uninstall, shown):
        sub.add_argument("--name", metavar="UNIT", help="Unit name [default: robostack-<stack name>].")
        scope = sub.add_mutually_exclusive_group()
        scope.add_argument("--user", dest="user_scope", action="store_true", default=True,
                           help="A unit of your own user's systemd (default).")
        scope.add_argument("--system", dest="user_scope", action="store_false", help="A system unit run as you.")


def _subcommand(actions, name: str, handler: "Handler", summary: str, epilog: str) -> argparse.ArgumentParser:
    sub = actions.add_parser(name, help=summary, description=summary, epilog=epilog, allow_abbrev=False,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.set_defaults(handler=handler)
    return sub


def _missing_subcommand(ctx: CommandContext, args: argparse.Namespace) -> int:
    raise UsageError("which one: install, uninstall or status? (see `robostack service --help`)")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


STATUS_SUMMARY = "Each service's state, pid, uptime, last probe, restarts and what is true of it now."
# name -> (summary, longer description or "", epilog, the arguments, the handler)
COMMANDS: dict[str, tuple] = {
    "up": ("Start the stack in dependency order, each service gated on its health probe.",
           "Start the stack in dependency order, each service gated on its health probe.\n\n"
           "SYMBOLS is a comma-separated list (AAPL,NVDA,TSLA) that overrides the stack file's.",
           UP_EXITS, _up_arguments, _up),
    "down": ("Stop every service, dependents first; works even if the supervisor was killed.", "",
             exit_codes(c0="stopped (or it was stopped already, with its final state written)",
                        c1="stopped, but a port is still held", c5="nothing to stop: no run state", **STATE),
             _no_arguments, _down),
    "status": (STATUS_SUMMARY, "", STATUS_EXITS, _json_table, _status),
    "ps": ("The same as `robostack status` (docker compose's name for it).", STATUS_SUMMARY, STATUS_EXITS,
           _json_table, _status),
    "ls": ("Every stack of yours on this machine: its state, stack file and state folder.", "",
           exit_codes(c0="", **STATE), _json_lines, _ls),
    "logs": ("Show the services' logs, merged in time order, each line prefixed with its service.", "",
             exit_codes(c0="", c2="bad option, or an unknown service", c5="no logs yet", **STATE),
             _logs_arguments, _logs),
    "events": ("The event timeline: started, healthy, unhealthy, exited, restarted, gave up, stopped.", "",
               exit_codes(c0="", c2="bad option", **STATE), _events_arguments, _events),
    "restart": ("Restart one service of the running stack (foreground or detached), gated on its probe.", "",
                CHANGE_EXITS, _change_arguments("restart", one=True), _change("restart")),
    "stop": ("Stop services of the running stack and keep them stopped (`halted`) until `robostack start`.",
             "Stop services of the running stack and keep them stopped (`halted`) until `robostack start`.\n\n"
             "Dependents that a restart would take along (`on_dependency_restart: restart`, --with-dependents)\n"
             "are stopped first; the others wait (`waiting`). To stop the whole stack: `robostack down`.",
             CHANGE_EXITS, _change_arguments("stop"), _change("stop")),
    "start": ("Start services of the running stack that were stopped (halted, failed, left stopped).",
              "Start services of the running stack that were stopped (halted, failed, left stopped), gated on\n"
              "their probes. Dependents stopped along with them come back after them. To start the stack:\n"
              "`robostack up`.", CHANGE_EXITS, _change_arguments("restart"), _change("start")),
    "wait": ("Wait until the services (all by default) are healthy; for scripts and cron.", "",
             exit_codes(c0="every named service (all by default) is healthy",
                        c1="one failed, is blocked or halted, or --timeout passed (the reason is printed)",
                        c2="unknown service or bad --timeout", c5="the stack is not running, or is stopping", **STATE),
             _wait_arguments, _wait),
    "doctor": ("Diagnose every service (or SERVICE) without touching anything: one verdict and fix each.", "",
               exit_codes(c0="every service is ok", c1="a service needs attention, or the supervisor does",
                          c2="bad stack file, or an unknown service", **STATE), _doctor_arguments, _doctor),
    "dashboard": ("Open the stack's dashboard in a browser (or print its URL when there is no browser).", "",
                  exit_codes(c0="", c1="the server could not start", c2="bad stack file or option",
                             c4="--serve: the port is in use", c5="the stack is not running (nothing serves its "
                             "dashboard), or its supervisor serves none", **STATE),
                  _dashboard_arguments, _dashboard),
    "config": ("Print the resolved stack (substituted, defaults filled in, secrets masked).", "",
               exit_codes(c0="", c2="bad stack file or symbols"), _symbols_argument, _config),
    "service": ("Run the stack at boot under systemd (install, uninstall, status).", "",
                exit_codes(c0="", c1="systemctl failed", c2="bad stack file or option"), _service_arguments,
                _missing_subcommand),
}


def top_parser() -> argparse.ArgumentParser:
    """The global options and the command's name (the command's own arguments are left for its parser)."""
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {entry[0]}" for name, entry in COMMANDS.items())
    parser = _Parser(prog="robostack", formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
                     usage="robostack [-h] [-f PATH] [--no-color] [--version] COMMAND [ARGUMENTS...]",
                     description="Bring an Interactive Brokers trading stack up and down, and say what is wrong when "
                                 f"it can't.\n\ncommands:\n{listing}\n\n`robostack COMMAND --help` says more.",
                     epilog=EXIT_CODES_HELP)
    parser.add_argument("-f", "--file", dest="file_option", metavar="PATH",
                        help=f"Stack file (default: ./stack.yaml, or ${FILE_VARIABLE}).")
    parser.add_argument("--no-color", action="store_true",
                        help="No colours anywhere (also: NO_COLOR set, or output not a terminal).")
    parser.add_argument("--version", action="version", version=f"robostack, version {__version__}")
    parser.add_argument("command", nargs="?", metavar="COMMAND", help=argparse.SUPPRESS)  # listed in the description
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ARGUMENTS", help=argparse.SUPPRESS)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command (`robostack NAME ...`)."""
    if name not in COMMANDS:
        raise UsageError(f"unknown command {name!r}; the commands are: {', '.join(COMMANDS)} "
                         "(see `robostack --help`)")
    summary, description, epilog, arguments, handler = COMMANDS[name]
    parser = _Parser(prog=f"robostack {name}", description=description or summary, epilog=epilog, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments(parser)
    parser.set_defaults(handler=handler)
    return parser


def run(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: the process's arguments) and run the command; its exit code."""
    top = top_parser()
    globals_ = top.parse_args(sys.argv[1:] if argv is None else argv)
    if globals_.command is None:  # `robostack` alone: what it can do
        top.print_help()
        return 0
    args = command_parser(globals_.command).parse_args(globals_.arguments)
    from_environment = globals_.file_option is None and bool(os.environ.get(FILE_VARIABLE))
    ctx = CURRENT[0] = CommandContext(os.environ[FILE_VARIABLE] if from_environment else globals_.file_option,
                                      no_color=globals_.no_color, file_from_environment=from_environment)
    return args.handler(ctx, args)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn RobostackError into one line on stderr and its exit code."""
    try:
        code = run(argv)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except RobostackError as error:
        context = CURRENT[0]
        _say_on_stderr(f"robostack: {context.suggest(str(error)) if context else error}")
        code = error.exit_code
    except SystemExit as done:  # --help and --version (argparse exits 0 after printing them)
        code = done.code if isinstance(done.code, int) else 0
    except BrokenPipeError:  # help or version text to a reader that went away; commands mute their own output
        code = 0
    _silence_broken_streams()
    sys.exit(code if isinstance(code, int) else 0)


def _say_on_stderr(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
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

"""`robostack restart SERVICE`, `stop SERVICE...`, `start SERVICE...`: ask the running supervisor to do it.

The supervisor does the work (the one restart path, dependents first); this relays its
progress lines and turns its answer into an exit code.
"""

from __future__ import annotations

import asyncio

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, NotRunningError, ServiceFailed, UsageError


def run_change(ctx: CommandContext, command: str, services: list[str], with_dependents: bool) -> int:
    """Send `command` (restart, stop, start) for `services`; print what the supervisor did."""
    from launcher.output.console import ConsoleReporter
    from launcher.supervise.control import send_request

    reporter = ConsoleReporter(ctx.console)
    reporter.set_names(services)
    request = ({"command": "restart", "service": services[0], "with_dependents": with_dependents}
               if command == "restart" else
               {"command": command, "services": services, "with_dependents": with_dependents})
    finish = asyncio.run(send_request(ctx.paths(), request, lambda message: _relay(reporter, message)))
    if finish["ok"]:
        ctx.out.line(finish["message"])
        return EXIT_OK
    if finish.get("exit_code") == EXIT_USAGE:
        raise UsageError(finish["message"])
    if finish.get("exit_code") == EXIT_NOT_RUNNING:  # the stack is stopping: refused, or abandoned
        raise NotRunningError(finish["message"])
    message = finish["message"]
    service = next((name for name in services if message.startswith(f"{name}: ")), services[0])
    raise ServiceFailed(service, message.removeprefix(f"{service}: "))


def _relay(reporter, message: dict) -> None:
    from launcher.supervise.reporter import render_message

    try:
        render_message(reporter, message)
    except OSError:
        pass  # the terminal or pipe is gone: the supervisor still does the work, the exit code still tells

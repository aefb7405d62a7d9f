"""`robostack restart SERVICE [--with-dependents]`: ask the running supervisor to do it."""

from __future__ import annotations

import asyncio

from launcher.commands.context import CommandContext
from launcher.commands.up import render_message
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, NotRunningError, ServiceFailed, UsageError
from launcher.output.console import ConsoleReporter
from launcher.supervise.control import request_restart


def run_restart(ctx: CommandContext, service: str, with_dependents: bool) -> int:
    reporter = ConsoleReporter(ctx.console)
    finish = asyncio.run(request_restart(ctx.paths(), service, with_dependents,
                                         lambda message: render_message(reporter, message)))
    if finish["ok"]:
        ctx.console.print(finish["message"], highlight=False)
        return EXIT_OK
    if finish.get("exit_code") == EXIT_USAGE:
        raise UsageError(finish["message"])
    if finish.get("exit_code") == EXIT_NOT_RUNNING:  # the stack is stopping: refused, or abandoned
        raise NotRunningError(finish["message"])
    raise ServiceFailed(service, finish["message"].removeprefix(f"{service}: "))

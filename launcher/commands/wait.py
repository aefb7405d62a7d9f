"""`robostack wait [SERVICE...] [--timeout D]`: 0 once the services (all by default) are up, else why not.

The supervisor answers from its own state (it knows when a service settles: failed,
blocked, halted), so this neither polls files nor guesses; a supervisor that goes
away while it waits is "not running" (exit 5).
"""

from __future__ import annotations

import asyncio

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, NotRunningError, RobostackError, UsageError

CLIENT_MARGIN = 5.0  # beyond --timeout, for the supervisor's answer to arrive on a loaded machine


class NotUp(RobostackError):
    """A service is not up: it settled (failed, blocked, halted) or the time ran out (exit 1)."""


def run_wait(ctx: CommandContext, services: list[str], timeout_text: str | None) -> int:
    from launcher.supervise.control import send_request

    timeout = _timeout(timeout_text)
    request = {"command": "wait", "services": services, "timeout": timeout}
    paths = ctx.paths()
    finish = asyncio.run(_ask(send_request(paths, request, lambda message: None), timeout))
    if finish["ok"]:
        ctx.out.line(f"{', '.join(services) if services else 'every service'} up")
        return EXIT_OK
    code = finish.get("exit_code")
    if code == EXIT_USAGE:
        raise UsageError(finish["message"])
    if code is None or code == EXIT_NOT_RUNNING:
        raise NotRunningError(f"the stack is not running: {finish['message']}")
    raise NotUp(finish["message"])


async def _ask(request, timeout: float | None) -> dict:
    task = asyncio.ensure_future(request)
    done, _ = await asyncio.wait([task], timeout=None if timeout is None else timeout + CLIENT_MARGIN)
    if not done:
        task.cancel()
        return {"ok": False, "message": "the supervisor did not answer (hung, or stopped with SIGSTOP)",
                "exit_code": 1}
    return task.result()


def _timeout(text: str | None) -> float | None:
    if text is None:
        return None
    from launcher.stack.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise UsageError(f"--timeout: {err}") from err

"""`robostack down`: stop the stack, dependents first, and return once its ports are free."""

from __future__ import annotations

import asyncio

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, ServiceFailed
from launcher.process.sockets import listeners_on_ports
from launcher.state.store import StackLock
from launcher.supervise.teardown import Takedown, take_down

PORT_RELEASE_DEADLINE = 10.0


def run_down(ctx: CommandContext) -> int:
    paths = ctx.paths()
    if not paths.run_state.exists() and StackLock(paths).holder() is None:
        raise NotRunningError(f"nothing to stop: this stack has no run state in {paths.root}")
    mask = ctx.redactor().mask  # its messages quote commands and the timeline's reasons
    result, held = asyncio.run(_down(paths, lambda text: ctx.console.print(mask(text), highlight=False, markup=False)))
    if result.state is None:
        raise NotRunningError("nothing to stop")
    if held:
        raise ServiceFailed("stack", mask("stopped, but these ports are still held: " + "; ".join(held)))
    for warning in result.warnings:
        ctx.error_console.print(f"warning: {mask(warning)}", highlight=False, markup=False, soft_wrap=True)
    ctx.console.print(f"stack '{result.state.stack}' is down", highlight=False)
    return EXIT_OK


async def _down(paths, note) -> tuple[Takedown, list[str]]:
    """Stop the stack, then wait for its ports; what was done and any port still held."""
    result = await take_down(paths, note)
    if result.state is None:
        return result, []
    ports = sorted({port for record in result.state.services.values() if not record.external for port in record.ports})
    return result, await _wait_for_ports(ports)


async def _wait_for_ports(ports: list[int]) -> list[str]:
    """Wait (bounded) until nothing listens on the stack's ports; describe any that stay held."""
    if not ports:
        return []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PORT_RELEASE_DEADLINE
    while True:
        held = [f"{record.port} by pid {record.pid} ({record.command})" for record in listeners_on_ports(ports)]
        if not held or loop.time() >= deadline:
            return held
        await asyncio.sleep(0.05)

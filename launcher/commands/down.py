"""`robostack down`: stop the stack, dependents first, and return once its ports are free."""

from __future__ import annotations

import asyncio

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, ServiceFailed
from launcher.process.sockets import listeners_on_port
from launcher.supervise.teardown import take_down

PORT_RELEASE_DEADLINE = 10.0


def run_down(ctx: CommandContext) -> int:
    paths = ctx.paths()
    if not paths.run_state.exists():
        raise NotRunningError(f"nothing to stop: this stack has no run state in {paths.root}")
    state = asyncio.run(take_down(paths, lambda text: ctx.console.print(text, highlight=False, markup=False)))
    if state is None:
        raise NotRunningError("nothing to stop")
    ports = sorted({port for record in state.services.values() if not record.external for port in record.ports})
    held = asyncio.run(_wait_for_ports(ports))
    if held:
        raise ServiceFailed("stack", "stopped, but these ports are still held: " + "; ".join(held))
    ctx.console.print(f"stack '{state.stack}' is down", highlight=False)
    return EXIT_OK


async def _wait_for_ports(ports: list[int]) -> list[str]:
    """Wait (bounded) until nothing listens on the stack's ports; describe any that stay held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PORT_RELEASE_DEADLINE
    while True:
        held = [f"{port} by pid {record.pid} ({record.command})" for port in ports for record in listeners_on_port(port)]
        if not held or loop.time() >= deadline:
            return held
        await asyncio.sleep(0.05)

"""`robostack down`: stop the stack, dependents first, and return once its ports are free.

A stack that is already down (its last supervisor wrote its final state and nothing of
its run is left) is answered at once, without an event loop or a process table.
"""

from __future__ import annotations

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, ServiceFailed

PORT_RELEASE_DEADLINE = 10.0


def run_down(ctx: CommandContext) -> int:
    from launcher.state.interpret import anything_left
    from launcher.state.store import StackLock, read_run_state

    paths = ctx.paths()
    lock = StackLock(paths)
    if not paths.run_state.exists() and lock.holder() is None:
        raise NotRunningError(f"nothing to stop: this stack has no run state in {paths.root}")
    state = read_run_state(paths)
    if state is not None and state.phase == "stopped" and lock.holder() is None and not anything_left(state):
        ctx.out.line(f"stack '{state.stack}' is down (nothing of it was running)")
        return EXIT_OK
    import asyncio

    mask = ctx.redactor().mask  # its messages quote commands and the timeline's reasons
    result, held = asyncio.run(_down(paths, lambda text: ctx.out.line(mask(text))))
    if result.state is None:
        raise NotRunningError("nothing to stop")
    if held:
        raise ServiceFailed("stack", mask("stopped, but these ports are still held: " + "; ".join(held)))
    for warning in result.warnings:
        ctx.err.line(f"warning: {mask(warning)}")
    ctx.out.line(f"stack '{result.state.stack}' is down")
    return EXIT_OK


async def _down(paths, note):
    """Stop the stack, then wait for its ports; what was done and any port still held."""
    from launcher.supervise.teardown import take_down

    result = await take_down(paths, note)
    if result.state is None:
        return result, []
    ports = sorted({port for record in result.state.services.values() if not record.external for port in record.ports})
    return result, await _wait_for_ports(ports)


async def _wait_for_ports(ports: list[int]) -> list[str]:
    """Wait (bounded) until nothing listens on the stack's ports; describe any that stay held."""
    import asyncio

    from launcher.process.sockets import listeners_on_ports

    if not ports:
        return []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PORT_RELEASE_DEADLINE
    while True:
        held = [f"{record.port} by pid {record.pid} ({record.command})" for record in listeners_on_ports(ports)]
        if not held or loop.time() >= deadline:
            return held
        await asyncio.sleep(0.05)

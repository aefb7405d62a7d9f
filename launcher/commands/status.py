"""`robostack status` and `robostack events`: read the state directory, never disturb the stack."""

from __future__ import annotations

import asyncio
import json
import time

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_SERVICE_FAILED, NotRunningError
from launcher.output.console import status_problems, status_table
from launcher.process.identity import ProcessIdentity, is_alive
from launcher.state.events import read_events
from launcher.state.store import RunState, read_run_state
from launcher.supervise.teardown import live_supervisor

ACTIVE = ("starting", "healthy", "unhealthy", "waiting", "restarting")


def effective_state(state: RunState, supervisor_alive: bool) -> RunState:
    """Correct states that a dead supervisor could not update: a live orphan, or a process now gone."""
    for record in state.services.values():
        if record.external:
            if not supervisor_alive:
                record.state = "external"  # nobody probes it any more: its last verdict is stale
            continue
        if record.state not in ACTIVE or record.pid is None or record.create_time is None:
            continue
        if not is_alive(ProcessIdentity(record.pid, record.create_time)):
            record.state = "stopped"
        elif not supervisor_alive:
            record.state = "orphaned"
    return state


def load_status(ctx: CommandContext) -> tuple[RunState, bool]:
    paths = ctx.paths()
    state = read_run_state(paths)
    if state is None:
        raise NotRunningError(f"this stack has not run here (no state in {paths.root}); start it with `robostack up`")
    alive = live_supervisor(paths, state) is not None
    return effective_state(state, alive), alive


def status_json(state: RunState, alive: bool) -> dict:
    services = []
    for name in reversed(state.stop_order or list(state.services)):
        record = state.services[name]
        services.append({"name": name, "state": record.state, "pid": record.pid, "health": record.probe,
                         "restarts": record.restarts, "log": record.log, "reason": record.reason,
                         "uptime": (time.time() - record.started_at) if record.started_at and record.state in ACTIVE else None,
                         "last_event": record.last_event, "exit": record.exit, "external": record.external})
    return {"stack": state.stack, "stack_file": state.stack_file, "run_id": state.run_id, "phase": state.phase,
            "supervisor_pid": state.supervisor_pid if alive else None, "symbols": state.symbols, "services": services}


def run_status(ctx: CommandContext, as_json: bool) -> int:
    state, alive = load_status(ctx)
    if as_json:
        ctx.console.print_json(json.dumps(status_json(state, alive)))
    else:
        ctx.console.print(status_table(state, supervisor_alive=alive, width=ctx.console.width))
        for line in status_problems(state):
            ctx.console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
    if not alive:
        return EXIT_NOT_RUNNING
    healthy = all(r.state in ("healthy", "external") for r in state.services.values())
    return EXIT_OK if healthy else EXIT_SERVICE_FAILED


def run_events(ctx: CommandContext, follow: bool, as_json: bool) -> int:
    paths = ctx.paths()
    events, offset = read_events(paths.events)
    _print_events(ctx, events, as_json)
    if follow:
        asyncio.run(_follow_events(ctx, paths.events, offset, as_json))
    return EXIT_OK


async def _follow_events(ctx: CommandContext, path, offset: int, as_json: bool) -> None:
    while True:
        events, offset = read_events(path, offset=offset)
        _print_events(ctx, events, as_json)
        await asyncio.sleep(0.2)


def _print_events(ctx: CommandContext, events, as_json: bool) -> None:
    for event in events:
        if as_json:
            ctx.console.print(json.dumps(event.to_json()), markup=False, highlight=False, soft_wrap=True)
            continue
        extras = " ".join(f"{k}={v}" for k, v in event.data.items() if k != "pid" or str(v) not in event.reason)
        text = f"{event.time:%Y-%m-%d %H:%M:%S} {event.service or 'stack':<12} {event.event:<18} {event.reason} {extras}"
        ctx.console.print(text.rstrip(), markup=False, highlight=False, soft_wrap=True)

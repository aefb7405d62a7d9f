"""A supervisor that stops for good right after forking a service, before it can record the pid.

    python stalled_supervisor.py STACK_FILE STATE_DIR

It prints ``forked NAME PID`` and waits forever, so a test can SIGKILL it at the worst
instant for the run state: the service runs, and only its pending record (written before
the fork) says so. `status` and `down` must still find it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from launcher.process.spawn import SubprocessSpawner
from launcher.stack.loader import load_stack
from launcher.state.paths import StatePaths
from launcher.supervise.supervisor import Supervisor


class StallAfterFork(SubprocessSpawner):
    async def spawn_service(self, name, argv, **kwargs):
        process = await super().spawn_service(name, argv, **kwargs)
        print(f"forked {name} {process.pid}", flush=True)
        await asyncio.Event().wait()  # the supervisor never gets to record it
        return process


async def main(stack_file: str, state_dir: str) -> None:
    stack = load_stack(Path(stack_file), environ=dict(os.environ))
    await Supervisor(stack, StatePaths(Path(state_dir)), outputs=[], spawner=StallAfterFork()).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))

"""An in-process supervisor harness: the real Supervisor, real tiny processes, interleavings driven by the test.

The supervisor runs as a task in the test's own event loop, with the real spawner
and the real clock behind two seams a test can hold:

* :class:`GatedSpawner`: ``spawner.hold("b")`` makes the next spawn of `b` wait, right
  before the fork, until the test releases it (``await gate.reached()`` says it got there);
* :class:`GatedClock`: ``clock.hold_sleep()`` holds the next ``clock.sleep`` (a restart's
  backoff) the same way.

Signals are delivered the way the signal handler would (``supervisor.on_signal``), so a
test decides exactly where in a restart a SIGTERM lands. Progress is collected by a
:class:`Recorder` (an output of the journal, like the terminal), which tests wait on with
deadlines. At the end every process carrying the run's token must be gone; the harness
kills any survivor (and fails the test) so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from stackkit.clock import SystemClock
from launcher.logwriter.policy import RotationPolicy
from launcher.probes.base import ProbeResult
from launcher.process.search import find_processes_carrying
from launcher.process.spawn import ServiceProcess, SubprocessSpawner
from launcher.stack.loader import load_stack
from launcher.state.events import Event
from launcher.state.interpret import RUN_TOKEN_VARIABLE
from launcher.state.paths import StatePaths
from launcher.supervise.journal import Output
from launcher.supervise.supervisor import Supervisor

DEADLINE = 30.0  # generous: a loaded 2-core machine; every wait returns as soon as its condition holds


class Gate:
    """A point the supervisor reaches and waits at until the test releases it."""

    def __init__(self) -> None:
        self._reached = asyncio.Event()
        self._released = asyncio.Event()

    async def reached(self, timeout: float = DEADLINE) -> None:
        await _within(self._reached.wait(), timeout, "the supervisor to reach the gate")

    def release(self) -> None:
        self._released.set()

    async def pass_through(self) -> None:
        self._reached.set()
        await self._released.wait()


class GatedSpawner:
    """The real spawner; a held service's next spawn waits (before the fork) until released."""

    def __init__(self) -> None:
        self._real = SubprocessSpawner()
        self._holds: dict[str, Gate] = {}
        self.spawned: list[ServiceProcess] = []

    def hold(self, name: str) -> Gate:
        gate = self._holds[name] = Gate()
        return gate

    async def spawn_service(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                            log_path: Path, log_policy: RotationPolicy | None = None) -> ServiceProcess:
        gate = self._holds.pop(name, None)
        if gate is not None:
            await gate.pass_through()
        process = await self._real.spawn_service(name, argv, cwd=cwd, env=env, log_path=log_path,
                                                 log_policy=log_policy)
        self.spawned.append(process)
        return process


class GatedClock(SystemClock):
    """The real clock; the next `sleep` (a restart's backoff) can be held until released."""

    def __init__(self) -> None:
        self._held: list[Gate] = []

    def hold_sleep(self) -> Gate:
        gate = Gate()
        self._held.append(gate)
        return gate

    async def sleep(self, seconds: float) -> None:
        if self._held:
            await self._held.pop(0).pass_through()
            return
        await super().sleep(seconds)


class Recorder:
    """An output of the journal that keeps everything, and lets a test wait for an event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.notes: list[str] = []
        self._changed = asyncio.Event()

    def event(self, event: Event) -> None:
        self.events.append(event)
        self._wake()

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def timeline(self, service: str | None = None) -> list[tuple[str, str]]:
        """(service, event) pairs, of one service if given."""
        return [(e.service, e.event) for e in self.events if service is None or e.service == service]

    def find(self, service: str, event: str, after: int = 0) -> int | None:
        for index in range(after, len(self.events)):
            if self.events[index].service == service and self.events[index].event == event:
                return index
        return None

    async def wait_for(self, service: str, event: str, *, after: int = 0, timeout: float = DEADLINE) -> int:
        """Index of the first `event` of `service` at or after `after`."""
        async def found() -> int:
            while True:
                index = self.find(service, event, after)
                if index is not None:
                    return index
                await self._changed.wait()

        return await _within(found(), timeout, f"event {event!r} of {service or 'the stack'!r}; "
                                               f"saw {self.timeline()[-12:]}")


@dataclass
class Harness:
    """One stack file, one supervisor running in this event loop."""

    supervisor: Supervisor
    recorder: Recorder
    spawner: GatedSpawner
    clock: GatedClock
    paths: StatePaths
    task: asyncio.Task[Any] | None = None
    _ready: asyncio.Event | None = None

    @classmethod
    def build(cls, folder: Path, text: str, environ: Mapping[str, str] | None = None,
              outputs: Sequence[Output] = ()) -> "Harness":
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "stack.yaml"
        path.write_text(text)
        stack = load_stack(path, environ=dict(os.environ if environ is None else environ))
        paths = StatePaths(folder / "state")
        recorder, spawner, clock = Recorder(), GatedSpawner(), GatedClock()
        supervisor = Supervisor(stack, paths, outputs=[Output("test", recorder), *outputs], spawner=spawner, clock=clock)
        return cls(supervisor, recorder, spawner, clock, paths)

    @property
    def services(self):
        return self.supervisor.services

    def state(self, name: str) -> str:
        return self.supervisor.services[name].state.value

    def start(self) -> asyncio.Task[Any]:
        """Run the supervisor (without waiting for it to be up)."""
        self._ready = asyncio.Event()
        self.task = asyncio.ensure_future(self.supervisor.run(on_ready=self._ready.set))
        return self.task

    async def up(self) -> None:
        """Run the supervisor and wait until the stack is up (fail with the error if start-up failed)."""
        self.start()
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait([ready, self.task], timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self.task in done:
            self.task.result()  # raises the start-up failure
            raise AssertionError("the supervisor ended before the stack was up")
        if not done:
            raise AssertionError(f"the stack was not up within {DEADLINE}s; saw {self.recorder.timeline()[-12:]}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """What the signal handler does with a signal."""
        self.supervisor.on_signal(signum)

    async def finished(self, timeout: float = DEADLINE) -> BaseException | None:
        """Wait for `run()` to return; its exception, if any."""
        assert self.task is not None
        done, _ = await asyncio.wait([self.task], timeout=timeout)
        if not done:
            raise AssertionError(f"the supervisor did not finish within {timeout}s (a ghost); "
                                 f"saw {self.recorder.timeline()[-12:]}")
        return None if self.task.cancelled() else self.task.exception()

    def leftovers(self) -> list[int]:
        """Pids of processes still carrying this run's token."""
        return [identity.pid for identity in find_processes_carrying(RUN_TOKEN_VARIABLE, self.supervisor.run_token)]

    def pid(self, name: str) -> int | None:
        return self.supervisor.services[name].record.pid

    async def close(self) -> list[int]:
        """Stop the supervisor if it still runs; kill (and return) any process of the run left behind."""
        if self.task is not None and not self.task.done():
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGINT)
            await asyncio.wait([self.task], timeout=DEADLINE)
        survivors = self.leftovers()
        for pid in survivors:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except OSError:
                pass
        return survivors


async def _within(awaitable, timeout: float, what: str):
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return task.result()

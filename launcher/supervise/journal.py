"""Everything the supervisor writes down or tells anyone goes through here: one emit path, one save path.

:meth:`Journal.publish` is the single function every outgoing message passes: each
timeline event, each free-text note (pre-flight findings, stop summaries), each
probe-progress line, whoever receives it (the timeline file, the terminal or the
`up --detach` pipe, supervisor.log, `robostack restart` clients). Whatever must be
done to every line belongs in that one function: it masks secrets
(:class:`~launcher.stack.redaction.Redactor`: the stack's secret values and every
secret-shaped text), so nothing any receiver gets or any file holds shows one.
:meth:`Journal.mask` is the same rule for what is recorded without being published
(a service's reason, its last probe's detail).

:meth:`Journal.save` is the single path to run.json. A write that fails (a full
disk: ENOSPC, EIO) never stops supervision: the state stays in memory, the failure
is announced once, `status` and `doctor` show it (the supervisor answers them from
memory), and the write is retried every few seconds until it succeeds. Timeline
lines that could not be written are kept, in order, and written with the next
successful write.

Output that fails (the terminal was closed: EIO; a pipe reader went away: EPIPE)
drops that output only; everything carries on, and supervisor.log keeps the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from typing import Iterator, Union

from stackkit.clock import Clock
from launcher.errors import StateError
from launcher.probes.base import ProbeResult
from launcher.stack.redaction import Redactor
from launcher.state.events import Event, EventLog
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, write_run_state
from launcher.supervise.primitives import Changes
from launcher.supervise.reporter import Reporter

STATE_WRITE_RETRY = 2.0  # seconds between attempts while run.json cannot be written (only then)


@dataclass(frozen=True)
class Note:
    """A free-text line: pre-flight findings, what a stop did, a warning."""

    text: str


@dataclass(frozen=True)
class ProbeProgress:
    """A probe ran while a service was being gated (progress only, never persisted)."""

    service: str
    result: ProbeResult
    elapsed: float


Message = Union[Event, Note, ProbeProgress]


@dataclass
class Output:
    """One receiver of progress. `disposable`: dropped at its first write error (a terminal, a pipe);
    otherwise a failed line is only lost (supervisor.log on a full disk)."""

    name: str
    reporter: Reporter
    disposable: bool = True


class Journal:
    """The supervisor's run state in memory, the timeline, and everyone listening. Also a Reporter."""

    def __init__(self, paths: StatePaths, state: RunState, clock: Clock, outputs: list[Output],
                 redactor: Redactor | None = None, *, timeline: EventLog | None = None):
        self.paths = paths
        self.redactor = redactor or Redactor()  # shapes only, unless the stack's secrets are given
        self.state = state
        self.clock = clock
        self.outputs = list(outputs)
        self.timeline = timeline or EventLog(paths.events)  # rotated past a size (the stack's `logs:`)
        self.write_error: str | None = None  # "cannot write state: No space left on device", while it lasts
        self.saving = False  # run.json is written only once the supervisor owns it (after the leftovers)
        self.write_failures = 0  # state and timeline writes that failed, retries included (a metric)
        # Bumped by every message published and every save (and by a probe result kept in memory): whoever
        # shows the state live (the supervisor's HTTP API) sleeps on it instead of polling.
        self.changes = Changes()
        self._retry: asyncio.TimerHandle | None = None

    # -- the one emit path -------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Send one message, secrets masked, everywhere it goes: the timeline (events) and every output."""
        self._send(self._masked(message))

    def mask(self, text: str) -> str:
        """`text` with every secret hidden (the same rule as every published line)."""
        return self.redactor.mask(text)

    def _masked(self, message: Message) -> Message:
        if isinstance(message, Event):
            return replace(message, reason=self.mask(message.reason), data=self.redactor.mask_data(message.data))
        if isinstance(message, Note):
            return Note(self.mask(message.text))
        return replace(message, result=replace(message.result, detail=self.mask(message.result.detail)))

    def _send(self, message: Message) -> None:
        if isinstance(message, Event):
            self._append_to_timeline(message)
        for output in list(self.outputs):
            try:
                _deliver(output.reporter, message)
            except OSError as err:
                self._output_failed(output, err)
        self.changes.bump()

    def emit(self, service: str, event: str, reason: str = "", **data: object) -> Event:
        """Record a timeline event (on the service's record too) and tell every output."""
        entry = self._masked(Event(self.clock.now(), service, event, reason, dict(data)))
        record = self.state.services.get(service)
        if record is not None:
            record.last_event = {"time": entry.time.timestamp(), "event": event, "reason": entry.reason}
        self._send(entry)
        return entry

    # Reporter protocol: pre-flight and the gate report through the journal like everything else.
    def event(self, event: Event) -> None:
        self.publish(event)

    def note(self, text: str) -> None:
        self.publish(Note(text))

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        self.publish(ProbeProgress(service, result, elapsed))

    @contextlib.contextmanager
    def listening(self, reporter: Reporter) -> Iterator[None]:
        """Add an output for as long as the block runs (a `robostack restart` client)."""
        output = Output("control client", reporter)
        self.outputs.append(output)
        try:
            yield
        finally:
            if output in self.outputs:
                self.outputs.remove(output)

    def _output_failed(self, output: Output, err: OSError) -> None:
        if not output.disposable or output not in self.outputs:
            return
        self.outputs.remove(output)
        self.note(f"{output.name} output failed ({err.strerror or err}); progress continues in "
                  f"{self.paths.supervisor_log} only")

    # -- the one save path ---------------------------------------------------------------------

    def save(self) -> None:
        """Write the run state now; on failure keep it in memory, say so once, and retry."""
        self.changes.bump()  # the state in memory changed, whether or not it can be written
        if not self.saving:
            return
        try:
            write_run_state(self.paths, self.state)
            self.timeline.flush()
        except (StateError, OSError) as err:
            self._write_failed(err)
            return
        if self.write_error is not None:
            recovered, self.write_error = self.write_error, None
            self.emit("", "state-written", f"run state written again after: {recovered}")

    def _append_to_timeline(self, event: Event) -> None:
        try:
            self.timeline.append(event)
        except OSError as err:
            self._write_failed(err)

    def _write_failed(self, err: Exception) -> None:
        cause = err.__cause__ if isinstance(err, StateError) and isinstance(err.__cause__, OSError) else err
        reason = getattr(cause, "strerror", None) or str(cause)
        first = self.write_error is None
        self.write_failures += 1
        self.write_error = f"cannot write state: {reason}"
        self._schedule_retry()
        if first:
            self.emit("", "state-unwritable", f"{self.write_error} (in {self.paths.root}); the supervisor keeps "
                      f"the stack's state in memory, goes on supervising, and retries every "
                      f"{STATE_WRITE_RETRY:g}s")

    def _schedule_retry(self) -> None:
        if self._retry is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (closing): nothing left to retry with
        self._retry = loop.call_later(STATE_WRITE_RETRY, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self.save()

    def close(self) -> None:
        """Stop retrying and close the timeline; safe to call twice."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.timeline.close()


def _deliver(reporter: Reporter, message: Message) -> None:
    if isinstance(message, Event):
        reporter.event(message)
    elif isinstance(message, Note):
        reporter.note(message.text)
    else:
        reporter.probe(message.service, message.result, message.elapsed)

"""The supervisor's one entry point for alerts: ``AlertDispatcher.offer(event)``, which never blocks.

``offer`` runs the pure policy (:mod:`policy`) at once and puts what it decides
to send into a bounded queue; a task of the supervisor's loop delivers them
(:mod:`sender`), one alert at a time to every destination in parallel, each
with its timeout, and calls :meth:`AlertPolicy.due` when a folded window or the
rate limit has a summary ready. A failed or slow delivery is logged (``log``)
and never waits on supervision; when the queue is full the oldest alert is
dropped and counted. Secrets of the stack are masked in every message.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Callable, Protocol

from launcher.alerts.policy import Alert, AlertEvent, AlertPolicy, PolicySettings, from_supervisor_event
from launcher.alerts.sender import CommandSender, Delivery, HttpSender, Sender
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedAlerts
from stackkit.clock import Clock, SystemClock

QUEUE_SIZE = 100
CLOSE_DEADLINE = 5.0


class SupervisorEvent(Protocol):
    """What the supervisor's timeline holds (launcher.state.events.Event)."""

    service: str
    event: str
    reason: str


class AlertDispatcher:
    """Alerts for one stack. Call :meth:`start` in the supervisor's loop, :meth:`offer` per event, :meth:`aclose` at the end."""

    def __init__(self, alerts: ResolvedAlerts, *, stack: str, secrets: frozenset[str] = frozenset(),
                 clock: Clock | None = None, log: Callable[[str], None] | None = None,
                 senders: list[Sender] | None = None, queue_size: int = QUEUE_SIZE) -> None:
        spec = alerts.spec
        self.policy = AlertPolicy(PolicySettings(frozenset(spec.events), spec.dedup, spec.rate_limit.count,
                                                 spec.rate_limit.window))
        self.stack = stack
        self.redactor = Redactor.of(frozenset(secrets) | frozenset(alerts.headers.values()))
        self.clock = clock or SystemClock()
        self.log = log or (lambda text: print(f"robostack alerts: {text}", file=sys.stderr, flush=True))
        self.senders = senders if senders is not None else default_senders(alerts)
        self.host = socket.gethostname()
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.dropped = 0  # alerts dropped because the queue was full
        self.deliveries: list[tuple[Alert, Delivery]] = []  # the last results, for status and tests
        self._last_event_time = 0.0

    def offer(self, event: SupervisorEvent | AlertEvent) -> None:
        """Consider one event; returns at once (the sending happens in the background)."""
        if self._closing:
            return
        alert_event = event if isinstance(event, AlertEvent) else self._from_supervisor(event)
        if alert_event is None:
            return
        for alert in self.policy.offer(alert_event, self.clock.monotonic()):
            self._enqueue(alert)
        self._wake.set()

    def start(self) -> None:
        """Begin delivering (idempotent); needs the running loop."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def aclose(self, deadline: float = CLOSE_DEADLINE) -> None:
        """Deliver what is queued within `deadline`, then stop; safe to call twice."""
        self._closing = True
        if self._task is None:
            return
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), deadline)
        except asyncio.TimeoutError:
            self._task.cancel()
            left = self._queue.qsize()
            if left:
                self.log(f"{left} alert(s) not delivered: stopping")
        except asyncio.CancelledError:
            pass

    def _from_supervisor(self, event: SupervisorEvent) -> AlertEvent | None:
        when = getattr(event, "time", None)
        timestamp = when.timestamp() if hasattr(when, "timestamp") else self.clock.now().timestamp()
        return from_supervisor_event(event.service, event.event, event.reason, timestamp)

    def _enqueue(self, alert: Alert) -> None:
        while True:
            try:
                self._queue.put_nowait(alert)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1
                self.log(f"alert queue full ({self._queue.maxsize}): dropped the oldest alert")

    async def _run(self) -> None:
        while True:
            for alert in self.policy.due(self.clock.monotonic()):
                self._enqueue(alert)
            if not self._queue.empty():
                await self._deliver(self._queue.get_nowait())
                continue
            if self._closing:
                return
            self._wake.clear()
            due = self.policy.next_due()
            timeout = None if due is None else max(0.0, due - self.clock.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, alert: Alert) -> None:
        payload = {key: self.redactor.mask(value) if isinstance(value, str) else value
                   for key, value in alert.to_json(self.stack).items()}
        payload["host"] = self.host
        results = await asyncio.gather(*(sender.send(payload) for sender in self.senders), return_exceptions=True)
        for sender, result in zip(self.senders, results):
            if isinstance(result, BaseException):  # a bug in a sender must not stop the alerts
                result = Delivery(False, f"{sender.name}: {type(result).__name__}: {result}", 0.0)
            self.deliveries = (self.deliveries + [(alert, result)])[-20:]
            if not result.ok:
                self.log(f"{alert.kind} alert for {alert.service or 'the stack'} not delivered: "
                         f"{self.redactor.mask(result.detail)}")


def default_senders(alerts: ResolvedAlerts) -> list[Sender]:
    """The stack file's destinations: its command and/or its URL."""
    senders: list[Sender] = []
    if alerts.command:
        senders.append(CommandSender(alerts.command, alerts.spec.timeout))
    if alerts.url:
        senders.append(HttpSender(alerts.url, alerts.headers, alerts.spec.timeout))
    return senders

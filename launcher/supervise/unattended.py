"""What an unattended supervisor tells the world beyond its own outputs: systemd, and a person (alerts).

Both listen on the journal's one emit path (:meth:`Journal.publish`) as outputs, so
they see exactly the events the timeline gets, after whatever that path does to
every line (masking):

* :class:`SystemdStatus` sends ``STATUS=`` (``2/3 healthy; trader restarting``)
  whenever a service's state changes; the supervisor itself sends ``READY=1`` once
  every service is up, ``STOPPING=1`` when its ordered stop begins, and pings the
  watchdog from its own loop (:class:`Unattended`).
* :class:`AlertOutput` offers every event to the :class:`AlertDispatcher`, which
  decides (pure policy) and delivers in the background, never blocking the emit path.

:class:`Unattended` holds both for the supervisor: created before any service is
spawned (systemd's variables are taken out of the environment the services
inherit), started inside the loop, closed at the very end.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable, Mapping

from launcher.probes.base import ProbeResult
from launcher.state.events import Event
from launcher.systemd.notifier import SystemdNotifier, describe_condition

if TYPE_CHECKING:
    from launcher.alerts.dispatcher import AlertDispatcher
    from launcher.stack.resolved import ResolvedStack
    from stackkit.clock import Clock

States = Callable[[], Mapping[str, str]]


class SystemdStatus:
    """A journal output: the stack's condition as ``STATUS=`` on every change of a service's state."""

    def __init__(self, notifier: SystemdNotifier, states: States):
        self.notifier = notifier
        self.states = states

    def event(self, event: Event) -> None:
        if event.service:
            self.notifier.status(describe_condition(self.states()))

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class AlertOutput:
    """A journal output: every event offered to the alert dispatcher (which returns at once)."""

    def __init__(self, dispatcher: "AlertDispatcher"):
        self.dispatcher = dispatcher

    def event(self, event: Event) -> None:
        self.dispatcher.offer(event)

    def probe(self, service: str, result: ProbeResult, elapsed: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class Unattended:
    """The supervisor's systemd notifier and alert dispatcher, and their start and end."""

    def __init__(self, stack: "ResolvedStack", *, clock: "Clock", states: States, log: Callable[[str], None]):
        self.states = states
        self.notifier = SystemdNotifier.from_environment(clock=clock)  # before any service is spawned
        self.alerts: AlertDispatcher | None = None
        if stack.alerts is not None:
            from launcher.alerts.dispatcher import AlertDispatcher

            self.alerts = AlertDispatcher(stack.alerts, stack=stack.name, secrets=stack.secret_values, clock=clock,
                                          log=log)
        self._stop = asyncio.Event()
        self._keep_alive: asyncio.Future[None] | None = None

    def outputs(self) -> list[tuple[str, object]]:
        """(name, reporter) pairs for the journal: systemd's STATUS= when run by systemd, alerts when configured."""
        outputs: list[tuple[str, object]] = []
        if self.notifier.enabled:
            outputs.append(("systemd", SystemdStatus(self.notifier, self.states)))
        if self.alerts is not None:
            outputs.append(("alerts", AlertOutput(self.alerts)))
        return outputs

    def start(self) -> None:
        """Inside the loop: the watchdog pings (from this loop, so a hung loop stops them) and alert delivery."""
        if self._keep_alive is None and self.notifier.watchdog_interval is not None:
            self._keep_alive = asyncio.ensure_future(self.notifier.keep_alive(self._stop))
        if self.alerts is not None:
            self.alerts.start()

    def ready(self) -> None:
        """Every service is up: READY=1 (once) with the condition."""
        self.notifier.ready(describe_condition(self.states()))

    def stopping(self, reason: str) -> None:
        self.notifier.stopping(f"stopping: {reason}" if reason else "stopping")

    async def aclose(self) -> None:
        """Deliver the last alerts (bounded), stop the pings, release systemd's socket; safe twice."""
        if self.alerts is not None:
            await self.alerts.aclose()
        self._stop.set()
        if self._keep_alive is not None:
            await asyncio.wait([self._keep_alive], timeout=1.0)
            self._keep_alive = None
        self.notifier.close()

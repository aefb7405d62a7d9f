"""The supervisor's side of systemd's notify protocol: READY, STATUS, WATCHDOG, STOPPING.

Under systemd (``Type=notify``, ``NotifyAccess=main``) the supervisor is the
unit's main process and tells systemd:

* ``READY=1`` once, when every service is healthy (systemd's start job ends; a
  unit ordered after it starts only then);
* ``STATUS=...``, the stack's condition in one line, whenever it changes
  (``systemctl status`` shows it);
* ``WATCHDOG=1`` every half of ``WATCHDOG_USEC``, from the main loop: if the loop
  hangs the pings stop and systemd restarts the unit;
* ``STOPPING=1`` when it begins its ordered stop.

:meth:`SystemdNotifier.from_environment` takes ``NOTIFY_SOCKET``,
``WATCHDOG_USEC`` and ``WATCHDOG_PID`` out of the environment, so the services
never inherit systemd's socket (with ``NotifyAccess=main`` systemd would only
log warnings about them; a service probed with ``notify`` gets robostack's own
socket). Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import asyncio
import os
from typing import Mapping, MutableMapping

from stackkit.clock import Clock, SystemClock
from stackkit.notify import Notifier, watchdog_interval

SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class SystemdNotifier:
    """Talks to systemd for the supervisor; every method is a cheap no-op when not run by systemd."""

    def __init__(self, notify_socket: str | None, *, watchdog_usec: int | None = None,
                 clock: Clock | None = None) -> None:
        self._notifier = Notifier(notify_socket)
        self._clock = clock or SystemClock()
        interval = watchdog_interval({"WATCHDOG_USEC": str(watchdog_usec)}, default=0.0) if watchdog_usec else 0.0
        self.watchdog_interval: float | None = interval or None
        self._last_watchdog: float | None = None
        self._ready = False
        self._status: str | None = None

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None, *, clock: Clock | None = None,
                         unset: bool = True) -> "SystemdNotifier":
        """A notifier for this process's systemd settings; with `unset`, they are removed from `environ`.

        ``WATCHDOG_PID`` naming another process means the watchdog is not ours (a
        wrapper's), so no pings are sent.
        """
        environ = os.environ if environ is None else environ
        settings = {name: environ.get(name) for name in SYSTEMD_VARIABLES}
        if unset:
            for name in SYSTEMD_VARIABLES:
                environ.pop(name, None)
        usec = settings["WATCHDOG_USEC"] or ""
        watchdog_pid = settings["WATCHDOG_PID"] or ""
        ours = not watchdog_pid.strip() or watchdog_pid.strip() == str(os.getpid())
        return cls(settings["NOTIFY_SOCKET"] or None,
                   watchdog_usec=int(usec) if usec.strip().isdigit() and ours else None, clock=clock)

    @property
    def enabled(self) -> bool:
        """True when run by systemd with a notify socket."""
        return self._notifier.enabled

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (once; later calls only update STATUS): every service is healthy."""
        if self._ready:
            return self.status(status) if status else False
        self._ready = True
        self._status = status or self._status
        return self._notifier.ready(status)

    def status(self, text: str) -> bool:
        """STATUS=text, sent only when it changed."""
        if text == self._status:
            return False
        self._status = text
        return self._notifier.status(text)

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: the ordered stop has begun."""
        self._status = status or self._status
        return self._notifier.stopping(status)

    def seconds_to_watchdog(self) -> float | None:
        """How long the main loop may wait before :meth:`watchdog` is due (None: no watchdog)."""
        if not self.enabled or self.watchdog_interval is None:
            return None
        if self._last_watchdog is None:
            return 0.0
        return max(0.0, self._last_watchdog + self.watchdog_interval - self._clock.monotonic())

    def watchdog(self) -> bool:
        """WATCHDOG=1 if one is due (half of WATCHDOG_USEC since the last); call it from the main loop."""
        if self.seconds_to_watchdog() != 0.0:
            return False
        self._last_watchdog = self._clock.monotonic()
        return self._notifier.watchdog()

    async def keep_alive(self, stop: asyncio.Event | None = None) -> None:
        """Ping the watchdog on time until `stop` is set: run it as a task of the supervisor's own loop,
        so a loop that hangs stops the pings (which is the point)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            wait = self.seconds_to_watchdog()
            if wait is None:
                return
            if wait == 0.0:
                self.watchdog()
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    def close(self) -> None:
        """Release the socket; safe to call twice."""
        self._notifier.close()


def describe_condition(states: Mapping[str, str], *, stopping: bool = False) -> str:
    """The stack's condition in one STATUS line: ``3/3 healthy`` or ``2/3 healthy; trader restarting``."""
    if stopping:
        return "stopping"
    total = len(states)
    healthy = sum(1 for state in states.values() if state in ("healthy", "external"))
    others = [f"{name} {state}" for name, state in states.items() if state not in ("healthy", "external")]
    text = f"{healthy}/{total} healthy"
    return f"{text}; {', '.join(others)}" if others else text

"""Which alerts to send, and when: pure, on values, with the time passed in (tested with a fake clock).

From the supervisor's events to the messages a person gets:

* **Selection**: only the kinds the stack file's `alerts.events` lists. ``recovered``
  is a ``healthy`` that follows trouble (unhealthy, restarting, gave up), never a
  first start.
* **Folding** (``dedup``): the first alert about a service goes out at once and opens
  a window of ``dedup`` seconds; what that service does within the window is
  counted, not sent, and one summary goes out when the window ends ("trader: 37
  more events in the last 10m: unhealthy x19, recovered x18; now: recovered") and
  opens the next window. A service flapping for an hour sends one message and
  one summary per window, not a hundred. Urgent kinds (gave up, blocked, second
  factor, disk full) are never held back by another kind's window; only the
  same urgent alert repeated within ``dedup`` is folded.
* **Rate limit**: at most ``rate_limit.count`` messages per ``rate_limit.window``
  seconds for the whole stack; beyond, alerts are counted and one "N alerts
  held back by the rate limit" message goes out as soon as there is room again.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

KINDS = ("unhealthy", "recovered", "restarting", "gave-up", "blocked", "second-factor", "maintenance", "disk-full")
HEALTH_KINDS = ("unhealthy", "recovered", "restarting")  # one window per service for all of these
# The supervisor's event names, and what they mean for alerts (names other helpers add map here too).
EVENT_KINDS = {
    "unhealthy": ("unhealthy", ""), "external-down": ("unhealthy", ""), "ib-outage": ("unhealthy", ""),
    "restarting": ("restarting", ""),
    "gave-up": ("gave-up", ""),
    "blocked": ("blocked", ""), "preflight-refused": ("blocked", ""),
    "second-factor": ("second-factor", ""), "awaiting-second-factor": ("second-factor", ""),
    "maintenance-start": ("maintenance", "start"), "maintenance-end": ("maintenance", "end"),
    "disk-full": ("disk-full", "full"), "log-disk-full": ("disk-full", "full"),
    "disk-writable": ("disk-full", "writable"), "log-disk-writable": ("disk-full", "writable"),
    "state-unwritable": ("disk-full", "full"), "state-written": ("disk-full", "writable"),  # the supervisor's own
}
RECOVERY_EVENTS = ("healthy", "external-up")
TROUBLE_KINDS = ("unhealthy", "restarting", "gave-up")
_TITLES = {"unhealthy": "unhealthy", "recovered": "recovered", "restarting": "restarting", "gave-up": "gave up",
           "blocked": "blocked", "second-factor": "login waits for a second factor", "maintenance": "maintenance",
           "disk-full": "cannot write its log"}


@dataclass(frozen=True)
class AlertEvent:
    """Something that happened, as alerts see it; `time` is wall-clock epoch seconds (for the message)."""

    service: str
    kind: str
    detail: str = ""
    time: float = 0.0
    phase: str = ""  # "start"/"end" for maintenance, "full"/"writable" for disk-full


@dataclass(frozen=True)
class Alert:
    """One message to send."""

    service: str
    kind: str
    title: str
    detail: str
    time: float
    phase: str = ""
    folded: int = 0  # events this message summarises (0: a single event)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self, stack: str) -> dict:
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record = {"stack": stack, "service": self.service, "event": self.kind, "title": self.title,
                  "detail": self.detail, "time": when}
        if self.phase:
            record["phase"] = self.phase
        if self.folded:
            record["folded"] = self.folded
            record["counts"] = dict(self.counts)
        return record


@dataclass(frozen=True)
class PolicySettings:
    events: frozenset[str] = frozenset(KINDS)
    dedup: float = 600.0
    rate_count: int = 20
    rate_window: float = 3600.0


@dataclass
class _Window:
    ends: float
    held: Counter = field(default_factory=Counter)
    last: AlertEvent | None = None


def from_supervisor_event(service: str, name: str, reason: str, time: float) -> AlertEvent | None:
    """A supervisor event (``unhealthy``, ``gave-up``, ``maintenance-start``...) as an alert event, if it is one.

    ``healthy`` comes back as kind ``healthy``: :class:`AlertPolicy` decides whether it is a recovery.
    """
    if name in RECOVERY_EVENTS:
        return AlertEvent(service, "healthy", reason, time)
    kind = EVENT_KINDS.get(name)
    return AlertEvent(service, kind[0], reason, time, kind[1]) if kind else None


class AlertPolicy:
    """Decides what to send. ``offer`` for each event, ``due`` when :meth:`next_due` comes; `now` is monotonic."""

    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings
        self._windows: dict[tuple[str, str], _Window] = {}
        self._troubled: set[str] = set()
        self._sent: deque[float] = deque()
        self._limited: Counter = Counter()
        self._limited_since: float | None = None
        self._limited_last: Alert | None = None

    def offer(self, event: AlertEvent, now: float) -> list[Alert]:
        """The alerts to send now because of `event` (often none)."""
        kind = event.kind
        if kind == "healthy":
            if event.service not in self._troubled:
                return []  # a first start, or healthy again without any trouble alerted
            self._troubled.discard(event.service)
            event = AlertEvent(event.service, "recovered", event.detail, event.time)
            kind = "recovered"
        elif kind in TROUBLE_KINDS:
            self._troubled.add(event.service)
        if kind not in self.settings.events:
            return []
        key = (event.service, "health" if kind in HEALTH_KINDS else f"{kind}:{event.phase}")
        window = self._windows.get(key)
        if window is not None and now < window.ends:
            window.held[kind] += 1
            window.last = event
            return []
        self._windows[key] = _Window(now + self.settings.dedup)
        return self._limit([_single(event)], now)

    def due(self, now: float) -> list[Alert]:
        """Summaries of windows that ended, and the rate limit's digest once there is room: send these now."""
        alerts = []
        for key, window in list(self._windows.items()):
            if now < window.ends:
                continue
            if window.held and window.last is not None:
                alerts.append(_summary(window, self.settings.dedup))
                self._windows[key] = _Window(now + self.settings.dedup)
            else:
                del self._windows[key]
        return self._limit(alerts, now) + self._digest(now)

    def next_due(self) -> float | None:
        """When :meth:`due` may next have something (monotonic seconds), None if nothing is pending."""
        times = [window.ends for window in self._windows.values() if window.held]
        if self._limited and self._sent:
            times.append(self._sent[0] + self.settings.rate_window)
        return min(times) if times else None

    def _limit(self, alerts: list[Alert], now: float) -> list[Alert]:
        self._forget_old_sends(now)
        allowed = []
        for alert in alerts:
            if len(self._sent) < self.settings.rate_count:
                self._sent.append(now)
                allowed.append(alert)
            else:
                self._limited[alert.kind] += max(1, alert.folded)
                self._limited_last = alert
                if self._limited_since is None:
                    self._limited_since = alert.time
        return allowed

    def _digest(self, now: float) -> list[Alert]:
        self._forget_old_sends(now)
        if not self._limited or len(self._sent) >= self.settings.rate_count or self._limited_last is None:
            return []
        total = sum(self._limited.values())
        counts = ", ".join(f"{kind} x{count}" for kind, count in sorted(self._limited.items()))
        last = self._limited_last
        digest = Alert("", "rate-limited", f"{total} alerts held back by the rate limit",
                       f"{counts}; the latest: {last.service or 'stack'} {last.title}: {last.detail}",
                       last.time, folded=total, counts=dict(self._limited))
        self._limited.clear()
        self._limited_since = self._limited_last = None
        self._sent.append(now)
        return [digest]

    def _forget_old_sends(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.settings.rate_window:
            self._sent.popleft()


def _single(event: AlertEvent) -> Alert:
    return Alert(event.service, event.kind, _title(event), event.detail, event.time, event.phase)


def _title(event: AlertEvent) -> str:
    title = _TITLES.get(event.kind, event.kind)
    if event.kind == "maintenance":
        return f"maintenance {'ends' if event.phase == 'end' else 'begins'}"
    if event.kind == "disk-full" and event.phase == "writable":
        return "can write its log again"
    return title


def _summary(window: _Window, dedup: float) -> Alert:
    last = window.last
    assert last is not None
    total = sum(window.held.values())
    counts = ", ".join(f"{kind} x{count}" for kind, count in sorted(window.held.items()))
    minutes = f"{dedup / 60:g}m" if dedup >= 60 else f"{dedup:g}s"
    return Alert(last.service, last.kind, f"{total} more events in the last {minutes}",
                 f"{counts}; now: {_title(last)}: {last.detail}", last.time, last.phase, folded=total,
                 counts=dict(window.held))

"""The fan-out of published events to subscribers, as a pure object (no sockets, no clock).

Each subscriber has a bounded queue. Publishing never waits for a subscriber:
when a queue is full its oldest event is dropped and counted, so a slow reader
loses old ticks rather than delaying everyone. A subscriber whose writer has
made no progress for ``stuck_after`` seconds while events wait is reported as
stuck, removed, and left for the caller to disconnect.

Time comes in as ``now`` arguments (seconds on a monotonic clock), so the rules
are tested on values.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Subscriber:
    """One subscriber's queue, filter and counters."""

    id: int
    queue_limit: int
    types: frozenset[str] | None = None  # None: every type
    queue: deque[bytes] = field(default_factory=deque)
    dropped: int = 0
    delivered: int = 0
    # When the writer last took an event, or when events started waiting after
    # an empty queue, whichever is later: the start of the current wait.
    last_progress: float = 0.0
    removed: bool = False

    def wants(self, event_type: str) -> bool:
        """True if this subscriber's filter lets `event_type` through."""
        return self.types is None or event_type in self.types

    def stuck_for(self, now: float) -> float:
        """Seconds events have waited without the writer taking one (0 when nothing waits)."""
        return now - self.last_progress if self.queue else 0.0


@dataclass(frozen=True)
class PublishOutcome:
    """What the caller must do after a publish: wake these writers, disconnect those."""

    receivers: list[Subscriber]
    stuck: list[Subscriber]


class FanOut:
    """Subscribers, publishers and the counters /healthz reports.

    ``queue_limit``: events kept per subscriber before the oldest is dropped.
    ``stuck_after``: seconds without progress, with events waiting, before a
    subscriber is declared stuck and removed.
    """

    def __init__(self, *, queue_limit: int = 1000, stuck_after: float = 10.0) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        if stuck_after <= 0:
            raise ValueError("stuck_after must be positive")
        self.queue_limit = queue_limit
        self.stuck_after = stuck_after
        self.subscribers: dict[int, Subscriber] = {}
        self.publishers = 0
        self.relayed = 0  # events accepted from publishers
        self.dropped = 0  # events dropped from full subscriber queues
        self.rejected = 0  # frames refused (bad JSON, unknown type, ...)
        self.evicted = 0  # subscribers disconnected for being stuck
        self._next_id = 1

    def add_subscriber(self, now: float) -> Subscriber:
        """Register a new subscriber that receives every type until it subscribes."""
        subscriber = Subscriber(id=self._next_id, queue_limit=self.queue_limit, last_progress=now)
        self._next_id += 1
        self.subscribers[subscriber.id] = subscriber
        return subscriber

    def remove_subscriber(self, subscriber: Subscriber) -> None:
        """Forget a subscriber; its waiting events are discarded. Idempotent."""
        subscriber.removed = True
        subscriber.queue.clear()
        self.subscribers.pop(subscriber.id, None)

    def set_filter(self, subscriber: Subscriber, types: frozenset[str] | None) -> None:
        """From now on `subscriber` receives only `types` (None: every type).

        Events already queued stay queued: they were published under the old filter.
        """
        subscriber.types = types

    def publish(self, event_type: str, payload: bytes, now: float) -> PublishOutcome:
        """Queue one event for every subscriber that wants it; report who is stuck."""
        self.relayed += 1
        receivers: list[Subscriber] = []
        stuck: list[Subscriber] = []
        for subscriber in list(self.subscribers.values()):
            if not subscriber.wants(event_type):
                continue
            if subscriber.stuck_for(now) >= self.stuck_after:
                stuck.append(subscriber)
                continue
            self._enqueue(subscriber, payload, now)
            receivers.append(subscriber)
        for subscriber in stuck:
            self.evicted += 1
            self.remove_subscriber(subscriber)
        return PublishOutcome(receivers, stuck)

    def next_event(self, subscriber: Subscriber, now: float) -> bytes | None:
        """The oldest waiting event for `subscriber`'s writer, or None. Taking one is progress."""
        if not subscriber.queue:
            return None
        subscriber.last_progress = now
        subscriber.delivered += 1
        return subscriber.queue.popleft()

    def record_rejected(self) -> None:
        """Count one refused frame."""
        self.rejected += 1

    def publisher_joined(self) -> None:
        self.publishers += 1

    def publisher_left(self) -> None:
        self.publishers = max(0, self.publishers - 1)

    def stats(self) -> dict[str, int]:
        """The counters /healthz reports."""
        return {
            "subscribers": len(self.subscribers),
            "publishers": self.publishers,
            "events_relayed": self.relayed,
            "events_dropped": self.dropped,
            "events_rejected": self.rejected,
            "subscribers_evicted": self.evicted,
        }

    def _enqueue(self, subscriber: Subscriber, payload: bytes, now: float) -> None:
        if not subscriber.queue:
            # The wait starts now; time spent idle with nothing to send is not "stuck".
            subscriber.last_progress = now
        elif len(subscriber.queue) >= subscriber.queue_limit:
            subscriber.queue.popleft()
            subscriber.dropped += 1
            self.dropped += 1
        subscriber.queue.append(payload)

"""A service's lifecycle as plain values: the states `status` shows, and how each changes.

:func:`transition` is the whole lifecycle: given a state and a :class:`Trigger`
(something that happened to the service, or a decision taken about it), it returns
the new state and the timeline event that records the change, or None when the
trigger does not apply (a probe result that lands after its service was stopped, a
second interrupt for a service that is already stopped). It is pure and tested on
values; :class:`launcher.supervise.lifecycle.ServiceLifecycle` is the only caller
that acts on it, and it writes every change through one emit path and one save path.

Diagram (managed services; external ones go STARTING -> EXTERNAL <-> UNHEALTHY)::

    STOPPED --start--> STARTING --spawned--> STARTING --probe-passed--> HEALTHY
                          |  \\--finished (one-shot, exit 0)--> DONE
                          |  \\--give-up / fail / backoff (the gate failed)
    HEALTHY <--dependency-down/probe-passed--> WAITING
    HEALTHY|WAITING --probe-failed--> UNHEALTHY --backoff--> RESTARTING --start--> STARTING
    HEALTHY|WAITING|UNHEALTHY --exited--> STOPPED --backoff|give-up|fail--> RESTARTING|FAILED
    any running state --stop--> STOPPING --stopped--> STOPPED
    any running state --killed (second signal)--> STOPPED       (STOPPED, FAILED, DONE keep their record)
    any state but FAILED, DONE --block (a dependency settled for good)--> BLOCKED --start--> STARTING
    STOPPING|STOPPED|FAILED --halt (`robostack stop`)--> HALTED --start / backoff (`robostack start`)--> STARTING
    HEALTHY|WAITING|UNHEALTHY|EXTERNAL --gateway-away--> MAINTENANCE --probe-passed|external-up--> HEALTHY|EXTERNAL
    MAINTENANCE --probe-failed (the window is over, the API still does not answer)--> UNHEALTHY

MAINTENANCE is a Gateway's own absence (a maintenance window, its daily soft restart,
a login in progress): the API does not answer and that is expected, so nothing is
restarted and dependents wait (it is not UP); its process still runs (RUNNING).

Adding a state (say, a Gateway in maintenance) is a local change:

1. add a member to :class:`ServiceState`, and to the sets below it belongs to (UP if
   dependents may count on it, RUNNING if a live process is expected, SHOWS_REASON if
   `status` should print why);
2. add the triggers that enter and leave it (new :class:`Trigger` members if none
   fits) as rows of ``_ROWS``;
3. fire those triggers from the code that observes the condition, through
   ``ServiceLifecycle.fire`` (never by assigning ``record.state``);
4. give it a colour in ``launcher.output.console.STATE_STYLES``.

``tests/launcher/test_transitions.py`` checks the table's invariants (every state
reachable, stopping a one-way door, a kill never rewrites a stopped service).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ServiceState(str, Enum):
    """What `status` shows for a service (the `state` field of run.json)."""

    STARTING = "starting"      # recorded (maybe not spawned yet: no pid), or gated on its probe
    HEALTHY = "healthy"
    WAITING = "waiting"        # running, a dependency is down: given `dependency_grace` to reconnect
    UNHEALTHY = "unhealthy"    # failed `retries` probes in a row
    RESTARTING = "restarting"  # waiting out its backoff; `next_try_at` says until when
    STOPPING = "stopping"
    STOPPED = "stopped"
    DONE = "done"              # a one-shot service that exited 0: counts as up for its dependents
    BLOCKED = "blocked"        # a dependency settled for good (gave up, failed, left stopped)
    FAILED = "failed"          # gave up, or failed and its restart policy does not retry
    HALTED = "halted"          # stopped on request (`robostack stop`): never restarted until `robostack start`
    EXTERNAL = "external"      # run by someone else; its probe passes (or nobody probes it now)
    MAINTENANCE = "maintenance"  # a Gateway away on purpose (its window, its own restart, a login): not restarted
    ORPHANED = "orphaned"      # never recorded: `status` says so when the supervisor is gone


UP = frozenset({ServiceState.HEALTHY, ServiceState.WAITING, ServiceState.EXTERNAL, ServiceState.DONE})
"""Dependents may start, or keep running, on a dependency in one of these states."""

FINE = frozenset({ServiceState.HEALTHY, ServiceState.EXTERNAL, ServiceState.DONE, ServiceState.HALTED,
                  ServiceState.MAINTENANCE})
"""Nothing wrong: what `status` exits 0 on and the HTTP API calls ready (a halted service was stopped on request;
a Gateway in maintenance is away on purpose, and its dependents, not ready meanwhile, say so)."""

RUNNING = frozenset({ServiceState.STARTING, ServiceState.HEALTHY, ServiceState.WAITING, ServiceState.UNHEALTHY,
                     ServiceState.STOPPING, ServiceState.MAINTENANCE})
"""States in which the service's process is expected to be alive (status checks its pid)."""

SHOWS_REASON = frozenset({ServiceState.WAITING, ServiceState.UNHEALTHY, ServiceState.RESTARTING,
                          ServiceState.BLOCKED, ServiceState.FAILED, ServiceState.STOPPED, ServiceState.HALTED,
                          ServiceState.MAINTENANCE})
"""States whose record keeps the reason given with the trigger (shown by `status`)."""


def parse_state(text: str) -> ServiceState | None:
    """The state named `text` in a run state, or None for a name this version does not know."""
    try:
        return ServiceState(text)
    except ValueError:
        return None


class Trigger(str, Enum):
    """Something that happened to a service, or a decision taken about it."""

    START = "start"                  # about to spawn it (recorded first), or to wait for an external one
    SPAWNED = "spawned"              # its process exists (pid recorded)
    PROBE_PASSED = "probe-passed"    # the startup gate or a liveness probe passed
    PROBE_FAILED = "probe-failed"    # `retries` liveness probes failed in a row
    EXTERNAL_UP = "external-up"      # an external service's probe passes
    EXTERNAL_DOWN = "external-down"  # an external service's probe failed `retries` times
    DEPENDENCY_DOWN = "dependency-down"
    EXITED = "exited"                # its process ended by itself
    FINISHED = "finished"            # a one-shot service exited 0
    BACKOFF = "backoff"              # a restart was decided: stopped, then started after a delay
    RESTARTED = "restarted"          # a restart brought it back
    GIVE_UP = "give-up"              # past its crash-loop limit, or it failed during `up`
    FAIL = "fail"                    # it failed and its restart policy does not restart it
    STOP = "stop"                    # its stop began (the stack stops, or a dependency restarts)
    STOPPED = "stopped"              # its stop finished
    KILLED = "killed"                # SIGKILLed on a second signal, before its graceful stop ended
    BLOCK = "block"                  # a dependency settled for good
    HALT = "halt"                    # stopped on request (`robostack stop`), and left stopped
    GATEWAY_AWAY = "gateway-away"    # a Gateway's API is away on purpose (maintenance, its own restart, a login)


@dataclass(frozen=True)
class Transition:
    """The new state and the timeline event that records the change."""

    state: ServiceState
    event: str


S, T = ServiceState, Trigger
_ALIVE = (S.STARTING, S.HEALTHY, S.WAITING, S.UNHEALTHY, S.MAINTENANCE)
_STOPPABLE = (*_ALIVE, S.RESTARTING, S.BLOCKED)
_ROWS: list[tuple[tuple[ServiceState, ...], Trigger, "ServiceState | None", str]] = [
    # from states                                  trigger            to state      event
    ((S.STOPPED, S.RESTARTING, S.FAILED, S.DONE, S.BLOCKED, S.HALTED),
                                                   T.START,           S.STARTING,   "starting"),
    ((S.STARTING,),                                T.SPAWNED,         S.STARTING,   "started"),
    ((S.STARTING, S.UNHEALTHY, S.WAITING),         T.PROBE_PASSED,    S.HEALTHY,    "healthy"),
    ((S.STARTING,),                                T.EXTERNAL_UP,     S.EXTERNAL,   "healthy"),
    ((S.UNHEALTHY,),                               T.EXTERNAL_UP,     S.EXTERNAL,   "external-up"),
    ((S.HEALTHY, S.WAITING),                       T.PROBE_FAILED,    S.UNHEALTHY,  "unhealthy"),
    ((S.EXTERNAL,),                                T.EXTERNAL_DOWN,   S.UNHEALTHY,  "external-down"),
    ((S.HEALTHY, S.UNHEALTHY),                     T.DEPENDENCY_DOWN, S.WAITING,    "waiting"),
    ((S.HEALTHY, S.WAITING, S.UNHEALTHY, S.MAINTENANCE),
                                                   T.EXITED,          S.STOPPED,    "exited"),
    ((S.BLOCKED,),                                 T.EXITED,          S.BLOCKED,    "exited"),
    ((S.STARTING,),                                T.FINISHED,        S.DONE,       "done"),
    ((*_ALIVE, S.STOPPED, S.FAILED, S.DONE, S.BLOCKED, S.HALTED),
                                                   T.BACKOFF,         S.RESTARTING, "restarting"),
    ((S.HEALTHY, S.DONE),                          T.RESTARTED,       None,         "restarted"),
    ((*_ALIVE, S.STOPPED, S.RESTARTING),           T.GIVE_UP,         S.FAILED,     "gave-up"),
    ((*_ALIVE, S.STOPPED, S.RESTARTING),           T.FAIL,            S.FAILED,     "failed"),
    ((S.HEALTHY, S.WAITING, S.UNHEALTHY, S.EXTERNAL),
                                                   T.GATEWAY_AWAY,    S.MAINTENANCE, "maintenance-start"),
    ((S.MAINTENANCE,),                             T.PROBE_PASSED,    S.HEALTHY,    "maintenance-end"),
    ((S.MAINTENANCE,),                             T.EXTERNAL_UP,     S.EXTERNAL,   "maintenance-end"),
    ((S.MAINTENANCE,),                             T.PROBE_FAILED,    S.UNHEALTHY,  "unhealthy"),
    ((S.MAINTENANCE,),                             T.EXTERNAL_DOWN,   S.UNHEALTHY,  "external-down"),
    (_STOPPABLE,                                   T.STOP,            S.STOPPING,   "stopping"),
    ((S.STOPPING,),                                T.STOPPED,         S.STOPPED,    "stopped"),
    ((*_STOPPABLE, S.STOPPING),                    T.KILLED,          S.STOPPED,    "stopped"),
    ((*_ALIVE, S.STOPPED, S.RESTARTING),           T.BLOCK,           S.BLOCKED,    "blocked"),
    ((S.STOPPING, S.STOPPED, S.FAILED),            T.HALT,            S.HALTED,     "halted"),
]
# A row whose target is None keeps the state (an event without a change of state).
TRANSITIONS: dict[tuple[ServiceState, Trigger], Transition] = {
    (source, trigger): Transition(target or source, event)
    for sources, trigger, target, event in _ROWS for source in sources
}
del S, T


def transition(state: ServiceState, trigger: Trigger) -> Transition | None:
    """The state `trigger` leads to from `state`, with its event; None if it does not apply there."""
    return TRANSITIONS.get((state, trigger))

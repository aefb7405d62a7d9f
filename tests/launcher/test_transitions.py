"""The lifecycle's transition table, on plain values: no processes, no clocks."""

from __future__ import annotations

import pytest

from launcher.state.transitions import (RUNNING, TRANSITIONS, UP, ServiceState, Trigger, parse_state,
                                        transition)

S, T = ServiceState, Trigger


def walk(state: ServiceState, *triggers: Trigger) -> list[tuple[ServiceState, str | None]]:
    """Apply triggers in turn; record (state, event) after each (event None: it did not apply)."""
    steps = []
    for trigger in triggers:
        step = transition(state, trigger)
        if step is not None:
            state = step.state
        steps.append((state, step.event if step else None))
    return steps


def test_a_start_is_recorded_before_the_spawn_and_ends_healthy():
    assert walk(S.STOPPED, T.START, T.SPAWNED, T.PROBE_PASSED) == [
        (S.STARTING, "starting"), (S.STARTING, "started"), (S.HEALTHY, "healthy")]


def test_a_crash_then_a_restart_shows_restarting_then_healthy_and_restarted():
    assert walk(S.HEALTHY, T.EXITED, T.BACKOFF, T.START, T.SPAWNED, T.PROBE_PASSED, T.RESTARTED) == [
        (S.STOPPED, "exited"), (S.RESTARTING, "restarting"), (S.STARTING, "starting"), (S.STARTING, "started"),
        (S.HEALTHY, "healthy"), (S.HEALTHY, "restarted")]


def test_a_one_shot_that_exits_0_is_done_and_counts_as_up():
    assert walk(S.STOPPED, T.START, T.SPAWNED, T.FINISHED) == [
        (S.STARTING, "starting"), (S.STARTING, "started"), (S.DONE, "done")]
    assert S.DONE in UP and S.DONE not in RUNNING


def test_external_services_have_their_own_event_names_and_are_never_stopped():
    assert walk(S.STOPPED, T.START, T.EXTERNAL_UP, T.EXTERNAL_DOWN, T.EXTERNAL_UP) == [
        (S.STARTING, "starting"), (S.EXTERNAL, "healthy"), (S.UNHEALTHY, "external-down"),
        (S.EXTERNAL, "external-up")]
    assert transition(S.EXTERNAL, T.STOP) is None
    assert transition(S.EXTERNAL, T.KILLED) is None


def test_a_second_signal_never_rewrites_a_service_already_stopped():
    for settled in (S.STOPPED, S.FAILED, S.DONE):
        assert transition(settled, T.KILLED) is None
    assert transition(S.STOPPING, T.KILLED).state is S.STOPPED
    assert transition(S.HEALTHY, T.KILLED).state is S.STOPPED


def test_stop_is_a_one_way_door_for_probes_and_exits():
    """A probe result or an exit that lands during or after a stop changes nothing."""
    for late in (T.PROBE_PASSED, T.PROBE_FAILED, T.EXITED, T.DEPENDENCY_DOWN, T.SPAWNED, T.FINISHED, T.RESTARTED):
        assert transition(S.STOPPING, late) is None
    assert transition(S.STOPPED, T.PROBE_PASSED) is None


def test_dependents_of_a_service_that_settled_are_blocked_and_come_back_only_by_a_start():
    assert walk(S.HEALTHY, T.BLOCK, T.PROBE_PASSED, T.EXITED, T.BACKOFF, T.START) == [
        (S.BLOCKED, "blocked"), (S.BLOCKED, None), (S.BLOCKED, "exited"), (S.RESTARTING, "restarting"),
        (S.STARTING, "starting")]
    assert transition(S.FAILED, T.BLOCK) is None  # its own failure says more
    assert transition(S.DONE, T.BLOCK) is None  # a finished one-shot no longer needs its dependency


def test_waiting_for_a_dependency_and_back():
    assert walk(S.HEALTHY, T.DEPENDENCY_DOWN, T.DEPENDENCY_DOWN, T.PROBE_PASSED) == [
        (S.WAITING, "waiting"), (S.WAITING, None), (S.HEALTHY, "healthy")]
    assert S.WAITING in UP  # its own dependents keep running


@pytest.mark.parametrize("state", list(ServiceState))
def test_every_state_but_orphaned_is_reachable_and_left(state):
    if state is S.ORPHANED:  # only `status` says it, of a record whose supervisor is gone
        assert not [key for key in TRANSITIONS if state in (key[0], TRANSITIONS[key].state)]
        return
    assert any(step.state is state for step in TRANSITIONS.values()), f"{state} cannot be entered"
    if state is not S.STOPPED:
        assert any(source is state and step.state is not state for (source, _), step in TRANSITIONS.items()), \
            f"{state} cannot be left"


def test_every_transition_names_its_event():
    assert all(step.event for step in TRANSITIONS.values())


def test_states_read_back_from_a_run_state():
    assert parse_state("restarting") is S.RESTARTING
    assert parse_state("a state from a newer version") is None


def test_a_service_stopped_on_request_stays_halted_until_a_start():
    assert walk(S.HEALTHY, T.STOP, T.HALT, T.EXITED, T.PROBE_PASSED, T.BLOCK, T.KILLED, T.START) == [
        (S.STOPPING, "stopping"), (S.HALTED, "halted"), (S.HALTED, None), (S.HALTED, None), (S.HALTED, None),
        (S.HALTED, None), (S.STARTING, "starting")]
    assert transition(S.FAILED, T.HALT).state is S.HALTED  # a failed one can be put away too
    assert transition(S.HALTED, T.BACKOFF).state is S.RESTARTING  # `robostack restart` brings it back as well
    assert S.HALTED not in UP and S.HALTED not in RUNNING  # its dependents wait; status checks no pid

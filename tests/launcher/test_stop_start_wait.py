"""`robostack stop` / `start` / `wait`, in-process: the halted state, dependents, and the watcher leaving it alone."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from launcher.errors import StackStopping, UsageError
from tests.helpers import free_port
from tests.launcher.conftest import service_command as program
from tests.launcher.stacks import chain_stack


def follow_stack(tmp_path, *, policy: str = "restart") -> str:
    """a <- b (on_dependency_restart: `policy`), both probed every 100 ms; a crashes are restarted after 50 ms."""
    port_a, port_b = free_port(), free_port()
    return f"""services:
  a:
    command: {program('--port', str(port_a))}
    health: {{tcp: {{port: {port_a}}}, interval: 100ms, retries: 1}}
    backoff: {{initial: 50ms}}
  b:
    command: {program('--port', str(port_b))}
    depends_on: [a]
    on_dependency_restart: {policy}
    health: {{tcp: {{port: {port_b}}}, interval: 100ms, retries: 1}}
    backoff: {{initial: 50ms}}
"""


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_stop_halts_the_service_and_the_dependents_a_restart_would_take_then_start_brings_both_back(
        harness, tmp_path):
    h = harness(follow_stack(tmp_path))
    await h.up()
    pid_a, pid_b = h.pid("a"), h.pid("b")
    done = await h.supervisor.change_requested("stop", ["a"], with_dependents=False)
    assert done == "a halted"
    assert (h.state("a"), h.state("b")) == ("halted", "halted")
    assert not alive(pid_a) and not alive(pid_b)
    order = [(e.service, e.event) for e in h.recorder.events if e.event in ("stopping", "halted")]
    assert order == [("b", "stopping"), ("b", "halted"), ("a", "stopping"), ("a", "halted")]  # dependents first
    assert "stopped by `robostack stop`" in h.services["a"].record.reason

    # The watchers leave halted services alone: they end, so nothing probes or restarts them.
    await asyncio.wait_for(asyncio.gather(h.services.watchers["a"], h.services.watchers["b"]), 10)
    assert (h.state("a"), h.state("b")) == ("halted", "halted")

    assert await h.supervisor.change_requested("start", ["a"], with_dependents=False) == "a started"
    assert (h.state("a"), h.state("b")) == ("healthy", "healthy")
    assert alive(h.pid("a")) and alive(h.pid("b")) and h.pid("a") != pid_a
    assert h.services["a"].record.restarts == 0  # a start on request is not a restart
    assert h.recorder.find("a", "restarted") is None
    # Back under supervision: a crash now is restarted by the policy as usual.
    after = len(h.recorder.events)
    os.kill(h.pid("a"), signal.SIGKILL)
    await h.recorder.wait_for("a", "restarted", after=after)


async def test_a_dependent_that_waits_keeps_running_while_its_dependency_is_halted(harness, tmp_path):
    h = harness(follow_stack(tmp_path, policy="wait"))
    await h.up()
    pid_b = h.pid("b")
    await h.supervisor.change_requested("stop", ["a"], with_dependents=False)
    await h.recorder.wait_for("b", "waiting")
    assert h.state("a") == "halted" and alive(pid_b)
    assert "waiting for a" in h.services["b"].record.reason
    why = await h.supervisor.wait_requested([], timeout=0.3)
    assert why.startswith("a is halted: stopped by `robostack stop`")
    await h.supervisor.change_requested("start", ["a"], with_dependents=False)
    assert await h.supervisor.wait_requested(["a", "b"], timeout=30) is None
    assert h.pid("b") == pid_b  # never restarted: it waited for its dependency to come back


async def test_wait_answers_once_the_stack_is_up_and_says_why_when_it_is_not(harness, tmp_path):
    h = harness(chain_stack(tmp_path / "journal"))
    gate = h.spawner.hold("c")
    h.start()
    waiting = asyncio.ensure_future(h.supervisor.wait_requested([], timeout=30))
    await gate.reached()
    assert not waiting.done()  # c is not spawned yet: `wait` is still waiting
    gate.release()
    assert await waiting is None
    timed_out = await h.supervisor.wait_requested(["c"], timeout=0.0)
    assert timed_out is None  # up already: no time needed
    with pytest.raises(UsageError, match="unknown service 'nope'"):
        await h.supervisor.wait_requested(["nope"], timeout=1)


async def test_wait_reports_a_timeout_with_the_present_state(harness, tmp_path):
    h = harness(chain_stack(tmp_path / "journal"))
    gate = h.spawner.hold("b")
    h.start()
    await gate.reached()
    why = await h.supervisor.wait_requested(["c"], timeout=0.2)
    assert why == "not up within 0.2s: c is stopped"  # not even started: its dependency b is still starting
    gate.release()


async def test_stop_and_start_are_refused_while_the_stack_stops(harness, tmp_path):
    h = harness(follow_stack(tmp_path))
    await h.up()
    h.signal(signal.SIGTERM)
    with pytest.raises(StackStopping, match="refused: the stack is stopping"):
        await h.supervisor.change_requested("stop", ["a"], with_dependents=False)
    with pytest.raises(StackStopping):
        await h.supervisor.wait_requested([], timeout=1)
    assert await h.finished() is None


async def test_the_stop_of_the_stack_stops_nothing_twice_and_keeps_a_halted_record(harness, tmp_path):
    h = harness(follow_stack(tmp_path))
    await h.up()
    await h.supervisor.change_requested("stop", ["b"], with_dependents=False)
    h.signal(signal.SIGTERM)
    assert await h.finished() is None
    assert h.state("b") == "halted" and h.state("a") == "stopped"
    assert h.recorder.find("b", "stopping", after=h.recorder.find("", "supervisor-started")) is not None
    assert len([e for e in h.recorder.events if e.service == "b" and e.event == "stopping"]) == 1

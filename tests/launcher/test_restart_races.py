"""A restart racing a stop: no ghost supervisor, no process left, in every phase of the restart.

The ghost (issue 10): `robostack restart` racing a SIGTERM or Ctrl-C left a supervisor
that wrote `supervisor-stopped`, released the lock, never exited and went on restarting.
Here the stop lands in each phase of a restart, for a restart asked for and for one the
policy decided, with SIGTERM, SIGINT, and a second signal; 30 trials in-process, where a
gate puts the signal exactly where it must land, and three through the real CLI.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import psutil
import pytest

from launcher.errors import StackStopping
from launcher.process.search import find_processes_carrying
from launcher.state.interpret import RUN_TOKEN_VARIABLE
from launcher.state.store import StackLock
from tests.helpers import REPO, kill_group, wait_until

PHASES = ("stopping-dependents", "backoff", "before-fork", "gating", "starting-dependents")
KINDS = ("requested", "crash")
SIGNALS = {"SIGTERM": (signal.SIGTERM,), "SIGINT": (signal.SIGINT,), "SIGTERM+SIGINT": (signal.SIGTERM, signal.SIGINT)}


def race_stack(phase: str) -> str:
    """a <- b (restarted with a); tiny shell services, so that 33 trials stay cheap: each says "ready" in
    its log (a after 0.3 s in the gating phase); b ignores SIGTERM in the stopping phase."""
    def command(delay: str = "", stubborn: bool = False) -> str:
        script = ("trap '' TERM; " if stubborn else "") + (f"sleep {delay}; " if delay else "") + "echo ready; exec sleep 600"
        return json.dumps(["sh", "-c", script])

    return f"""services:
  a:
    command: {command(delay="0.3" if phase == "gating" else "")}
    health: {{log: {{pattern: ready}}, interval: 100ms, retries: 1}}
    backoff: {{initial: 100ms}}
  b:
    command: {command(stubborn=phase == "stopping-dependents")}
    depends_on: [a]
    on_dependency_restart: restart
    health: {{log: {{pattern: ready}}, interval: 100ms}}
    stop_grace: 300ms
"""


@pytest.mark.parametrize("signals", list(SIGNALS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("phase", PHASES)
async def test_a_stop_racing_a_restart_leaves_no_ghost_and_no_process(harness, phase, kind, signals):
    h = harness(race_stack(phase))
    await h.up()
    mark = len(h.recorder.events)
    gate = {"backoff": h.clock.hold_sleep, "before-fork": lambda: h.spawner.hold("a"),
            "starting-dependents": lambda: h.spawner.hold("b")}.get(phase, lambda: None)()
    requested = None
    if kind == "requested":
        requested = asyncio.ensure_future(h.supervisor.restart_requested("a", with_dependents=False))
    else:
        kill_group(h.services["a"].record.pgid)
    if gate is not None:
        await gate.reached()
    elif phase == "stopping-dependents":
        await h.recorder.wait_for("b", "stopping", after=mark)
    else:
        await h.recorder.wait_for("a", "started", after=mark)
    for signum in SIGNALS[signals]:
        h.signal(signum)
    if gate is not None:
        gate.release()
    assert await h.finished() is None  # run() returned: the supervisor exits
    assert h.recorder.events[-1].event == "supervisor-stopped"
    assert h.leftovers() == []
    assert StackLock(h.paths).holder() is None
    assert {h.state(name) for name in ("a", "b")} <= {"stopped", "failed"}
    if requested is not None:
        await asyncio.wait([requested], timeout=5)
        assert requested.done()
        if requested.exception() is not None:
            assert isinstance(requested.exception(), StackStopping)
            assert "the stack is stopping" in str(requested.exception())


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGTERM, signal.SIGINT)],
                         ids=["SIGTERM", "SIGINT", "SIGTERM+SIGINT"])
def test_robostack_restart_racing_a_signal_through_the_cli(robostack, signals):
    stack = robostack(race_stack("stopping-dependents"))
    assert stack.run("up", "--detach").returncode == 0
    state = stack.run_state()
    supervisor, token = state["supervisor_pid"], state["run_token"]
    mark = len(stack.events())
    restart = subprocess.Popen(stack.argv("restart", "a"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=stack.env, cwd=REPO)
    try:
        stack.wait_for_event("b", "stopping", after=mark)
        for signum in signals:
            psutil.Process(supervisor).send_signal(signum)
        out, err = restart.communicate(timeout=60)
    finally:
        if restart.poll() is None:
            restart.kill()
            restart.wait()
    assert restart.returncode == 5, out + err
    assert "the stack is stopping" in err and "Traceback" not in err
    wait_until(lambda: not psutil.pid_exists(supervisor) or psutil.Process(supervisor).status() == psutil.STATUS_ZOMBIE,
               what="the supervisor to exit (not a ghost)")
    assert find_processes_carrying(RUN_TOKEN_VARIABLE, token) == []
    assert stack.events()[-1]["event"] == "supervisor-stopped"
    assert not [e for e in stack.events()[mark:] if e["event"] == "started"]
    again = stack.run("up", "--detach")  # the lock was released by a supervisor that is really gone
    assert again.returncode == 0, again.stderr

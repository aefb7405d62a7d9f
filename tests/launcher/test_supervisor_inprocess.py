"""The supervisor in-process, on real tiny processes: each case the issue found by chance, driven on purpose."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

import pytest
from rich.console import Console

from launcher.errors import Interrupted, ServiceFailed, StackStopping
from launcher.output.console import ConsoleReporter
from launcher.supervise.journal import Output
from tests.helpers import free_port
from tests.launcher.conftest import service_command as program
from tests.launcher.stacks import chain_stack, freeze_stack


def chain(tmp_path, **options: str) -> str:
    return chain_stack(tmp_path / "journal", **options)


def stop_sequence(recorder) -> list[tuple[str, str]]:
    return [step for step in recorder.timeline() if step[1] in ("stopping", "stopped") and step[0]]


async def test_sighup_is_one_graceful_stop_in_reverse_order_even_when_it_comes_twice(harness, tmp_path):
    h = harness(chain(tmp_path, c_args="--ignore-term", c_grace="500ms"))
    await h.up()
    h.signal(signal.SIGHUP)
    await h.recorder.wait_for("c", "stopping")
    h.signal(signal.SIGHUP)  # the shell forwards the terminal's hangup: the same hangup, not a second interrupt
    assert await h.finished() is None
    assert stop_sequence(h.recorder) == [("c", "stopping"), ("c", "stopped"), ("b", "stopping"), ("b", "stopped"),
                                         ("a", "stopping"), ("a", "stopped")]
    stopped_c = h.recorder.events[h.recorder.find("c", "stopped")]
    assert "needed SIGKILL" in stopped_c.reason  # its own grace ran out; nothing was killed early
    assert h.recorder.events[-1].event == "supervisor-stopped"
    assert h.supervisor.stop_signal == "SIGHUP"


async def test_a_second_signal_kills_what_still_runs_and_keeps_the_record_of_what_had_stopped(harness, tmp_path):
    h = harness(chain(tmp_path, a_args="--ignore-term", a_grace="10m"))
    await h.up()
    h.signal(signal.SIGINT)
    await h.recorder.wait_for("a", "stopping")
    h.signal(signal.SIGINT)
    assert await h.finished() is None
    for name in ("b", "c"):
        stops = [e for e in h.recorder.events if e.service == name and e.event == "stopped"]
        assert len(stops) == 1 and "killed" not in stops[0].reason, stops
        assert h.services[name].record.reason == stops[0].reason
    assert h.services["a"].record.reason.startswith("killed on a second signal")
    assert h.state("a") == "stopped"


async def test_a_dead_terminal_never_aborts_the_stop(harness, tmp_path):
    master, slave = os.openpty()
    terminal = open(slave, "w", buffering=1)
    output = Output("terminal", ConsoleReporter(Console(file=terminal, force_terminal=False, width=120)))
    h = harness(chain(tmp_path), outputs=[output])
    await h.up()
    os.close(master)  # the terminal window is closed: writes to it now fail with EIO
    h.signal(signal.SIGHUP)
    assert await h.finished() is None
    assert stop_sequence(h.recorder)[-1] == ("a", "stopped")
    assert any("terminal output failed (Input/output error)" in note for note in h.recorder.notes)
    assert output not in h.supervisor.journal.outputs
    with contextlib.suppress(OSError):  # what is still buffered cannot be flushed to a dead terminal
        terminal.close()


async def test_dependents_of_a_service_that_gave_up_are_blocked_and_on_failure_applies(harness, tmp_path):
    port_a, port_b = free_port(), free_port()
    h = harness(f"""services:
  a:
    command: {program('--port', str(port_a), '--crash-on-restart', str(tmp_path / 'marker'))}
    health: {{tcp: {{port: {port_a}}}, interval: 100ms, retries: 1}}
    backoff: {{initial: 50ms}}
    max_restarts: 1 within 1m
  b:
    command: {program('--port', str(port_b))}
    depends_on: [a]
    health: {{tcp: {{port: {port_b}}}, interval: 100ms}}
    on_failure: stop-stack
""")
    await h.up()
    os.killpg(h.services["a"].record.pgid, signal.SIGKILL)
    failure = await h.finished()
    assert isinstance(failure, ServiceFailed) and failure.service == "b"
    blocked = h.recorder.events[h.recorder.find("b", "blocked")]
    assert blocked.reason.startswith("a gave up: ") and "restarted 1 times within 1m" in blocked.reason
    assert "b blocked and its on_failure is stop-stack" in h.supervisor.stop_reason
    assert h.state("a") == "failed"


async def test_a_dependent_left_blocked_waits_with_a_reason_and_comes_back_with_its_dependency(harness, tmp_path):
    port_a, port_b = free_port(), free_port()
    h = harness(f"""services:
  a:
    command: {program('--port', str(port_a))}
    health: {{tcp: {{port: {port_a}}}, interval: 100ms, retries: 1}}
    restart: no
  b:
    command: {program('--port', str(port_b))}
    depends_on: [a]
    health: {{tcp: {{port: {port_b}}}, interval: 100ms}}
""")
    await h.up()
    b_pid = h.pid("b")
    os.killpg(h.services["a"].record.pgid, signal.SIGKILL)
    await h.recorder.wait_for("b", "blocked")
    assert h.state("a") == "failed" and h.state("b") == "blocked"
    assert h.services["b"].record.reason.startswith("a failed: killed by SIGKILL; restart policy is 'no'")
    await h.supervisor.restart_requested("a", with_dependents=False)
    assert h.state("a") == "healthy" and h.state("b") == "healthy"
    assert h.pid("b") != b_pid  # brought back with its dependency


async def test_a_oneshot_that_exits_0_is_done_and_its_dependents_start(harness, tmp_path):
    port = free_port()
    h = harness(f"""services:
  migrate:
    command: {program('--name', 'migrate', '--exit-after', '0.2', '--exit-code', '0')}
    oneshot: true
  app:
    command: {program('--port', str(port))}
    depends_on: [migrate]
    health: {{tcp: {{port: {port}}}, interval: 100ms}}
""")
    await h.up()
    assert h.state("migrate") == "done" and h.state("app") == "healthy"
    assert h.recorder.find("migrate", "done") < h.recorder.find("app", "starting")
    h.signal()
    assert await h.finished() is None
    assert h.state("migrate") == "done"  # its record stays: it ran and finished


async def test_a_failing_oneshot_fails_the_start_up(harness, tmp_path):
    h = harness(f"""services:
  migrate:
    command: {program('--name', 'migrate', '--exit-after', '0', '--exit-code', '4')}
    oneshot: true
    restart: no
  app:
    command: {program()}
    depends_on: [migrate]
""")
    h.start()
    failure = await h.finished()
    assert isinstance(failure, ServiceFailed) and "one-shot service exited with code 4" in str(failure)
    assert h.recorder.find("app", "starting") is None


async def test_restarting_is_shown_with_the_time_of_the_next_try(harness, tmp_path):
    port = free_port()
    h = harness(f"""services:
  a:
    command: {program('--port', str(port))}
    health: {{tcp: {{port: {port}}}, interval: 100ms, retries: 1}}
    backoff: {{initial: 20s}}
""")
    await h.up()
    backoff = h.clock.hold_sleep()
    os.killpg(h.services["a"].record.pgid, signal.SIGKILL)
    await backoff.reached()
    reply = h.supervisor.status_reply()["state"]["services"]["a"]  # what `status` gets from the live supervisor
    assert reply["state"] == "restarting"
    assert reply["next_try_at"] - h.clock.now().timestamp() == pytest.approx(20.0, abs=5.0)
    on_disk = json.loads(h.paths.run_state.read_text())["services"]["a"]
    assert on_disk["state"] == "restarting" and on_disk["next_try_at"] == reply["next_try_at"]
    backoff.release()
    await h.recorder.wait_for("a", "restarted")
    assert h.services["a"].record.next_try_at is None


async def test_a_service_is_recorded_before_its_process_is_spawned(harness, tmp_path):
    h = harness(f"services:\n  a:\n    command: {program()}\n")
    gate = h.spawner.hold("a")
    h.start()
    await gate.reached()
    on_disk = json.loads(h.paths.run_state.read_text())
    assert on_disk["services"]["a"]["state"] == "starting" and on_disk["services"]["a"]["pid"] is None
    assert on_disk["run_token"] == h.supervisor.run_token  # how `down` and `status` find it if we die now
    gate.release()
    await h.recorder.wait_for("a", "healthy")
    assert json.loads(h.paths.run_state.read_text())["services"]["a"]["pid"] == h.pid("a")


async def test_the_freeze_interleaving_ends_in_gave_up_and_a_prompt_stop(harness, tmp_path):
    """A dependent that exits while its dependency's restart holds it (the 3.12/3.13 100 % CPU freeze)."""
    h = harness(freeze_stack(tmp_path / "b-marker", interval="100ms"))
    await h.up()
    os.killpg(h.services["a"].record.pgid, signal.SIGKILL)
    await h.recorder.wait_for("b", "gave-up")
    assert h.state("b") == "failed" and h.state("a") == "healthy"
    h.signal(signal.SIGTERM)
    assert await h.finished() is None  # the loop yields: the stop is handled at once, no 30 s SIGKILL from `down`


async def test_the_exec_probe_runs_the_resolved_command(harness, tmp_path):
    out = tmp_path / "probe-ran-with"
    h = harness(f"""services:
  a:
    command: {program()}
    health:
      exec: {{command: "python -c \\"import sys; open('${{PROBE_OUT}}', 'w').write(sys.executable)\\""}}
      interval: 100ms
""", environ={**os.environ, "PROBE_OUT": str(out)})
    await h.up()
    assert out.read_text() == sys.executable  # ${PROBE_OUT} substituted, `python` is robostack's interpreter


async def test_a_restart_asked_for_once_stopping_has_begun_is_refused(harness, tmp_path):
    h = harness(chain(tmp_path))
    await h.up()
    h.signal(signal.SIGTERM)
    with pytest.raises(StackStopping, match=r"refused: the stack is stopping \(received SIGTERM\)"):
        await h.supervisor.restart_requested("b", with_dependents=False)
    assert await h.finished() is None
    first_stop = h.recorder.find("c", "stopping")
    assert not [step for step in h.recorder.timeline()[first_stop:] if step[1] in ("starting", "restarting")]


async def test_a_signal_racing_a_spawn_during_start_up_stops_it_too(harness, tmp_path):
    """The fork of `c` goes ahead as the SIGINT lands: it is recorded, then stopped first, like the rest."""
    h = harness(chain(tmp_path))
    gate = h.spawner.hold("c")
    h.start()
    await gate.reached()
    h.signal(signal.SIGINT)
    gate.release()
    failure = await h.finished()
    assert isinstance(failure, Interrupted) and "interrupted while starting (received SIGINT)" in str(failure)
    assert [step for step in stop_sequence(h.recorder) if step[1] == "stopped"] == [
        ("c", "stopped"), ("b", "stopped"), ("a", "stopped")]
    assert {h.state(name) for name in "abc"} == {"stopped"}

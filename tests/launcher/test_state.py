"""The state directory: atomic run state, the per-stack lock, the event timeline."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from launcher.errors import AlreadyRunningError, StateError
from launcher.state.events import Event, EventLog, read_events
from launcher.state.paths import StatePaths, point_current_log, state_dir_for
from launcher.state.store import RunState, ServiceRecord, StackLock, read_run_state, write_run_state
from tests.helpers import read_line_matching


def test_state_directory_is_private(tmp_path):
    paths = StatePaths(tmp_path / "state").ensure()
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700
    assert paths.logs.is_dir()


def test_state_directory_depends_on_the_stack_path_not_its_name(tmp_path):
    environ = {"XDG_STATE_HOME": str(tmp_path)}
    first = state_dir_for(tmp_path / "a" / "stack.yaml", environ)
    second = state_dir_for(tmp_path / "b" / "stack.yaml", environ)
    assert first.root != second.root
    assert first.root == state_dir_for(tmp_path / "a" / "stack.yaml", environ).root
    assert first.root.parent == tmp_path / "robostack"
    assert state_dir_for(tmp_path / "x.yaml", {"ROBOSTACK_STATE_DIR": str(tmp_path / "s")}).root == tmp_path / "s"


def test_run_state_round_trips(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    state = RunState(stack="robo", stack_file="/x/stack.yaml", run_id="r1", symbols=["AAPL"], stop_order=["b", "a"],
                     services={"a": ServiceRecord("a", state="healthy", pid=12, pgid=12, create_time=1.5, ports=[4002]),
                               "b": ServiceRecord("b")})
    write_run_state(paths, state)
    loaded = read_run_state(paths)
    assert loaded == state
    assert not list(tmp_path.glob(".*.tmp")), "the temporary file must be renamed away"


def test_a_damaged_run_state_is_a_clear_error(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    paths.run_state.write_text("{not json")
    with pytest.raises(StateError, match="run.json is damaged"):
        read_run_state(paths)


def test_second_lock_is_refused_naming_the_holder(tmp_path, processes):
    paths = StatePaths(tmp_path).ensure()
    holder = processes.python("-c", (
        "import sys; sys.path.insert(0, %r)\n"
        "from launcher.state.paths import StatePaths; from launcher.state.store import StackLock\n"
        "lock = StackLock(StatePaths(__import__('pathlib').Path(%r))); lock.acquire('robo'); print('locked', flush=True)\n"
        "sys.stdin.read() if False else __import__('time').sleep(600)") % (str(Path.cwd()), str(tmp_path)))
    read_line_matching(holder, "locked")
    with pytest.raises(AlreadyRunningError, match=rf"supervisor pid {holder.pid}"):
        StackLock(paths).acquire("robo")
    assert StackLock(paths).holder() == holder.pid


def test_lock_is_released_when_its_holder_dies(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    code = ("import sys, os, signal; sys.path.insert(0, %r)\n"
            "from launcher.state.paths import StatePaths; from launcher.state.store import StackLock\n"
            "StackLock(StatePaths(__import__('pathlib').Path(%r))).acquire('robo'); os.kill(os.getpid(), signal.SIGKILL)"
            ) % (str(Path.cwd()), str(tmp_path))
    subprocess.run([sys.executable, "-c", code], check=False)
    lock = StackLock(paths)
    assert lock.holder() is None
    lock.acquire("robo")
    lock.release()
    lock.release()  # twice is fine


def test_events_are_appended_and_read_back_from_an_offset(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    log.append(Event(moment, "gateway", "healthy", "server version 178", {"seconds_to_healthy": 1.2}))
    events, offset = read_events(tmp_path / "events.jsonl")
    assert [(e.service, e.event, e.data) for e in events] == [("gateway", "healthy", {"seconds_to_healthy": 1.2})]
    log.append(Event(moment, "trader", "exited", "exited with code 3"))
    with open(tmp_path / "events.jsonl", "ab") as handle:
        handle.write(b'{"time": "2026-01-0')  # a line still being written is not returned
    more, _ = read_events(tmp_path / "events.jsonl", offset=offset)
    assert [(e.service, e.event, e.reason) for e in more] == [("trader", "exited", "exited with code 3")]
    log.close()
    log.close()


def test_current_log_link_moves_to_the_new_run(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    for run in ("run1", "run2"):
        target = paths.run_log("trader", run)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(run + "\n")
        point_current_log(paths, "trader", target)
        assert paths.current_log("trader").read_text() == run + "\n"
    assert os.path.islink(paths.current_log("trader"))


def test_down_of_a_stopped_stack_still_sees_a_process_of_its_run_left_anywhere(tmp_path):
    """`down`'s quick answer ("nothing of it was running") holds only if no process carries the run's token
    or sits in a recorded group; either one sends it the long way."""
    import time

    from launcher.process.identity import identify
    from launcher.state.interpret import anything_left

    state = RunState("s", "stack.yaml", "run", run_token="tok-anything-left-1", started_at=time.time() - 5,
                     phase="stopped", services={})
    assert not anything_left(state)
    carrier = subprocess.Popen(["sleep", "60"], env=dict(os.environ, ROBOSTACK_RUN="tok-anything-left-1"),
                               start_new_session=True)
    member = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert anything_left(state)  # it escaped everything but its environment
        carrier.kill()
        carrier.wait()
        assert not anything_left(state)
        me = identify(member.pid)
        state.services["a"] = ServiceRecord("a", pid=member.pid, pgid=member.pid, create_time=me.create_time)
        assert anything_left(state)  # its recorded group still has a member
    finally:
        for process in (carrier, member):
            process.kill()
            process.wait()
    assert not anything_left(state)

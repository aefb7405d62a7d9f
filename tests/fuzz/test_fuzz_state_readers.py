"""The state readers on damaged files: run.json gives a RunState or a StateError, events.jsonl skips bad lines.

The files are the user's own (robostack wrote them), so damage is a crash mid-write, a
full disk or a hand edit: never a traceback.
"""

from __future__ import annotations

import json
from datetime import datetime

from hypothesis import given, strategies as st

from launcher.errors import StateError
from launcher.state.events import Event, EventLog, read_events
from launcher.state.paths import StatePaths
from launcher.state.store import RunState, ServiceRecord, read_run_state, write_run_state

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=15)
run_state_like = st.fixed_dictionaries(
    {}, optional={"stack": json_values, "stack_file": json_values, "run_id": json_values, "services": json_values,
                  "supervisor_pid": json_values, "stop_order": json_values, "run_token": json_values})


def fresh(tmp_path) -> StatePaths:
    paths = StatePaths(tmp_path / "state").ensure()
    for name in ("run.json", "events.jsonl"):
        (paths.root / name).unlink(missing_ok=True)
    return paths


@given(content=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                         run_state_like.map(lambda v: json.dumps(v).encode())))
def test_run_state_reader(tmp_path, content):
    paths = fresh(tmp_path)
    paths.run_state.write_bytes(content)
    try:
        state = read_run_state(paths)
    except StateError as error:
        assert str(error).startswith(str(paths.run_state)) and "\n" not in str(error)
        return
    assert isinstance(state, RunState)


@given(state=st.builds(RunState, stack=st.text(max_size=10), stack_file=st.text(max_size=20),
                       run_id=st.text(max_size=10), run_token=st.text("0123456789abcdef", max_size=24),
                       services=st.dictionaries(st.text(min_size=1, max_size=8),
                                                st.builds(ServiceRecord, name=st.text(max_size=8),
                                                          pid=st.one_of(st.none(), st.integers(1, 2**22))),
                                                max_size=3)))
def test_run_state_round_trips(tmp_path, state):
    paths = fresh(tmp_path)
    write_run_state(paths, state)
    assert read_run_state(paths) == state


@given(lines=st.lists(st.one_of(st.binary(max_size=60), json_values.map(lambda v: json.dumps(v).encode())),
                      max_size=8))
def test_events_reader_keeps_every_good_line_and_skips_the_rest(tmp_path, lines):
    paths = fresh(tmp_path)
    log = EventLog(paths.events)
    good = Event(datetime(2026, 1, 1, 12, 0, 0), "svc", "started", "pid 1")
    log.append(good)
    log.close()
    with open(paths.events, "ab") as handle:
        handle.write(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    log = EventLog(paths.events)
    log.append(good)
    log.close()
    events, offset = read_events(paths.events)
    assert events[0] == good and events[-1] == good
    assert offset == paths.events.stat().st_size

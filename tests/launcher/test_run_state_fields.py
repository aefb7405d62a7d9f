"""run.json is read as untrusted input field by field: a field the checker does not know is dropped on
reading, so every field the supervisor writes must be known to it, or it is silently lost."""

from __future__ import annotations

import dataclasses

import pytest

from launcher.state.checked import RUN_FIELDS, SERVICE_FIELDS
from launcher.state.store import RunState, ServiceRecord


def test_every_field_written_is_checked_on_reading():
    assert [f.name for f in dataclasses.fields(RunState) if f.name not in RUN_FIELDS] == ["services"]
    assert [f.name for f in dataclasses.fields(ServiceRecord) if f.name not in SERVICE_FIELDS] == []


def test_a_written_state_reads_back_the_same():
    state = RunState(stack="s", stack_file="/x/stack.yaml", run_id="r1", run_token="abc",
                     http_url="http://127.0.0.1:8080/",
                     services={"a": ServiceRecord(name="a", state="healthy", pid=12, restarts=2, ports=[80])})
    assert RunState.from_json(state.to_json()).to_json() == state.to_json()


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://h:1/ x", "file:///etc/passwd", 7])
def test_a_forged_dashboard_url_is_refused(url):
    document = RunState(stack="s", stack_file="/x", run_id="r").to_json() | {"http_url": url}
    with pytest.raises(ValueError, match="http_url"):
        RunState.from_json(document)

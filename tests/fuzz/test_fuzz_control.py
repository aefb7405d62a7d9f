"""The control protocol and the run-state readers on arbitrary input.

* :func:`parse_request` returns a request or raises its one-line BadRequest, for any bytes;
* a live control server answers any line with exactly one ``finish`` line and keeps serving;
* any decoded JSON either reads as a run state or is a ValueError naming a field, and a run
  state that reads is shown by `status` (table, JSON, masked) without an exception.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st

from launcher.commands.status import StatusView, masked_view, status_json
from launcher.output.status import status_lines, status_problems
from launcher.output.term import Out
from launcher.stack.redaction import Redactor
from launcher.state.interpret import recorded_groups
from launcher.state.paths import StatePaths
from launcher.state.store import RunState
from launcher.supervise.control import BadRequest, ControlRequest, ControlServer, parse_request

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
requests = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({}, optional={"command": st.one_of(st.sampled_from(["status", "restart", "stop", "start", "wait", "reboot"]), scalars),
                                        "service": st.one_of(st.sampled_from(["web", ""]), scalars),
                                        "services": st.one_of(st.lists(st.sampled_from(["web", ""]), max_size=3),
                                                              scalars),
                                        "timeout": scalars,
                                        "with_dependents": scalars}).map(lambda value: json.dumps(value).encode()),
)


@given(line=requests)
def test_parse_request_returns_a_request_or_one_line_refusal(line):
    try:
        request = parse_request(line)
    except BadRequest as refusal:
        assert str(refusal) and "\n" not in str(refusal)
        return
    assert isinstance(request, ControlRequest) and request.command in ("status", "restart", "stop", "start", "wait")
    assert isinstance(request.with_dependents, bool) and all(isinstance(name, str) and name for name in request.names)
    if request.command == "restart":
        assert isinstance(request.service, str) and request.service
    if request.command in ("stop", "start"):
        assert request.services
    assert request.timeout is None or (request.command == "wait" and 0 <= request.timeout < 1e9)


@dataclass
class _Journal:
    notes: list[str] = field(default_factory=list)

    def mask(self, text: str) -> str:
        return text

    def note(self, text: str) -> None:
        self.notes.append(text)

    def listening(self, reporter: Any):
        import contextlib

        return contextlib.nullcontext()


@dataclass
class _Target:
    paths: StatePaths
    journal: _Journal = field(default_factory=_Journal)
    restarts: list[str] = field(default_factory=list)

    async def change_requested(self, command: str, names: list[str], with_dependents: bool) -> str:
        self.restarts.extend(names)
        return f"{command}: {', '.join(names)}"

    async def wait_requested(self, names: list[str], timeout: float | None) -> str | None:
        return None

    def status_reply(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "state": {}}


def _exchange(folder: int, line: bytes) -> list[bytes]:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(f"/proc/self/fd/{folder}/control.sock")
        client.sendall(line + b"\n")
        client.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    return data.splitlines()


async def _serve_and_ask(root: Path, lines: list[bytes]) -> tuple[list[list[bytes]], _Target]:
    target = _Target(StatePaths(root))
    server = ControlServer(target)
    await server.start()
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        answers = [await asyncio.to_thread(_exchange, folder, line) for line in [*lines, b'{"command": "status"}']]
    finally:
        os.close(folder)
        await server.close()
    return answers, target


@settings(max_examples=40)
@given(lines=st.lists(requests.map(lambda line: line.replace(b"\n", b" ")), min_size=1, max_size=3))
def test_a_live_server_answers_every_line_once_and_keeps_serving(tmp_path, lines):
    root = tmp_path / "state"
    StatePaths(root).ensure()
    answers, target = asyncio.run(_serve_and_ask(root, lines))
    for answer in answers:
        assert len(answer) == 1, answers
        message = json.loads(answer[0])
        assert message["kind"] == "finish" and isinstance(message["ok"], bool)
    assert json.loads(answers[-1][0])["ok"] is True, "still serving after whatever came before"
    assert not target.journal.notes, target.journal.notes  # no request crashed its handler


texts = st.text(max_size=10)
numbers = st.one_of(st.integers(-5, 2**23), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), texts)
records = st.fixed_dictionaries({}, optional={
    "state": st.one_of(st.sampled_from(["healthy", "failed", "starting", "restarting", "stopped"]), texts, numbers),
    "pid": numbers, "pgid": numbers, "create_time": numbers, "started_at": numbers, "restarts": numbers,
    "reason": st.one_of(texts, numbers), "next_try_at": numbers, "exit": st.one_of(texts, numbers),
    "stop_signal": st.one_of(st.sampled_from(["SIGTERM", "SIGINT", "SIG_BLOCK", "SIGSTOP", "TERM"]), numbers),
    "stop_grace": numbers, "ports": st.one_of(st.lists(numbers, max_size=2), numbers), "external": numbers,
    "probe": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"ok": numbers, "detail": numbers,
                                                                        "latency": numbers, "at": numbers})),
    "last_event": st.one_of(st.none(), json_values),
})
run_states = st.fixed_dictionaries(
    {"stack": st.one_of(texts, numbers), "stack_file": texts, "run_id": texts},
    optional={"services": st.one_of(st.dictionaries(st.sampled_from(["web", "db"]), records, max_size=2), json_values),
              "stop_order": st.one_of(st.lists(st.sampled_from(["web", "db", "x"]), max_size=2), numbers),
              "supervisor_pid": numbers, "phase": st.one_of(st.sampled_from(["running", "stopped"]), texts),
              "run_token": st.one_of(texts, numbers), "symbols": st.one_of(st.lists(texts, max_size=2), numbers),
              "started_at": numbers, "detached": numbers})


@given(data=st.one_of(run_states, json_values))
def test_a_run_state_reads_whole_or_names_its_first_bad_field_and_shows_without_error(data):
    try:
        state = RunState.from_json(data)
    except ValueError as error:
        assert str(error) and "\n" not in str(error)
        return
    for record in state.services.values():
        for number in (record.pid, record.pgid, record.create_time, record.stop_grace, record.started_at):
            assert number is None or (not isinstance(number, bool) and math.isfinite(number))
    recorded_groups(state)
    view = masked_view(StatusView(state, alive=False, responding=False), Redactor.of(["secret"]))
    json.dumps(status_json(view))
    status_problems(view.state, view.log_failures, probing=False)
    status_lines(view.state, supervisor="not running", probing=False, out=Out(io.StringIO(), colour=False))

"""The supervisor's own HTTP API, in-process: the real Supervisor (tests/launcher/harness.py) on real tiny
processes, its real server on a free port, read by real HTTP clients (in threads: the supervisor runs
in this test's event loop)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from launcher.commands.status import status_json, supervisor_view
from launcher.errors import PreflightRefused
from launcher.state.store import read_run_state
from tests.helpers import port_accepts, wait_until
from tests.launcher.conftest import harness, service_command  # noqa: F401  (the in-process supervisor fixture)
from tests.web.client import SseClient, get

HTTP = "http: {port: 0}\n"


def stack(*, http: str = HTTP, interval: str = "200ms") -> str:
    """a <- b, each healthy once it prints that it is ready, b probed every `interval`."""
    def service(name: str, depends: str) -> str:
        command = service_command("--name", name, "--print-ready")
        return (f"  {name}:\n    command: {command}\n{depends}"
                f"    health: {{log: {{pattern: '{name} is ready'}}, interval: {interval}}}\n    stop_grace: 5s\n")

    return http + "services:\n" + service("a", "") + service("b", "    depends_on: [a]\n")


def port_of(h) -> int:
    return int(h.supervisor.state.http_url.rsplit(":", 1)[1].rstrip("/"))


async def fetch(port: int, path: str):
    return await asyncio.to_thread(get, port, path, timeout=10)


def without_clock(status: dict) -> dict:
    """The status without what only the clock changes between two reads: uptime and the "up 3s; probe 0.1s ago"
    durations rendered into each service's detail."""
    def service(s: dict) -> dict:
        kept = {k: v for k, v in s.items() if k != "uptime"}
        if isinstance(kept.get("detail"), str):
            kept["detail"] = re.sub(r"\b\d+(\.\d+)?s\b", "Ns", kept["detail"])
        return kept

    return {**status, "services": [service(s) for s in status["services"]]}


async def test_it_answers_before_any_service_starts_and_the_url_is_in_run_json(harness):
    h = harness(stack())
    held = h.spawner.hold("a")
    h.start()
    await held.reached()  # the lock is taken, nothing has been spawned
    port = port_of(h)
    assert (await fetch(port, "/healthz")).json() == {"status": "ok"}
    ready = await fetch(port, "/readyz")
    assert ready.status == 503 and "the stack is starting" in ready.json()["reasons"]
    assert h.supervisor.state.http_url == f"http://127.0.0.1:{port}/"
    assert read_run_state(h.paths).http_url == h.supervisor.state.http_url  # saved with the run state
    assert any(note == f"dashboard and HTTP API: http://127.0.0.1:{port}/" for note in h.recorder.notes)
    held.release()
    await asyncio.to_thread(wait_until, lambda: get(port, "/readyz").status == 200, what="/readyz to answer 200")
    assert (await fetch(port, "/readyz")).json() == {"ready": True, "reasons": []}


async def test_status_is_what_status_json_prints_from_the_live_supervisor(harness):
    h = harness(stack(interval="1h"))  # no probe between the two reads: their results would differ
    await h.up()
    port = port_of(h)
    printed = status_json(await asyncio.to_thread(supervisor_view, h.paths))  # `status --json`: the control socket
    served = (await fetch(port, "/api/status")).json()
    assert without_clock(served) == without_clock(printed)
    assert [s["state"] for s in served["services"]] == ["healthy", "healthy"] and served["phase"] == "running"


async def test_a_probe_result_reaches_an_open_stream_without_polling(harness):
    h = harness(stack(interval="100ms"))
    await h.up()
    stream = await asyncio.to_thread(SseClient, port_of(h))
    try:
        first = await asyncio.to_thread(stream.until, lambda m: m.event == "status")
        probed_at = {s["name"]: (s["health"] or {}).get("at") for s in first.data["services"]}
        later = await asyncio.to_thread(stream.until, lambda m: m.event == "status" and any(
            (s["health"] or {}).get("at") != probed_at[s["name"]] for s in m.data["services"]), 10)
        assert all(s["state"] == "healthy" for s in later.data["services"])
    finally:
        stream.close()


async def test_metrics_carry_state_probes_logs_and_state_write_errors(harness):
    h = harness(stack())
    await h.up()
    text = (await fetch(port_of(h), "/metrics")).text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert values[("robostack_up", ())] == 1.0
    assert values[("robostack_service_state", (("service", "b"), ("state", "healthy")))] == 1.0
    assert values[("robostack_service_state", (("service", "b"), ("state", "stopping")))] == 0.0
    assert values[("robostack_service_restarts_total", (("service", "a"),))] == 0.0
    assert values[("robostack_probe_ok", (("service", "a"),))] == 1.0
    assert values[("robostack_probe_latency_seconds", (("service", "a"),))] >= 0.0
    assert values[("robostack_probe_last_timestamp_seconds", (("service", "a"),))] > 1.7e9
    assert values[("robostack_log_bytes", (("service", "a"),))] > 0  # "a is ready", stamped by its log writer
    assert values[("robostack_state_write_failing", ())] == 0.0
    assert values[("robostack_state_write_errors_total", ())] == 0.0


async def test_a_page_sees_every_service_stop_then_the_server_closes(harness):
    h = harness(stack())
    await h.up()
    port = port_of(h)
    stream = await asyncio.to_thread(SseClient, port)
    messages: list = []

    def read_until_the_end() -> None:
        try:
            while True:
                messages.append(stream.next(30))
        except AssertionError:  # "the stream ended": the server closed it
            pass

    reader = threading.Thread(target=read_until_the_end)
    reader.start()
    try:
        h.signal(signal.SIGTERM)
        assert await h.finished() is None
        await asyncio.to_thread(reader.join, 30)
    finally:
        stream.close()
    statuses = [m.data for m in messages if m.event == "status"]
    assert statuses[-1]["phase"] == "stopped"
    assert [s["state"] for s in statuses[-1]["services"]] == ["stopped", "stopped"]
    assert any(s["phase"] == "stopping" for s in statuses)
    timeline = [(m.data["service"], m.data["event"]) for m in messages if m.event == "timeline"]
    assert ("b", "stopped") in timeline and ("a", "stopped") in timeline
    assert timeline[-1] == ("", "supervisor-stopped")
    assert not port_accepts(port)


async def test_a_port_in_use_refuses_up_naming_its_holder_and_starts_nothing(harness):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        h = harness(stack(http=f"http: {{port: {port}}}\n"))
        h.start()
        error = await h.finished()
    assert isinstance(error, PreflightRefused) and error.exit_code == 4
    message = str(error)
    assert message.startswith(f"port {port} on 127.0.0.1 is already in use by pid ") and "\n" not in message
    assert "set http.port in the stack file to another port" in message
    assert h.spawner.spawned == [] and read_run_state(h.paths) is None
    assert not [e for e in h.recorder.events if e.event == "starting"]


async def test_without_an_http_section_nothing_is_served(harness):
    h = harness(stack(http=""))
    await h.up()
    assert h.supervisor.state.http_url is None and read_run_state(h.paths).http_url is None


@pytest.mark.parametrize("command", ["status", "events"])
def test_status_and_events_never_import_the_web_package(command, tmp_path):
    import subprocess
    import sys

    from tests.helpers import REPO

    path = tmp_path / "stack.yaml"
    path.write_text(stack())
    code = ("import sys; from launcher.cli import run\n"
            f"try: run(['-f', {str(path)!r}, {command!r}])\n"
            "except (Exception, SystemExit): pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('launcher.web'))))")
    result = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, cwd=REPO,
                            timeout=60, env={"ROBOSTACK_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"})
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], result.stderr

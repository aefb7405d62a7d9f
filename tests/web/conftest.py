"""Fixtures for the HTTP API: stacks loaded from real files, a state directory this test process
writes as a supervisor would (its own pid, the real lock, the real store and event log), and the
real server running in a background event loop, so tests use ordinary blocking HTTP clients."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest

from launcher.stack.loader import load_stack
from launcher.state.events import Event, EventLog
from launcher.state.paths import StatePaths, point_current_log
from launcher.state.store import RunState, ServiceRecord, StackLock, write_run_state
from launcher.web.server import HttpServer
from launcher.web.statedir import StateDirView

STACK_YAML = """\
name: webtest
symbols: [AAPL, NVDA]
env_file: .env
services:
  gateway:
    command: python -c pass
    ports: [{gateway_port}]
    health: {{ib_api: {{port: {gateway_port}}}}}
  websocket:
    command: python -c pass
    ports: [{websocket_port}]
    depends_on: [gateway]
    health: {{tcp: {{port: {websocket_port}}}}}
  trader:
    command: python -c pass --password ${{TRADER_PASSWORD}}
    depends_on: [gateway, websocket]
"""
SECRET = "hunter2-very-secret"


class PlayedSupervisor:
    """This test process in the supervisor's place: it holds the lock and writes run.json and events."""

    def __init__(self, paths: StatePaths, stack):
        self.paths = paths.ensure()
        self.lock = StackLock(self.paths)
        self.events = EventLog(self.paths.events)
        me = psutil.Process()
        self.state = RunState(stack=stack.name, stack_file=str(stack.path), run_id="run-1", symbols=list(stack.symbols),
                              supervisor_pid=me.pid, supervisor_create_time=me.create_time(), phase="running",
                              stop_order=list(stack.stop_order),
                              services={name: ServiceRecord(name) for name in stack.services})

    def start(self) -> "PlayedSupervisor":
        self.lock.acquire(self.state.stack)
        for name in self.state.services:
            self.set(name, "healthy", pid=os.getpid(), create_time=self.state.supervisor_create_time,
                     started_at=datetime.now().timestamp(), log=str(self.paths.run_log(name, "run-1")))
        return self

    def set(self, name: str, state: str, **fields) -> None:
        record = self.state.services[name]
        record.state = state
        for key, value in fields.items():
            setattr(record, key, value)
        write_run_state(self.paths, self.state)

    def emit(self, service: str, event: str, reason: str = "", **data) -> None:
        self.events.append(Event(datetime.now(timezone.utc), service, event, reason, data))

    def write_log(self, service: str, text: str) -> Path:
        path = self.paths.run_log(service, self.state.run_id)  # as the supervisor does: this run's file,
        if not path.exists():                                   # and robostack's link to it
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            point_current_log(self.paths, service, path)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def stop(self) -> None:
        self.lock.release()
        self.events.close()


class ServerThread:
    """The real HttpServer over a StateDirView, in its own event loop on a background thread."""

    def __init__(self, stack, paths: StatePaths, **server_options):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> HttpServer:
            self.view = StateDirView(stack, paths, poll_interval=0.05)
            server = HttpServer(self.view, "127.0.0.1", 0, **server_options)
            await server.start()
            return server

        self.server = self.call(start())
        self.port = self.server.port

    def call(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        async def close() -> None:
            await self.server.close()
            await self.server.close()  # idempotent
            self.view.close()

        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def web_stack(tmp_path, port):
    """A stack file with a secret in its env file, loaded for real."""
    from tests.helpers import free_port

    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / ".env").write_text(f"TRADER_PASSWORD={SECRET}\n")
    (folder / "stack.yaml").write_text(STACK_YAML.format(gateway_port=port, websocket_port=free_port()))
    return load_stack(folder / "stack.yaml", environ={})


@pytest.fixture
def played(web_stack, tmp_path):
    supervisor = PlayedSupervisor(StatePaths(tmp_path / "state"), web_stack).start()
    yield supervisor
    supervisor.stop()


@pytest.fixture
def api(web_stack, played):
    """Factory: `api(max_streams=2, head_timeout=0.5)` -> a started ServerThread; stopped at teardown."""
    started = []

    def start(**options) -> ServerThread:
        server = ServerThread(web_stack, played.paths, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


_screenshots: list[Path] = []


def save_screenshot(browser, folder: Path, name: str) -> Path:
    """Save a screenshot as a test artifact; the folder is printed at the end of the run."""
    path = folder / f"{name}.png"
    browser.driver.save_screenshot(str(path))
    _screenshots.append(path)
    return path


def pytest_terminal_summary(terminalreporter):
    if _screenshots:
        terminalreporter.write_line(f"dashboard screenshots: {_screenshots[0].parent}")

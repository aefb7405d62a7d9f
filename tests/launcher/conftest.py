"""Fixtures for running the real `robostack` CLI against throw-away stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, kill_group, wait_until

SERVICE_PROGRAM = Path(__file__).with_name("service_program.py")


@dataclass
class Robostack:
    """Runs `python -m launcher` against one stack file with a private state directory."""

    stack_file: Path
    state_dir: Path

    @property
    def env(self) -> dict[str, str]:
        # XDG_STATE_HOME: the stacks of one test share a registry of stacks (launcher/state/registry.py),
        # and the suite never writes into the real home.
        return dict(os.environ, ROBOSTACK_STATE_DIR=str(self.state_dir), PYTHONUNBUFFERED="1", COLUMNS="200",
                    XDG_STATE_HOME=str(self.state_dir.parent / "xdg-state"))

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "launcher", "-f", str(self.stack_file), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, cwd=REPO, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        """Start a long-running command (foreground `up`) in its own process group."""
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                cwd=REPO, start_new_session=True)

    def run_state(self) -> dict:
        return json.loads((self.state_dir / "run.json").read_text())

    def status(self) -> dict:
        result = self.run("status", "--json")
        return json.loads(result.stdout)

    def events(self) -> list[dict]:
        """The timeline (events.jsonl) as written so far; a line still being written is not returned yet."""
        from launcher.state.events import read_events

        return [event.to_json() for event in read_events(self.state_dir / "events.jsonl")[0]]

    def wait_for_event(self, service: str, event: str, *, after: int = 0, timeout: float = 60) -> int:
        """Index of the first `event` of `service` at or after position `after` in the timeline."""
        def found():
            for index, entry in enumerate(self.events()[after:], start=after):
                if entry["service"] == service and entry["event"] == event:
                    return index + 1  # +1 so that index 0 is truthy
            return None

        return wait_until(found, timeout=timeout, what=f"event {event!r} of {service!r}") - 1

    def recorded_pgids(self) -> list[int]:
        try:
            state = self.run_state()
        except (FileNotFoundError, ValueError):
            return []
        pgids = [s["pgid"] for s in state["services"].values() if s.get("pgid")]
        if state.get("supervisor_pid"):
            pgids.append(state["supervisor_pid"])
        return pgids


@pytest.fixture
def robostack(tmp_path):
    """Factory: `robostack(yaml_text)` writes the stack file; everything it started is killed at teardown."""
    created: list[Robostack] = []

    def make(text: str, name: str = "stack.yaml") -> Robostack:
        folder = tmp_path / f"stack{len(created)}"
        folder.mkdir()
        path = folder / name
        path.write_text(text)
        instance = Robostack(path, tmp_path / f"state{len(created)}")
        created.append(instance)
        return instance

    yield make
    for instance in created:
        pgids = instance.recorded_pgids()
        if pgids:
            instance.run("down", timeout=60)
        for pgid in pgids:
            kill_group(pgid)


@pytest.fixture
async def harness(tmp_path):
    """Factory: `harness(yaml_text)` builds an in-process supervisor; at teardown nothing of it may remain."""
    from tests.launcher.harness import Harness

    made: list[Harness] = []

    def build(text: str, environ: dict[str, str] | None = None, outputs=()) -> Harness:
        made.append(Harness.build(tmp_path / f"harness{len(made)}", text, environ, outputs))
        return made[-1]

    yield build
    survivors = [pid for each in made for pid in await each.close()]
    assert not survivors, f"processes of the run were left behind (killed now): {survivors}"


def service_command(*args: str) -> str:
    """A stack-file command line running the test service program."""
    return " ".join([sys.executable, str(SERVICE_PROGRAM), *args])

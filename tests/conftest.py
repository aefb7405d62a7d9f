"""Fixtures every test area shares. Area-specific fixtures live in each folder's conftest.py."""

from __future__ import annotations

import pytest

from tests.helpers import ProcessTracker, free_port


@pytest.fixture(autouse=True, scope="session")
def private_state_folders(tmp_path_factory):
    """The suite's own state folders: no test writes robostack state, its stack index or a Gateway
    simulator's order ids into the real home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        patch.setenv("ROBOSTACK_GATEWAY_SIM_STATE_DIR", str(tmp_path_factory.mktemp("gateway-sim-state")))
        yield


@pytest.fixture
def processes():
    """Start processes with `processes.start(argv)` / `processes.python(...)`; all groups die at teardown."""
    tracker = ProcessTracker()
    yield tracker
    tracker.cleanup()


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


class GatewaySim:
    """A running `python -m services.gateway_sim` process."""

    def __init__(self, proc, port: int):
        self.proc = proc
        self.port = port
        self.pid = proc.pid


@pytest.fixture
def gateway_sim(processes, tmp_path):
    """Factory: `gateway_sim("--fault", "silent")` starts a simulator on a free port, ready when it says so.

    The simulator's readiness contract: it prints a line containing
    ``listening on 127.0.0.1:<port>`` once its socket accepts connections.
    """

    def start(*args: str, port: int | None = None) -> GatewaySim:
        from tests.helpers import read_line_matching

        chosen = port or free_port()
        if "--state-file" not in args:  # never the user's own simulator state
            args = (*args, "--state-file", str(tmp_path / f"gateway-sim-{chosen}.json"))
        proc = processes.python("-m", "services.gateway_sim", "--port", str(chosen), *args)
        read_line_matching(proc, rf"listening on 127\.0\.0\.1:{chosen}")
        return GatewaySim(proc, chosen)

    return start

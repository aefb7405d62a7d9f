"""Fixtures for the process-layer tests: real process trees that always die at teardown."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from launcher.process.identity import ProcessIdentity, identify, signal_process
from tests.helpers import read_line_matching

TREE_SCRIPT = Path(__file__).with_name("tree.py")


@dataclass
class Tree:
    """A running tests/process/tree.py: pids by role, identities for every one."""

    proc: object
    roles: dict[str, list[int]]
    identities: dict[int, ProcessIdentity] = field(default_factory=dict)

    @property
    def leader(self) -> ProcessIdentity:
        return self.identities[self.roles["leader"][0]]

    @property
    def pids(self) -> list[int]:
        return sorted(self.identities)

    def role(self, name: str) -> list[int]:
        return self.roles.get(name, [])


def parse_ready_line(line: str) -> dict[str, list[int]]:
    """'tree ready leader=1 child=2,3 ...' -> {'leader': [1], 'child': [2, 3], ...}."""
    return {role: [int(pid) for pid in pids.split(",")]
            for role, pids in re.findall(r"(\w+)=([\d,]+)", line)}


@pytest.fixture
def tree(processes):
    """Factory: `tree("--ignore-term", "--escape")` starts a tree and waits until every process reported.

    Teardown SIGKILLs every process of every tree through its identity, including ones
    that escaped the group (the `processes` fixture only kills groups).
    """
    started: list[Tree] = []

    def start(*args: str) -> Tree:
        proc = processes.python(str(TREE_SCRIPT), *args)
        roles = parse_ready_line(read_line_matching(proc, r"^tree ready "))
        roles.pop("pgid", None)
        built = Tree(proc, roles)
        for pids in roles.values():
            for pid in pids:
                identity = identify(pid)
                assert identity is not None, f"tree process {pid} vanished before the test began"
                built.identities[pid] = identity
        started.append(built)
        return built

    yield start
    for built in started:
        for identity in built.identities.values():
            signal_process(identity, signal.SIGKILL)

"""find_matching_processes against real processes, and its pure pieces on values."""

from __future__ import annotations

import os
import re
import uuid

import psutil
import pytest

from launcher.errors import UsageError
from launcher.process.identity import ProcessIdentity
from launcher.process.search import ancestors_of_self, compile_patterns, find_matching_processes, match_command

SLEEPER = "import time; time.sleep(600)"


def test_finds_the_matching_sleeper_and_spares_the_rest(processes):
    marker = uuid.uuid4().hex[:12]
    stale = processes.python("-c", SLEEPER, f"robo_trader.runner_async-{marker}")
    similar = processes.python("-c", SLEEPER, f"robo_trader.runner_sync-{marker}")
    own_command = " ".join(psutil.Process().cmdline())

    matches = find_matching_processes({
        "trader": [rf"robo_trader\.runner_async-{marker}\b"],
        "everything-python": [re.escape(own_command), "python"],  # would match this very test process
    }, exclude_pids=set())

    trader = [match for match in matches if match.service == "trader"]
    assert [match.pid for match in trader] == [stale.pid]
    assert trader[0].pattern == rf"robo_trader\.runner_async-{marker}\b"
    assert trader[0].command.endswith(f"robo_trader.runner_async-{marker}")
    assert trader[0].identity == ProcessIdentity(stale.pid, psutil.Process(stale.pid).create_time())
    matched_pids = {match.pid for match in matches}
    assert similar.pid not in {match.pid for match in trader}
    assert similar.pid in matched_pids  # the broad pattern does see it, so the test could fail
    assert os.getpid() not in matched_pids
    assert not matched_pids & ancestors_of_self()


def test_excluded_pids_are_never_returned(processes):
    marker = uuid.uuid4().hex[:12]
    managed = processes.python("-c", SLEEPER, f"robostack-managed-{marker}")

    patterns = {"svc": [f"robostack-managed-{marker}"]}
    assert [m.pid for m in find_matching_processes(patterns, exclude_pids=set())] == [managed.pid]
    assert find_matching_processes(patterns, exclude_pids={managed.pid}) == []


def test_ancestors_of_self_are_the_parent_chain():
    ancestors = ancestors_of_self()
    assert os.getppid() in ancestors
    assert os.getpid() not in ancestors
    assert psutil.Process(os.getppid()).ppid() in ancestors | {0}


def test_match_command_reports_the_first_matching_pattern_per_service():
    compiled = compile_patterns({"gateway": ["ibgateway", "IBC"], "trader": ["runner_async"], "ws": ["nope"]})
    identity = ProcessIdentity(42, 1.0)

    found = match_command(compiled, "java -cp ibgateway.jar IBC.Main", identity)

    assert [(m.service, m.pattern) for m in found] == [("gateway", "ibgateway")]


def test_bad_patterns_are_refused_with_the_service_named():
    with pytest.raises(UsageError, match=r"services\.trader\.stale: invalid regular expression '\(unclosed'"):
        compile_patterns({"trader": ["(unclosed"]})
    with pytest.raises(UsageError, match=r"services\.trader\.stale: an empty pattern"):
        compile_patterns({"trader": [""]})

"""Nothing the stack file says can make robostack wait without end (issue 11's timing findings).

* `startup_timeout` bounds the whole start-up gate, a probe already running included;
* a `stale` pattern that backtracks catastrophically on a long command line is refused as
  too slow (the regex engine's time limit), never left to freeze pre-flight.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest

from launcher.errors import EXIT_USAGE, ServiceFailed, UsageError
from launcher.hygiene.stale_check import ProcessRow, stale_pattern_problems
from launcher.process.search import find_matching_processes
from launcher.stack.loader import load_stack
from launcher.stack.stale import SlowPattern, StaleRegex
from tests.helpers import alive, wait_until
from tests.launcher.conftest import service_command

CATASTROPHIC = "(x+x+)+y"
LONG_LINE = "x" * 5000


def long_command_line(processes):
    """A process whose command line the catastrophic pattern backtracks on (once it shows in /proc)."""
    sleeper = processes.python("-c", "import time; time.sleep(120)", LONG_LINE)
    wait_until(lambda: LONG_LINE in " ".join(psutil.Process(sleeper.pid).cmdline()), what="the sleeper's command line")
    return sleeper


async def test_startup_timeout_stops_a_probe_that_is_still_running(harness, tmp_path):
    pid_file = tmp_path / "probe.pid"
    probe = f"import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
    h = harness(f"""services:
  slow:
    command: {service_command('--name', 'slow')}
    health:
      exec: {{command: [python, -c, "{probe}", "{pid_file}"]}}
      timeout: 60s
    startup_timeout: 1s
    stop_grace: 2s
""")
    h.start()
    error = await h.finished(timeout=20)  # far less than the probe's own 60 s timeout

    assert isinstance(error, ServiceFailed), error
    assert "not healthy after 1s (startup_timeout): its exec probe was still running then, and was stopped" in str(error)
    probe_pid = int(pid_file.read_text())
    wait_until(lambda: not alive([probe_pid]), timeout=10, what="the cancelled probe's command to be gone")
    assert h.state("slow") == "failed"


def test_a_catastrophic_stale_pattern_gives_up_within_its_limit():
    began = time.monotonic()
    with pytest.raises(SlowPattern, match=r'"\(x\+x\+\)\+y" is too slow: .* 5000-character command line'):
        StaleRegex(CATASTROPHIC).search(LONG_LINE)
    assert time.monotonic() - began < 5  # without the limit: longer than the age of the universe
    assert StaleRegex(r"services\.gateway_sim\b").search("python -m services.gateway_sim --port 4002")


def test_a_slow_pattern_is_refused_by_the_machine_check_naming_the_field(tmp_path):
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(f"""services:
  trader:
    command: {service_command('--name', 'trader')}
    stale: ['{CATASTROPHIC}']
""")
    stack = load_stack(stack_file, environ=dict(os.environ))
    rows = [ProcessRow(4242, f"python trader.py {LONG_LINE}", "python", os.getuid())]
    problems = stale_pattern_problems(stack, rows, uid=os.getuid(), protected=set())
    assert len(problems) == 1 and problems[0][0] == ("services", "trader", "stale", 0)
    assert "is too slow" in problems[0][1] and "nothing was stopped" in problems[0][1]


def test_a_slow_pattern_against_a_real_long_command_line_is_a_usage_error(processes):
    sleeper = long_command_line(processes)
    with pytest.raises(UsageError, match=r"services\.trader\.stale: .* is too slow"):
        find_matching_processes({"trader": [CATASTROPHIC]})
    assert sleeper.poll() is None


def test_up_refuses_a_slow_stale_pattern_before_stopping_or_starting_anything(robostack, processes, tmp_path):
    sleeper = long_command_line(processes)
    stack = robostack(f"""services:
  trader:
    command: {service_command('--name', 'trader', '--journal', str(tmp_path / 'journal'))}
    stale: ['{CATASTROPHIC}']
""")
    result = stack.run("up", "--detach")

    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert "stack.yaml:4 services.trader.stale[0]" in result.stderr and "is too slow" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "journal").exists() and sleeper.poll() is None

"""spawn_service against real processes: log file, session, environment, failures."""

from __future__ import annotations

import os
import re
import signal
import stat
import sys

import pytest

from launcher.errors import ServiceFailed
from launcher.process.identity import is_alive
from launcher.process.spawn import ExitStatus, SubprocessSpawner, spawn_service
from launcher.process.stop import kill_group_now
from tests.helpers import REPO, log_lines, wait_for_log_line

PYTHON = sys.executable
TALKER = ("import os, sys; print('to stdout', flush=True); print('to stderr', file=sys.stderr, flush=True);"
          "print('stdin says', repr(sys.stdin.read()), flush=True);"
          "print('env', os.environ.get('ROBOSTACK_TEST_VALUE'), os.environ.get('ROBOSTACK_TEST_INHERITED'), flush=True);"
          "print('session', os.getsid(0), 'group', os.getpgrp(), 'pid', os.getpid(), flush=True);"
          "sys.exit(int(sys.argv[1]))")


@pytest.fixture
async def spawned():
    """Collects ServiceProcesses and kills their groups at teardown."""
    started = []
    yield started
    for process in started:
        await kill_group_now(process.target)
        await process.wait()


async def spawn(spawned, name, argv, log_path, **kwargs):
    process = await spawn_service(name, argv, cwd=kwargs.pop("cwd", REPO), env=kwargs.pop("env", {}),
                                  log_path=log_path)
    spawned.append(process)
    return process


async def test_both_streams_go_to_the_log_which_is_appended_across_spawns(spawned, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBOSTACK_TEST_INHERITED", "from-parent")
    log = tmp_path / "logs" / "talker.log"

    first = await spawn(spawned, "talker", [PYTHON, "-c", TALKER, "3"], log,
                        env={"ROBOSTACK_TEST_VALUE": "given"})
    assert (await first.wait()).describe() == "exited with code 3"
    second = await spawn(spawned, "talker", [PYTHON, "-c", TALKER, "0"], log,
                         env={"ROBOSTACK_TEST_VALUE": "again"})
    assert (await second.wait()).success

    lines = log_lines(log)
    headers = [line for line in lines if line.startswith("--- robostack: starting talker")]
    assert headers[0].startswith(f"--- robostack: starting talker (pid {first.pid}) at ")
    assert headers[1].startswith(f"--- robostack: starting talker (pid {second.pid}) at ")
    assert "-c" in headers[0]  # the command is named
    assert lines.count("to stdout") == 2 and lines.count("to stderr") == 2
    assert lines.count("stdin says ''") == 2  # stdin is /dev/null: immediate end of file
    assert "env given from-parent" in lines and "env again from-parent" in lines
    assert lines.index(headers[1]) > lines.index("env given from-parent")  # appended, never truncated
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


async def test_child_has_its_own_session_and_group(spawned, tmp_path):
    log = tmp_path / "session.log"
    process = await spawn(spawned, "session", [PYTHON, "-c", TALKER, "0"], log)
    await process.wait()
    line = wait_for_log_line(log, r"^session ")
    assert line == f"session {process.pid} group {process.pid} pid {process.pid}"
    assert process.pgid == process.pid
    assert os.getsid(0) != process.pid


async def test_running_process_reports_identity_and_exit_by_signal(spawned, tmp_path):
    process = await spawn(spawned, "sleeper", [PYTHON, "-c", "import time; time.sleep(600)"], tmp_path / "s.log")
    assert process.returncode is None
    assert process.identity.pid == process.pid and is_alive(process.identity)
    assert process.target.pgid == process.pid

    assert process.send_signal(signal.SIGKILL)
    status = await process.wait()

    assert status == ExitStatus(signal=signal.SIGKILL)
    assert status.describe() == "killed by SIGKILL"
    assert process.returncode == -signal.SIGKILL
    assert not is_alive(process.identity)
    assert not process.send_signal(signal.SIGTERM)  # gone: nothing is signalled


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "thread"])
async def test_concurrent_waiters_get_the_same_status(spawned, tmp_path, monkeypatch, pidfds):
    import asyncio

    import launcher.process.identity as identity_module

    monkeypatch.setattr(identity_module, "_PIDFDS_SUPPORTED", pidfds)
    process = await spawn(spawned, "quick", [PYTHON, "-c", "raise SystemExit(7)"], tmp_path / "q.log")
    first, second = await asyncio.gather(process.wait(), process.wait())
    assert first == second == ExitStatus(code=7)


async def test_missing_command_is_a_one_line_error(tmp_path):
    with pytest.raises(ServiceFailed) as raised:
        await spawn_service("trader", ["robostack-no-such-command-xyz", "--flag"], cwd=tmp_path, env={},
                            log_path=tmp_path / "t.log")
    assert str(raised.value) == "trader: command not found: robostack-no-such-command-xyz"
    assert not (tmp_path / "t.log").exists()  # nothing was started


async def test_missing_relative_command_and_missing_cwd(tmp_path):
    with pytest.raises(ServiceFailed, match=r"^svc: command not found: \./nothing-here$"):
        await spawn_service("svc", ["./nothing-here"], cwd=tmp_path, env={}, log_path=tmp_path / "a.log")
    with pytest.raises(ServiceFailed, match="working directory not found"):
        await spawn_service("svc", ["true"], cwd=tmp_path / "absent", env={}, log_path=tmp_path / "b.log")


async def test_non_executable_file_and_bad_interpreter(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ServiceFailed, match=r"^svc: not an executable file: \./script\.sh$"):
        await spawn_service("svc", ["./script.sh"], cwd=tmp_path, env={}, log_path=tmp_path / "a.log")
    broken = tmp_path / "broken.py"
    broken.write_text("#!/no/such/interpreter\nprint('hi')\n")
    broken.chmod(0o755)
    with pytest.raises(ServiceFailed, match="bad interpreter /no/such/interpreter"):
        await spawn_service("svc", [str(broken)], cwd=tmp_path, env={}, log_path=tmp_path / "b.log")


async def test_command_is_found_on_the_services_path(spawned, tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    tool = tools / "robostack-test-tool"
    tool.write_text("#!/bin/sh\necho \"tool ran with $1\"\n")
    tool.chmod(0o755)
    log = tmp_path / "tool.log"
    process = await spawn(spawned, "tool", ["robostack-test-tool", "arg"], log, cwd=tmp_path,
                          env={"PATH": f"{tools}:{os.environ.get('PATH', '')}"})
    assert (await process.wait()).success
    assert "tool ran with arg" in log_lines(log)


async def test_spawner_stamps_the_header_with_its_clock(spawned, tmp_path):
    from datetime import datetime, timezone

    class FixedClock:
        def now(self) -> datetime:
            return datetime(2025, 10, 23, 18, 5, 0, tzinfo=timezone.utc)

    log = tmp_path / "clocked.log"
    process = await SubprocessSpawner(clock=FixedClock()).spawn_service(
        "clocked", ["true"], cwd=tmp_path, env={}, log_path=log)
    spawned.append(process)
    await process.wait()
    # The header's "at" is the spawner's clock; the line's stamp is the time the log writer received it.
    stamp, text = log.read_text().split(" ", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert text == f"--- robostack: starting clocked (pid {process.pid}) at 2025-10-23T18:05:00+00:00: true\n"


def test_exit_status_descriptions():
    assert ExitStatus.from_returncode(3).describe() == "exited with code 3"
    assert ExitStatus.from_returncode(0).success
    assert ExitStatus.from_returncode(-9).describe() == "killed by SIGKILL"
    assert ExitStatus.from_returncode(-15).returncode == -15
    assert not ExitStatus(signal=signal.SIGTERM).success


async def test_reading_the_returncode_while_someone_waits_for_the_exit_does_not_strand_the_wait(spawned, tmp_path):
    """Reading `returncode` reaps the child; the pidfd the waiter watches must stay open until it wakes."""
    import asyncio

    import psutil

    from tests.helpers import wait_until

    process = await spawn(spawned, "brief", [PYTHON, "-c", "pass"], tmp_path / "brief.log")
    waiter = asyncio.ensure_future(process.wait())
    for _ in range(5):  # a few turns of the loop: the waiter (a task in a task) starts watching the pidfd
        await asyncio.sleep(0)
    wait_until(lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE, what="the child to exit")
    assert process.returncode == 0  # reaps it, with the waiter still watching
    done, _ = await asyncio.wait([waiter], timeout=10)
    assert done and waiter.result().describe() == "exited with code 0"

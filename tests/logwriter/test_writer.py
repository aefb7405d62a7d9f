"""The log writer with real services: stamps, order, partial and long lines, signals, run token, stops."""

from __future__ import annotations

import os
import signal
import time

import psutil

from launcher.logwriter.format import parse_stamp
from launcher.logwriter.status import read_writer_status
from launcher.process.search import find_processes_carrying
from launcher.process.stop import stop_group
from tests.helpers import REPO, log_lines, wait_for_log_line, wait_until

WAIT_FOR_FILE = "import os, time\ndef wait_for(path):\n    while not os.path.exists(path): time.sleep(0.01)\n"


async def test_every_line_is_stamped_with_the_time_it_was_received_in_the_order_written(spawned, tmp_path):
    log = tmp_path / "svc" / "run.log"
    before = time.time()
    process = await spawned.start("svc", "import sys\nfor i in range(3): print('out', i, flush=True); "
                                  "print('err', i, file=sys.stderr, flush=True)", log)
    assert (await process.wait()).success
    after = time.time()
    raw = log.read_bytes().splitlines()
    stamps = [parse_stamp(line) for line in raw]
    assert all(stamp is not None and before - 0.001 <= stamp <= after + 0.001 for stamp in stamps)
    assert stamps == sorted(stamps)
    assert log_lines(log)[1:] == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]  # one pipe: order kept
    assert log_lines(log)[0].startswith(f"--- robostack: starting svc (pid {process.pid}) at ")
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert read_writer_status(tmp_path / "svc" / "run.status")["state"] == "stopped"


async def test_a_line_without_newline_is_written_when_the_service_goes_quiet_and_completed_later(spawned, tmp_path):
    log, go = tmp_path / "run.log", tmp_path / "go"
    code = WAIT_FOR_FILE + "import sys\nsys.stdout.write('ready'); sys.stdout.flush()\nwait_for(sys.argv[1])\nprint(' now')"
    process = await spawned.start("prompt", code, log, args=(str(go),))
    wait_for_log_line(log, r"^ready$")  # a prompt (or a log probe's "ready") shows up without its newline
    go.touch()
    assert (await process.wait()).success
    assert log_lines(log)[1:] == ["ready now"]  # completed in place, one line, one stamp
    assert len(log.read_bytes().splitlines()) == 2


async def test_a_huge_line_is_cut_into_stamped_lines_of_64_KiB(spawned, tmp_path):
    log = tmp_path / "run.log"
    process = await spawned.start("wide", "import sys\nsys.stdout.write('x' * 200_000 + '\\n')", log)
    assert (await process.wait()).success
    pieces = log_lines(log)[1:]
    assert [len(piece) for piece in pieces] == [65536, 65536, 65536, 200_000 - 3 * 65536]


async def test_the_writer_ignores_termination_signals_and_writes_the_last_lines(spawned, tmp_path):
    log, go = tmp_path / "run.log", tmp_path / "go"
    code = WAIT_FOR_FILE + "import sys\nprint('start', flush=True)\nwait_for(sys.argv[1])\nprint('the last line')"
    process = await spawned.start("svc", code, log, args=(str(go),))
    wait_for_log_line(log, "^start$")
    writer = process.writer
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.kill(writer.pid, number)
    assert psutil.Process(writer.pid).status() != psutil.STATUS_ZOMBIE
    assert writer.returncode is None
    go.touch()
    assert (await process.wait()).success
    assert writer.returncode == 0  # it ended by itself once the pipe ended, within wait()
    assert log_lines(log)[-1] == "the last line"


async def test_a_service_stopped_by_its_group_signal_still_gets_its_goodbye_written(spawned, tmp_path):
    log = tmp_path / "run.log"
    code = ("import signal, sys, time\n"
            "def bye(*_):\n    print('cleaning up', flush=True); print('bye', flush=True); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\nprint('up', flush=True)\nwhile True: time.sleep(1)")
    process = await spawned.start("svc", code, log)
    wait_for_log_line(log, "^up$")
    report = await stop_group(process.target, stop_signal=signal.SIGTERM, grace=10)
    assert report.resisted == ()
    await process.wait()
    assert log_lines(log)[-2:] == ["cleaning up", "bye"]
    assert process.writer.returncode == 0


async def test_the_writer_carries_the_run_token_and_none_of_the_services_secrets_or_names(spawned, tmp_path):
    log, go = tmp_path / "run.log", tmp_path / "go"
    token = f"test-token-{os.getpid()}-{time.monotonic_ns()}"
    code = WAIT_FOR_FILE + "import sys\nprint('up', flush=True)\nwait_for(sys.argv[1])"
    process = await spawned.start("svc", code, log, args=(str(go),),
                                  env={"ROBOSTACK_RUN": token, "TWS_PASSWORD": "hunter2-secret"})
    wait_for_log_line(log, "^up$")
    environment = psutil.Process(process.writer.pid).environ()
    assert environment["ROBOSTACK_RUN"] == token and environment["ROBOSTACK_LOG_WRITER"] == "svc"
    assert "TWS_PASSWORD" not in environment and "hunter2-secret" not in "".join(environment.values())
    # Its command line names neither the service nor its log: a service's `stale` patterns never match it.
    command_line = " ".join(psutil.Process(process.writer.pid).cmdline())
    assert "svc" not in command_line.replace(str(REPO), "") and str(log) not in command_line
    assert command_line.endswith(" robostack-log-writer")
    carrying = {identity.pid for identity in find_processes_carrying("ROBOSTACK_RUN", token)}
    assert {process.pid, process.writer.pid} <= carrying  # `down` finds it even without a supervisor
    go.touch()
    await process.wait()


async def test_a_writer_outlived_by_a_descendant_holding_the_pipe_does_not_hold_up_wait(spawned, tmp_path):
    log = tmp_path / "run.log"
    # The service exits at once; its child (same group) keeps the pipe open and writes later.
    code = ("import os, sys, time\n"
            "if os.fork() == 0:\n    time.sleep(3); print('child still writing', flush=True); os._exit(0)\n"
            "print('parent exits', flush=True)")
    process = await spawned.start("svc", code, log)
    started = time.monotonic()
    assert (await process.wait()).success
    assert time.monotonic() - started < 2.9  # gave the writer its drain deadline (2 s), not the child's 3 s
    assert process.writer.returncode is None
    wait_for_log_line(log, "^child still writing$")
    wait_until(lambda: process.writer.returncode is not None, what="the writer to end with the pipe")

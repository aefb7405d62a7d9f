"""A full disk (a real 1 MiB tmpfs): the service never blocks, lost lines are counted and reported."""

from __future__ import annotations

import re

from launcher.logwriter.status import describe_failure, read_writer_status
from tests.helpers import log_lines, wait_until

# Writes numbered lines until `stop` exists, then waits for `finish`, writes a last line and
# reports how many lines it wrote (outside the full disk).
SERVICE = """import os, sys, time
stop, finish, report = sys.argv[1:4]
count = 0
while not os.path.exists(stop):
    for _ in range(200):
        print(f'line {count:08d} ' + 'x' * 60)
        count += 1
    sys.stdout.flush()
    time.sleep(0.002)
while not os.path.exists(finish):
    time.sleep(0.01)
print('the last line', flush=True)
with open(report, 'w') as out:
    out.write(str(count + 1))
"""


async def test_a_full_disk_drops_and_counts_lines_without_blocking_the_service(spawned, small_disk, tmp_path):
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 200 * 1024)  # freed later: space comes back
    log = small_disk / "logs" / "svc" / "run.log"
    stop, finish, report = tmp_path / "stop", tmp_path / "finish", tmp_path / "written"
    process = await spawned.start("svc", SERVICE, log, args=(str(stop), str(finish), str(report)))
    status_file = small_disk / "logs" / "svc" / "run.status"

    failing = wait_until(lambda: (read_writer_status(status_file) or {}).get("state") == "failing"
                         and read_writer_status(status_file), what="the writer to report the full disk")
    assert failing["error"] == "No space left on device" and failing["errno"] == 28
    assert describe_failure(failing).startswith("cannot write its log: No space left on device (")
    # The service is not blocked: the writer keeps reading, and counts what it must drop.
    wait_until(lambda: (read_writer_status(status_file) or {}).get("dropping", 0) > 5000,
               what="the writer to keep reading (and dropping) while the disk is full")
    assert process.returncode is None

    stop.touch()
    filler.unlink()  # space comes back: the writer notices by itself, the service is quiet now
    wait_until(lambda: (read_writer_status(status_file) or {}).get("state") == "writing",
               what="the writer to write again once space is back")
    lines = log_lines(log)
    assert re.fullmatch(r"--- robostack: \d+ lines lost: No space left on device", lines[-1])
    finish.touch()
    assert (await process.wait()).success
    written = int(report.read_text())
    lines = log_lines(log)
    notices = [line for line in lines if "lines lost" in line]
    # Usually one notice; two when a retry's short notice fitted in the file's last page while the disk
    # was still full and the next block failed again: each notice counts the lines lost since the last.
    assert 1 <= len(notices) <= 3
    lost = sum(int(re.fullmatch(r"--- robostack: (\d+) lines lost: No space left on device", notice).group(1))
               for notice in notices)
    numbered = [line for line in lines if line.startswith("line ")]
    assert len(numbered) + 1 + lost == written  # every line is either in the file or counted as lost
    assert lines[-1] == "the last line" and lines[-2] == notices[-1]
    final = read_writer_status(status_file)
    assert final["state"] == "stopped" and final["lost"] == lost and final["dropping"] == 0

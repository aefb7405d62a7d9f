"""Rotation and retention with real services: no line lost across many rotations, bounded disk use."""

from __future__ import annotations

import asyncio
import os
import time

from launcher.logwriter import files
from launcher.logwriter.format import LAUNCHER_MARK, split_stamp
from launcher.logwriter.policy import RotationPolicy

NUMBERED = ("import sys\nprefix, count = sys.argv[1], int(sys.argv[2])\nwrite = sys.stdout.write\n"
            "for i in range(count): write(f'{prefix} {i:07d} the quick brown fox jumps over the lazy dog\\n')\n")


def service_lines(current) -> list[tuple[float, bytes]]:
    """(stamp, text) of every line of a run, all its parts then the current file, launcher notes left out."""
    lines = []
    for path in files.run_files(str(current)):
        with open(path, "rb") as handle:
            for raw in handle.read().splitlines():
                when, text = split_stamp(raw)
                assert when is not None, raw
                if not text.startswith(LAUNCHER_MARK):
                    lines.append((when, text))
    return lines


async def test_many_rotations_lose_no_line_and_keep_the_order(spawned, tmp_path):
    log = tmp_path / "svc" / "run1.log"
    count = 150_000  # about 11 MB with stamps: 21 rotations at 512 KiB
    process = await spawned.start("svc", NUMBERED, log, policy=RotationPolicy(max_size=512 * 1024, keep=1000),
                                  args=("n", str(count)))
    assert (await process.wait()).success
    parts = files.run_parts(str(log))
    assert len(parts) >= 21
    assert all(512 * 1024 - 100 <= os.path.getsize(path) <= 512 * 1024 for _, path in parts)  # whole lines, full
    lines = service_lines(log)
    assert [int(text.split()[1]) for _, text in lines] == list(range(count))
    stamps = [when for when, _ in lines]
    assert stamps == sorted(stamps)
    # Each new file says where it continues from, for a person reading it with tail/less.
    with open(log, "rb") as handle:
        first = split_stamp(handle.readline().rstrip(b"\n"))[1]
    assert first == b"--- robostack: svc log continued from " + os.path.basename(parts[-1][1]).encode()


async def test_two_writers_on_one_file_rotate_without_losing_or_doubling_lines(spawned, tmp_path):
    # A restarted service while a child of the previous start still writes: two writers, one file.
    log = tmp_path / "svc" / "run1.log"
    policy = RotationPolicy(max_size=256 * 1024, keep=1000)
    first, second = await asyncio.gather(
        spawned.start("svc", NUMBERED, log, policy=policy, args=("a", "60000")),
        spawned.start("svc", NUMBERED, log, policy=policy, args=("b", "60000")))
    assert (await first.wait()).success and (await second.wait()).success
    lines = service_lines(log)
    for prefix in (b"a", b"b"):
        numbers = [int(text.split()[1]) for _, text in lines if text.startswith(prefix + b" ")]
        assert numbers == list(range(60000)), prefix
    assert len(files.run_parts(str(log))) >= 10


async def test_retention_keeps_the_newest_closed_files_of_every_run(spawned, tmp_path):
    folder = tmp_path / "svc"
    folder.mkdir()
    now = time.time()
    for age, name in ((500, "run1.log"), (400, "run2.1.log"), (300, "run2.log"), (200, "run3.log")):
        (folder / name).write_text("old line\n")
        os.utime(folder / name, (now - age, now - age))
    (folder / "run1.status").write_text("{}")
    (folder / "notes.txt").write_text("not a log: never touched\n")
    log = folder / "run4.log"
    process = await spawned.start("svc", NUMBERED, log, policy=RotationPolicy(max_size=64 * 1024, keep=3),
                                  args=("n", "400"))  # about 30 KB: no rotation yet
    assert (await process.wait()).success
    # Retention runs when the writer starts: the oldest closed file goes, and its run's status with it.
    assert sorted(os.listdir(folder)) == ["notes.txt", "run2.1.log", "run2.log", "run3.log", "run4.log", "run4.status"]

    process = await spawned.start("svc", NUMBERED, log, policy=RotationPolicy(max_size=64 * 1024, keep=3),
                                  args=("m", "6000"))  # about 450 KB: several rotations
    assert (await process.wait()).success
    names = sorted(os.listdir(folder))
    closed = [name for name in names if name.endswith(".log") and name != "run4.log"]
    assert len(closed) == 3 and all(name.startswith("run4.") for name in closed)  # earlier runs went first
    assert "notes.txt" in names and "run4.status" in names

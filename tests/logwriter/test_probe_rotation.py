"""The log probe on stamped, rotated logs: rotations under a scan, after a match, before the first look."""

from __future__ import annotations

import os

import pytest

from launcher.logwriter.format import format_stamp
from launcher.probes.base import ProbeContext
from launcher.probes.log import CURSORS, CursorCache, probe_log
from launcher.stack.model import LogCheck

READY = LogCheck(pattern=r"^listening on \S+:4002$")
STAMP = format_stamp(1_761_242_700.0).decode()


@pytest.fixture(autouse=True)
def fresh_cursors(monkeypatch):
    monkeypatch.setattr("launcher.probes.log.CURSORS", CursorCache())


def append(path, *lines: str) -> None:
    with open(path, "a") as handle:
        handle.writelines(STAMP + line + "\n" for line in lines)


def rotate(current, number: int) -> None:
    """What the log writer does: rename the current file to the next part, start a new one."""
    current.rename(current.with_name(f"run.{number}.log"))
    append(current, f"--- robostack: svc log continued from run.{number}.log")


async def probe(context):
    return await probe_log(READY, 2.0, context)


async def test_an_anchored_pattern_matches_the_text_behind_the_stamp(tmp_path):
    log = tmp_path / "run.log"
    append(log, "--- robostack: starting svc (pid 1) at x: svc --print 'listening on x:4002'", "booting")
    context = ProbeContext(service_name="svc", log_path=log)
    assert not (await probe(context)).ok
    append(log, "listening on 127.0.0.1:4002")
    result = await probe(context)
    assert result.ok and result.detail.endswith(": listening on 127.0.0.1:4002")  # shown without the stamp


async def test_a_rotation_under_a_scan_finishes_the_renamed_file(tmp_path):
    log = tmp_path / "run.log"
    append(log, "old start")
    offset = log.stat().st_size
    append(log, "--- robostack: starting svc (pid 2) at x: svc", "booting")
    context = ProbeContext(service_name="svc", log_path=log, log_start_offset=offset)
    assert not (await probe(context)).ok
    append(log, "listening on 127.0.0.1:4002")  # lands in the file that is renamed before the next look
    rotate(log, 1)
    append(log, "tick")
    assert (await probe(context)).ok


async def test_a_match_survives_rotations_and_retention_of_its_part(tmp_path):
    log = tmp_path / "run.log"
    append(log, "listening on 127.0.0.1:4002")
    context = ProbeContext(service_name="svc", log_path=log)
    assert (await probe(context)).ok
    rotate(log, 1)
    assert (await probe(context)).ok
    for number in (2, 3):
        rotate(log, number)
        assert (await probe(context)).ok
        os.unlink(log.with_name(f"run.{number - 1}.log"))  # retention removed the older part
    assert (await probe(context)).ok


async def test_a_rewritten_log_does_not_keep_the_match(tmp_path):
    log = tmp_path / "run.log"
    append(log, "listening on 127.0.0.1:4002")
    context = ProbeContext(service_name="svc", log_path=log)
    assert (await probe(context)).ok
    log.unlink()  # not a rotation: the file is gone, not renamed
    append(log, "a new file at the same path")
    assert not (await probe(context)).ok


async def test_rotated_before_the_first_look_the_start_is_found_in_the_newest_part(tmp_path):
    log = tmp_path / "run.log"
    append(log, "earlier start: listening on 127.0.0.1:4002 (ignored: before the offset)", "filler " * 50)
    offset = log.stat().st_size
    append(log, "--- robostack: starting svc (pid 3) at x: svc", "listening on 127.0.0.1:4002")
    rotate(log, 1)  # the current file is now smaller than the start offset
    context = ProbeContext(service_name="svc", log_path=log, log_start_offset=offset)
    assert log.stat().st_size < offset
    assert (await probe(context)).ok

"""The log format, file names, retention choices and the status record, on values and small files."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest

from launcher.logwriter import files
from launcher.logwriter.format import (PREFIX_LENGTH, Stamper, format_stamp, parse_stamp, split_stamp, stamp_lines,
                                       strip_stamps)
from launcher.logwriter.policy import RotationPolicy, rotation_policy
from launcher.logwriter.status import RECORD_SIZE, describe_failure, encode_record, read_writer_status
from launcher.stack.model import LogSettings
from launcher.stack.sizes import format_size, parse_size


def test_the_stamp_is_fixed_width_utc_with_milliseconds_and_round_trips():
    moment = datetime(2025, 10, 23, 18, 5, 7, 123000, tzinfo=timezone.utc).timestamp()
    assert format_stamp(moment) == b"2025-10-23T18:05:07.123Z "
    assert len(format_stamp(moment)) == PREFIX_LENGTH
    assert parse_stamp(b"2025-10-23T18:05:07.123Z hello") == pytest.approx(moment)
    stamper = Stamper()
    for offset in (0.0, 0.999, 1.0005, 86399.5):
        assert stamper(moment + offset) == format_stamp(moment + offset)
    leap_day = datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone.utc).timestamp()
    assert parse_stamp(format_stamp(leap_day) + b"x") == leap_day


def test_lines_without_a_stamp_are_read_whole():
    for line in (b"", b"plain text", b"2025-10-23 18:05:07 not ours", b"2025-13-23T18:05:07.123Z bad month",
                 b"2025-10-23T18:05:07.123Zno space"):
        assert parse_stamp(line) is None
        assert split_stamp(line) == (None, line)
    block = stamp_lines(b"a\nb\n", b"2025-10-23T18:05:07.123Z ") + b"unstamped\n"
    assert block == b"2025-10-23T18:05:07.123Z a\n2025-10-23T18:05:07.123Z b\nunstamped\n"
    assert strip_stamps(block) == b"a\nb\nunstamped\n"


def test_names_of_current_files_parts_and_status_records():
    assert files.split_name("20251023-180500-42.log") == ("20251023-180500-42", 0)
    assert files.split_name("20251023-180500-42.17.log") == ("20251023-180500-42", 17)
    assert files.split_name("trader.log") == ("trader", 0)
    for other in ("run.status", ".trader.log.123", "notes.txt", ".log"):
        assert files.split_name(other) is None
    assert files.part_path("/s/logs/t/run1.log", 3) == "/s/logs/t/run1.3.log"
    assert files.status_path("/s/logs/t/run1.log") == "/s/logs/t/run1.status"


def test_retention_choice_keeps_the_newest_closed_files_and_never_the_current_one(tmp_path):
    now = time.time()
    layout = {"a.log": 600, "a.1.log": 700, "b.1.log": 500, "b.2.log": 400, "b.log": 300, "c.log": 0}
    for name, age in layout.items():
        (tmp_path / name).write_text("x\n")
        os.utime(tmp_path / name, (now - age, now - age))
    (tmp_path / "a.status").write_text("{}")
    (tmp_path / "c.status").write_text("{}")
    current = str(tmp_path / "c.log")
    chosen = {os.path.basename(path) for path in files.files_to_prune(str(tmp_path), 2, {current})}
    assert chosen == {"a.1.log", "a.log", "b.1.log", "a.status"}
    assert files.files_to_prune(str(tmp_path), 100, {current}) == []
    assert [os.path.basename(p) for p in files.log_files(str(tmp_path))] == [
        "a.1.log", "a.log", "b.1.log", "b.2.log", "b.log", "c.log"]


def test_sizes_and_the_effective_policy():
    assert parse_size("10MB") == 10 * 1024 * 1024 and parse_size("512k") == 512 * 1024 and parse_size(4096) == 4096
    assert parse_size("1.5GiB") == int(1.5 * 1024 ** 3)
    for bad in ("ten", "10 parsecs", True, 100, "-1MB"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_size(10 * 1024 * 1024) == "10MB" and format_size(1500) == "1500"
    assert rotation_policy(LogSettings(), LogSettings()) == RotationPolicy()
    assert rotation_policy(LogSettings(keep=3), LogSettings(max_size=2048, keep=7)) == RotationPolicy(2048, 3)


def test_the_status_record_is_fixed_size_and_survives_a_torn_read(tmp_path):
    record = {"pid": 1, "state": "failing", "error": "No space left on device", "errno": 28, "dropping": 1234,
              "lost": 1234, "file": "/x" * 400}
    data = encode_record(record)
    assert len(data) == RECORD_SIZE
    path = tmp_path / "run.status"
    path.write_bytes(data)
    read = read_writer_status(path)
    assert read["state"] == "failing" and read["file"] is None  # a long path is dropped, never the JSON
    assert describe_failure(read) == "cannot write its log: No space left on device (1,234 lines dropped so far)"
    assert describe_failure({"state": "writing"}) is None and describe_failure(None) is None
    path.write_bytes(data[:100])  # caught mid-rewrite
    assert read_writer_status(path) is None
    assert read_writer_status(tmp_path / "absent.status") is None

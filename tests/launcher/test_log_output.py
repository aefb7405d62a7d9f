"""Tailing, merging, printing and following service logs (`robostack logs`), on real files.

Rewritten for the log writer's stamped format (issue 14): lines are merged by the time
they were received, the stamp is shown only with -t, and following crosses rotations.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from launcher.logwriter import reader
from launcher.logwriter.format import format_stamp
from launcher.output.logs import LogPrinter, colour_wanted, entries, last_lines, merge, parse_moment
from launcher.state.paths import StatePaths, point_current_log

T0 = 1_761_242_700.0  # 2025-10-23T18:05:00Z


def stamped(when: float, text: str) -> str:
    return format_stamp(when).decode() + text + "\n"


def test_last_lines_of_a_big_file(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(200_000)))
    assert last_lines(path, 3) == ["line 199997", "line 199998", "line 199999"]
    assert last_lines(path, 0) == []
    assert last_lines(tmp_path / "missing.log", 5) == []


def test_last_lines_of_a_file_without_final_newline(tmp_path):
    path = tmp_path / "x.log"
    path.write_text("a\nb\nc")
    assert last_lines(path, 2) == ["b", "c"]
    assert last_lines(path, 10) == ["a", "b", "c"]


def test_services_are_merged_by_the_time_each_line_was_received():
    gateway = [stamped(T0 + 0.0, "g1"), stamped(T0 + 2.0, "g2"), "unstamped after g2\n", stamped(T0 + 4.0, "g3")]
    trader = [stamped(T0 + 1.0, "t1"), stamped(T0 + 2.0, "t2"), stamped(T0 + 3.0, "t3")]
    streams = [entries("gateway", (line.rstrip("\n").encode() for line in gateway)),
               entries("trader", (line.rstrip("\n").encode() for line in trader))]
    merged = [(entry.service, entry.text.decode()) for entry in merge(streams)]
    assert merged == [("gateway", "g1"), ("trader", "t1"), ("gateway", "g2"), ("gateway", "unstamped after g2"),
                      ("trader", "t2"), ("trader", "t3"), ("gateway", "g3")]


def test_printer_prefix_stamp_and_colour_choices():
    lines = [stamped(T0 + 0.25, "tick AAPL"), "--- robostack: trader log continued from r.1.log\n"]
    entry, note = [next(entries("trader", [line.rstrip("\n").encode()])) for line in lines]
    plain = io.StringIO()
    printer = LogPrinter(plain, ["gateway", "trader"])
    printer.write(entry)
    printer.write(note)  # rotation notes are not shown
    assert plain.getvalue() == "trader  | tick AAPL\n"

    stamped_out = io.StringIO()
    LogPrinter(stamped_out, ["trader"], timestamps=True, prefix=False).write(entry)
    assert stamped_out.getvalue() == "2025-10-23T18:05:00.250Z tick AAPL\n"

    coloured = io.StringIO()
    LogPrinter(coloured, ["gateway", "trader"], colour=True).write(entry)
    assert coloured.getvalue() == "\x1b[33mtrader  | \x1b[0mtick AAPL\n"


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert colour_wanted(Terminal(), False, {})
    assert not colour_wanted(Terminal(), True, {})
    assert not colour_wanted(Terminal(), False, {"NO_COLOR": "1"})
    assert colour_wanted(Terminal(), False, {"NO_COLOR": ""})  # no-color.org: set and not empty
    assert not colour_wanted(io.StringIO(), False, {})


def test_since_and_until_take_durations_and_times():
    now = datetime(2025, 10, 23, 18, 5, 0, tzinfo=timezone.utc)
    assert parse_moment("10m", now) == T0 - 600
    assert parse_moment("1d", now) == T0 - 86400
    assert parse_moment("250ms", now) == T0 - 0.25
    assert parse_moment("2025-10-23T18:04:00Z", now) == T0 - 60
    assert parse_moment("2025-10-23T20:04:00+02:00", now) == T0 - 60
    local = datetime(2025, 10, 23, 9, 30).astimezone().timestamp()
    assert parse_moment("2025-10-23 09:30", now) == local
    for bad in ("yesterday", "10 minutes", "-5m", "25:00"):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_moment(bad, now)


def test_range_and_tail_read_only_the_lines_asked_for(tmp_path):
    folder = tmp_path / "svc"
    folder.mkdir()
    # Two runs, the second one rotated once: 3 files, 3,000 lines, one every second.
    (folder / "run1.log").write_text("".join(stamped(T0 + i, f"line {i}") for i in range(1000)))
    (folder / "run2.1.log").write_text("".join(stamped(T0 + i, f"line {i}") for i in range(1000, 2000)))
    (folder / "run2.log").write_text("".join(stamped(T0 + i, f"line {i}") for i in range(2000, 3000)))
    import os

    for age, name in ((30, "run1.log"), (20, "run2.1.log"), (10, "run2.log")):
        os.utime(folder / name, (T0 - age, T0 - age))  # file order follows when each was last written

    def texts(lines):
        return [line[25:].decode() for line in lines]

    everything = reader.segments(folder)
    assert texts(reader.tail(everything, 3)) == ["line 2997", "line 2998", "line 2999"]
    window = reader.segments(folder, since=T0 + 998, until=T0 + 1001)
    assert [segment.path.rsplit("/", 1)[1] for segment in window] == ["run1.log", "run2.1.log"]
    assert texts(reader.forward(window)) == ["line 998", "line 999", "line 1000", "line 1001"]
    assert texts(reader.tail(reader.segments(folder, until=T0 + 1500), 2)) == ["line 1499", "line 1500"]
    assert list(reader.forward(reader.segments(folder, since=T0 + 5000))) == []


def test_following_moves_with_the_link_and_across_a_rotation(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    first = paths.run_log("trader", "run1")
    first.parent.mkdir(parents=True)
    first.write_text("old\n")
    point_current_log(paths, "trader", first)
    follower = reader.Follower(paths.current_log("trader"))
    follower.start_at_end()
    assert follower.read_new() == []
    with open(first, "a") as handle:
        handle.write("new 1\npart")
    assert follower.read_new() == [b"new 1"]
    with open(first, "a") as handle:
        handle.write("ial\nlast before rotation\n")
    # Two rotations between looks: the follower finishes the renamed file and the part it never saw.
    first.rename(first.with_name("run1.1.log"))
    first.write_text("in part 2\n")
    first.rename(first.with_name("run1.2.log"))
    first.write_text("in the new current file\n")
    assert follower.read_new() == [b"partial", b"last before rotation", b"in part 2", b"in the new current file"]
    second = paths.run_log("trader", "run2")
    second.write_text("run2 first\n")
    with open(first, "a") as handle:
        handle.write("last of run1\n")
    point_current_log(paths, "trader", second)
    assert follower.read_new() == [b"last of run1", b"run2 first"]
    follower.close()

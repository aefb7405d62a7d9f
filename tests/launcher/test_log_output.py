"""Tailing and following service logs (`robostack logs`)."""

from __future__ import annotations

import io

from launcher.output.logs import last_lines, make_printer, read_new_lines, start_cursor
from launcher.state.paths import StatePaths, point_current_log


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


def test_following_sees_only_new_complete_lines_and_moves_with_the_link(tmp_path):
    paths = StatePaths(tmp_path).ensure()
    first = paths.run_log("trader", "run1")
    first.parent.mkdir(parents=True)
    first.write_text("old\n")
    point_current_log(paths, "trader", first)
    cursor = start_cursor(paths.current_log("trader"))
    assert read_new_lines(cursor) == []
    with open(first, "a") as handle:
        handle.write("new 1\npart")
    assert read_new_lines(cursor) == ["new 1"]
    with open(first, "a") as handle:
        handle.write("ial\n")
    assert read_new_lines(cursor) == ["partial"]
    second = paths.run_log("trader", "run2")
    second.write_text("run2 first\n")
    with open(first, "a") as handle:
        handle.write("last of run1\n")
    point_current_log(paths, "trader", second)
    assert read_new_lines(cursor) == ["last of run1", "run2 first"]


def test_printer_prefixes_each_service():
    output = io.StringIO()
    printer = make_printer(output, ["gateway", "trader"], colour=False)
    printer.line("trader", "tick AAPL")
    printer.line("gateway", "client 10 connected")
    lines = output.getvalue().splitlines()
    assert lines[0].endswith("trader  | tick AAPL")
    assert lines[1].endswith("gateway | client 10 connected")

"""Timeline pages by byte cursor, over a real events.jsonl written by the real EventLog."""

from __future__ import annotations

from datetime import datetime, timezone

from launcher.state.events import Event, EventLog
from launcher.web.events_view import read_timeline


def write_events(path, count, start=0):
    log = EventLog(path)
    for index in range(start, start + count):
        log.append(Event(datetime(2026, 1, 1, tzinfo=timezone.utc), "svc", "healthy", f"number {index}", {"n": index}))
    log.close()


def numbers(page):
    return [entry.event["n"] for entry in page.entries]


def test_without_a_cursor_the_last_events_come_oldest_first(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, 500)
    page = read_timeline(path, None, 3)
    assert numbers(page) == [497, 498, 499]
    assert page.next_cursor == path.stat().st_size
    assert page.entries[-1].cursor == path.stat().st_size


def test_a_cursor_resumes_exactly_after_the_last_event_seen(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, 10)
    first = read_timeline(path, 0, 4)
    assert numbers(first) == [0, 1, 2, 3] and first.more
    second = read_timeline(path, first.next_cursor, 100)
    assert numbers(second) == list(range(4, 10)) and not second.more
    write_events(path, 2, start=10)
    assert numbers(read_timeline(path, second.next_cursor, 100)) == [10, 11]


def test_a_half_written_last_line_waits_and_a_damaged_line_is_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, 2)
    with open(path, "ab") as handle:
        handle.write(b"not json\n")
    write_events(path, 1, start=2)
    end = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b'{"time": "2026-01-01T00:00:00+00:00", "serv')
    page = read_timeline(path, 0, 100)
    assert numbers(page) == [0, 1, 2]
    assert page.next_cursor == end
    assert numbers(read_timeline(path, None, 100)) == [0, 1, 2]


def test_a_missing_file_and_a_cursor_past_the_end(tmp_path):
    path = tmp_path / "events.jsonl"
    assert read_timeline(path, None, 5).entries == []
    assert read_timeline(path, 7, 5).next_cursor == 7
    write_events(path, 2)
    assert numbers(read_timeline(path, 10**9, 5)) == [0, 1]  # the file was replaced: from the start


def test_a_long_timeline_costs_only_its_tail(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, 20000)
    page = read_timeline(path, None, 2)
    assert numbers(page) == [19998, 19999]

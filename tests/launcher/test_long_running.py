"""State that runs for months: the timeline and supervisor.log rotated by size, and readers that read only what they
show (the last N backwards, a time range by bisection, following across a rotation)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import yaml

from launcher.state.events import (Event, EventLog, all_events, events_since, last_events, parse_event_lines,
                                   timeline_follower)
from launcher.state.rotation import RotatingFile, all_files, parts
from tests.helpers import wait_until
from tests.launcher.conftest import service_command

START = datetime(2025, 10, 23, 16, 0, tzinfo=timezone(timedelta(hours=-7)))


def event(number: int) -> Event:
    return Event(START + timedelta(seconds=number), "trader", "restarted", f"restart number {number}", {"n": number})


def timeline(tmp_path, count: int, *, max_size: int, keep: int):
    """events.jsonl with `count` events written through a rotating EventLog."""
    path = tmp_path / "events.jsonl"
    log = EventLog(path, max_size=max_size, keep=keep)
    for number in range(count):
        log.append(event(number))
    log.close()
    return path


def test_the_timeline_rotates_between_whole_lines_and_keeps_only_the_newest_parts(tmp_path):
    path = timeline(tmp_path, 200, max_size=4000, keep=3)
    kept = all_files(path)
    assert [file.name for file in kept[:-1]] == [part.name for part in parts(path)] and len(kept) == 4
    assert kept[-1] == path and all(os.path.getsize(file) <= 4000 for file in kept)
    numbers = [e.data["n"] for e in all_events(path)]
    assert numbers == list(range(numbers[0], 200)) and numbers[0] > 0  # in order, nothing split, oldest dropped
    for file in kept:  # every line of every part is a whole event
        assert all(json.loads(line)["event"] == "restarted" for line in file.read_text().splitlines())
    assert [e.data["n"] for e in last_events(path, 25)] == list(range(175, 200))  # across parts, backwards
    assert [e.data["n"] for e in last_events(path, 1000)] == numbers
    assert last_events(path, 0) == []


def test_since_finds_the_first_event_by_bisection_across_parts(tmp_path):
    path = timeline(tmp_path, 1000, max_size=20_000, keep=100)
    assert len(parts(path)) > 5
    for first in (0, 1, 377, 998, 999):
        since = (START + timedelta(seconds=first)).timestamp()
        assert [e.data["n"] for e in events_since(path, since)] == list(range(first, 1000))
    assert list(events_since(path, (START + timedelta(days=1)).timestamp())) == []
    assert [e.data["n"] for e in events_since(path, (START + timedelta(seconds=499.5)).timestamp())][0] == 500


def test_a_damaged_line_is_skipped_by_every_reader(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append(event(1))
    log.close()
    with open(path, "a") as handle:
        handle.write('{"time": "garbage"\n[]\n')
    log = EventLog(path)
    log.append(event(2))
    log.close()
    assert [e.data["n"] for e in all_events(path)] == [1, 2]
    assert [e.data["n"] for e in last_events(path, 5)] == [1, 2]
    assert [e.data["n"] for e in events_since(path, START.timestamp())] == [1, 2]


def test_following_the_timeline_loses_nothing_across_a_rotation(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path, max_size=3000, keep=10)
    log.append(event(0))
    follower = timeline_follower(path)  # from the end: event 0 is the past
    seen = []
    for number in range(1, 120):
        log.append(event(number))
        if number % 7 == 0:
            seen += parse_event_lines(follower.read_new())
    seen += parse_event_lines(follower.read_new())
    follower.close()
    log.close()
    assert len(parts(path)) > 3
    assert [e.data["n"] for e in seen] == list(range(1, 120))


def test_a_rotating_file_moves_the_descriptors_that_follow_it(tmp_path):
    path = tmp_path / "supervisor.log"
    spare = os.open(os.devnull, os.O_WRONLY)
    try:
        log = RotatingFile(path, max_size=100, keep=2, also=(spare,))
        for number in range(10):
            log.write(f"line {number:02d} {'x' * 30}\n".encode())
        os.write(spare, b"a stray traceback line\n")  # like a detached supervisor's stderr
        log.close()
        assert [file.name for file in all_files(path)] == ["supervisor.3.log", "supervisor.4.log", "supervisor.log"]
        assert path.read_text().splitlines()[-1] == "a stray traceback line"
    finally:
        os.close(spare)


def test_supervisor_log_and_the_timeline_follow_the_stacks_logs_settings(robostack):
    stack = robostack(yaml.safe_dump({"logs": {"max_size": "4KB", "keep": 2}, "services": {
        "a": {"command": service_command("--name", "a", "--print-ready", "--exit-after", "0.05"), "restart": "always",
              "backoff": {"initial": "10ms", "max": "10ms"}, "max_restarts": "1000 within 1m"}}}))
    assert stack.run("up", "-d").returncode == 0  # no health probe: `a` is up once started, then crashes in a loop
    stack.wait_for_event("a", "restarted")
    events = stack.state_dir / "events.jsonl"
    log = stack.state_dir / "supervisor.log"

    def rotated() -> bool:
        return len(parts(events)) == 2 and len(parts(log)) == 2

    wait_until(rotated, what="the timeline and supervisor.log to rotate twice each (keep: 2)", timeout=120)
    assert stack.run("down").returncode == 0
    assert all(os.path.getsize(file) <= 4096 for file in all_files(events) + all_files(log))
    assert len(parts(events)) == 2 and len(parts(log)) == 2  # never more than `keep` old parts
    tail = [json.loads(line) for line in stack.run("events", "-n", "3", "--json").stdout.splitlines()]
    assert [e["event"] for e in tail][-1] == "supervisor-stopped"

"""Pages of the event timeline (events.jsonl) by byte cursor, for `/api/events` and the stream.

A cursor is the byte offset just after an event's line: opaque to clients, stable
(the file is only ever appended to), and cheap to resume from. Without a cursor, the
last `limit` events are read backwards from the end, so a timeline of weeks costs
no more than its tail. Damaged lines are skipped, as `robostack events` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from launcher.state.events import Event
from launcher.web.provider import TimelineEntry, TimelinePage

_BLOCK = 64 * 1024
MAX_PAGE_BYTES = 4 * 1024 * 1024  # one page never reads more than this


def read_timeline(path: Path, since: int | None, limit: int) -> TimelinePage:
    """Events after `since` (oldest first, at most `limit`), or the last `limit` events if `since` is None."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if since is not None and since > size:
                since = 0  # the file was replaced (state directory removed): start again
            if since is None:
                return _last(handle, size, limit)
            return _after(handle, since, limit)
    except FileNotFoundError:
        return TimelinePage([], since or 0)


def _after(handle, since: int, limit: int) -> TimelinePage:
    handle.seek(since)
    chunk = handle.read(MAX_PAGE_BYTES)
    complete = chunk[: chunk.rfind(b"\n") + 1]
    entries, offset = [], since
    for line in complete.splitlines(keepends=True):
        offset += len(line)
        event = _parse(line)
        if event is None:
            continue
        if len(entries) == limit:
            return TimelinePage(entries, entries[-1].cursor, more=True)
        entries.append(TimelineEntry(offset, event))
    more = len(complete) == MAX_PAGE_BYTES
    return TimelinePage(entries, offset, more=more)


def _last(handle, size: int, limit: int) -> TimelinePage:
    """Read backwards in growing blocks until `limit` complete lines (or the start) are in hand."""
    start, data = size, b""
    while start > 0 and data.count(b"\n") <= limit and size - start < MAX_PAGE_BYTES:
        step = min(_BLOCK, start)
        start -= step
        handle.seek(start)
        data = handle.read(step) + data
    end = data.rfind(b"\n") + 1
    data = data[:end]
    if start > 0:  # the first line may be cut: drop it
        cut = data.find(b"\n") + 1
        start, data = start + cut, data[cut:]
    entries, offset = [], start
    for line in data.splitlines(keepends=True):
        offset += len(line)
        event = _parse(line)
        if event is not None:
            entries.append(TimelineEntry(offset, event))
    return TimelinePage(entries[-limit:] if limit else [], start + len(data), more=False)


def _parse(line: bytes) -> dict | None:
    try:
        return Event.from_json(json.loads(line)).to_json()
    except (ValueError, KeyError, TypeError):
        return None

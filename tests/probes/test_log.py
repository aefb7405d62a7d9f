"""log probe: a real log file being appended, only this start's bytes, read incrementally."""

from __future__ import annotations

from launcher.probes.base import ProbeContext
from launcher.probes.log import CURSORS, CursorCache, LogCursor, scan_log
from launcher.probes.registry import PROBES
from launcher.stack.model import LogCheck

READY = LogCheck(pattern=r"listening on 127\.0\.0\.1:\d+")


def _append(path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(text)


async def test_matches_a_line_appended_after_the_first_look(context, tmp_path):
    log = tmp_path / "gateway.log"
    _append(log, "starting gateway\nloading settings\n")
    context.log_path = log
    result = await PROBES["log"](READY, 2.0, context)
    assert not result.ok
    assert result.detail == rf"no line matching /{READY.pattern}/ yet in {log} (34 bytes since this start)"
    _append(log, "2025-10-23 18:05 listening on 127.0.0.1:4002\n")
    result = await PROBES["log"](READY, 2.0, context)
    assert result.ok, result.detail
    assert result.detail == rf"log line matched /{READY.pattern}/: 2025-10-23 18:05 listening on 127.0.0.1:4002"


async def test_lines_from_an_earlier_start_do_not_count(context, tmp_path):
    log = tmp_path / "gateway.log"
    _append(log, "listening on 127.0.0.1:4002\nshutting down\n")
    context.log_path, context.log_start_offset = log, log.stat().st_size
    _append(log, "starting again\n")
    result = await PROBES["log"](READY, 2.0, context)
    assert not result.ok
    assert result.facts["bytes_scanned"] == len("starting again\n")


async def test_each_call_reads_only_new_bytes(tmp_path):
    log = tmp_path / "trader.log"
    _append(log, "tick\n" * 1000)
    # A fresh context per call, as the supervisor makes them: the cursor is remembered anyway.
    await PROBES["log"](READY, 2.0, ProbeContext("trader", log_path=log))
    first = CURSORS.get(log, 0, READY.pattern)
    assert first.position == 5000 and first.file_identity is not None
    _append(log, "tick\n" * 10)
    await PROBES["log"](READY, 2.0, ProbeContext("trader", log_path=log))
    assert CURSORS.get(log, 0, READY.pattern).position == 5050


def test_cursor_cache_is_bounded(tmp_path):
    cache = CursorCache(size=2)
    for offset in range(3):
        cache.put(LogCursor(tmp_path / "a.log", offset, "x", position=offset + 10))
    assert cache.get(tmp_path / "a.log", 0, "x").position == 0  # evicted: a fresh cursor at the start offset
    assert cache.get(tmp_path / "a.log", 2, "x").position == 12


async def test_a_last_line_without_its_newline_already_counts(context, tmp_path):
    log = tmp_path / "gateway.log"
    _append(log, "boot\nlistening on 127.0.0.1:4002")
    context.log_path = log
    result = await PROBES["log"](READY, 2.0, context)
    assert result.ok, result.detail


async def test_a_replaced_or_truncated_log_is_read_again(context, tmp_path):
    log = tmp_path / "gateway.log"
    _append(log, "old run line\n" * 100)
    context.log_path = log
    assert not (await PROBES["log"](READY, 2.0, context)).ok
    log.write_text("listening on 127.0.0.1:4002\n")  # shorter than where the cursor stopped
    assert (await PROBES["log"](READY, 2.0, context)).ok
    log.unlink()
    log.write_text("a new file at the same path\n")  # a match in the old file no longer counts
    assert not (await PROBES["log"](READY, 2.0, context)).ok


async def test_a_big_log_with_the_line_at_the_end(context, tmp_path):
    log = tmp_path / "chatty.log"
    tick = "tick AAPL 187.23 bid 187.22 ask 187.24 size 300\n"
    with open(log, "w", encoding="utf-8") as out:
        out.write(tick * 400_000)  # about 20 MB
        out.write("listening on 127.0.0.1:4002\r\n")
    context.log_path = log
    result = await PROBES["log"](READY, 20.0, context)
    assert result.ok, result.detail
    assert result.facts["bytes_scanned"] == log.stat().st_size
    cursor = CURSORS.get(log, 0, READY.pattern)
    assert cursor.matched_offset == len(tick) * 400_000 and cursor.matched_line == "listening on 127.0.0.1:4002"


async def test_missing_log_and_no_log(context, tmp_path):
    context.log_path = tmp_path / "never.log"
    result = await PROBES["log"](READY, 2.0, context)
    assert not result.ok and result.detail == f"log file {tmp_path / 'never.log'} does not exist yet"
    context.log_path = None
    result = await PROBES["log"](READY, 2.0, context)
    assert not result.ok and result.detail == "no log file known for svc"


def test_scan_stops_at_the_deadline_and_resumes(tmp_path):
    log = tmp_path / "big.log"
    log.write_text("noise\n" * 1000 + "ready\n")
    cursor = LogCursor(log, 0, "ready")
    stopped = scan_log(cursor, deadline=0.0)  # already past: reads nothing
    assert stopped.position == 0 and stopped.matched_line is None
    finished = scan_log(stopped, deadline=float("inf"))
    assert finished.matched_line == "ready"


def test_anchored_patterns_match_per_line(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("x ready\nready\n")
    assert scan_log(LogCursor(log, 0, r"^ready$"), float("inf")).matched_line == "ready"
    assert scan_log(LogCursor(log, 0, r"\Aready\Z"), float("inf")).matched_line == "ready"


async def test_a_catastrophic_pattern_neither_blocks_the_loop_nor_runs_past_the_timeout(tmp_path):
    """Issue 11: `^(a|aa)+$` on a line of a's froze the whole supervisor for seconds."""
    import asyncio

    log = tmp_path / "svc.log"
    _append(log, "a" * 60 + "!\n")
    ticks = 0
    probe_done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not probe_done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.ensure_future(ticker())
    result = await PROBES["log"](LogCheck(pattern=r"^(a|aa)+$"), 0.5, ProbeContext("svc", log_path=log))
    probe_done.set()
    await ticking
    assert not result.ok
    assert result.detail.startswith(r"matching /^(a|aa)+$/ against ") and "backtracks catastrophically" in result.detail
    assert ticks >= 3, "the event loop was blocked while the pattern ran"

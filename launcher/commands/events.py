"""`robostack events [-f] [--json] [-n N] [--since WHEN]`: the timeline, read only as far as asked.

``-n`` reads backwards from the end, ``--since`` bisects on the events' times, and
following reads only what is appended (across rotations): a timeline of months costs
what is shown. Old timelines were written before masking existed: what is shown is masked.
Damaged lines (a hand edit, a foreign line) are skipped, said in one line on stderr, and
make the exit code 6.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, EXIT_STATE, UsageError

FOLLOW_INTERVAL = 0.2


def run_events(ctx: CommandContext, follow: bool, as_json: bool, *, count: int | None = None,
               since: str | None = None) -> int:
    from launcher.state import events as timeline

    paths = ctx.paths()
    printer = _Printer(ctx, as_json)
    skipped, damaged = timeline.Skipped(), False
    if follow:  # taken before the past is read, so nothing appended meanwhile is missed or shown twice
        follower = timeline.timeline_follower(paths.events)
    if count is not None:
        past = timeline.last_events(paths.events, count, skipped)
        if since is not None:
            start = _moment(since)
            past = [event for event in past if event.time.timestamp() >= start]
    elif since is not None:
        past = timeline.events_since(paths.events, _moment(since), skipped)
    else:
        past = timeline.all_events(paths.events, skipped)
    try:
        for event in past:
            printer.show(event)
        damaged = bool(skipped)
        _say_skipped(ctx, skipped)
        if follow:
            while not ctx.out.closed:
                skipped = timeline.Skipped()
                for event in timeline.parse_event_lines(follower.read_new(), skipped, paths.events):
                    printer.show(event)
                _say_skipped(ctx, skipped)
                time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        pass
    finally:
        if follow:
            follower.close()
    return EXIT_STATE if damaged else EXIT_OK


def _say_skipped(ctx: CommandContext, skipped) -> None:
    for text in skipped.describe():
        ctx.err.line(f"robostack: {text} (no event robostack wrote); skipped")


def _moment(text: str) -> float:
    from launcher.output.logs import parse_moment

    try:
        return parse_moment(text, datetime.now(timezone.utc))
    except ValueError as err:
        raise UsageError(f"--since: {err}") from err


class _Printer:
    def __init__(self, ctx: CommandContext, as_json: bool):
        self.out = ctx.out
        self.as_json = as_json
        self.mask = ctx.redactor(with_stack=False).mask  # the supervisor wrote it masked with the stack's secrets

    def show(self, event) -> None:
        if self.as_json:
            self.out.line(self.mask(json.dumps(event.to_json())))
            return
        extras = " ".join(f"{k}={v}" for k, v in event.data.items() if k != "pid" or str(v) not in event.reason)
        text = f"{event.time:%Y-%m-%d %H:%M:%S} {event.service or 'stack':<12} {event.event:<18} {event.reason} {extras}"
        self.out.line(self.mask(text.rstrip()))

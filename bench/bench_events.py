"""A timeline of months: `down`, `events -n` and `events --since` against a 120 MB events.jsonl.

Before issue 14, `down` parsed the whole events.jsonl before it stopped anything (to know
where to relay its progress from): 120 MB took 9.7 s and 773 MB of memory. Now it starts from
the file's end, `events -n` reads backwards and `events --since` bisects on the times. The
file is kept as one 120 MB file (``logs: {max_size: 1GB}``), as an old state folder or a large
`max_size` leaves it; rotation normally keeps it at 10 MB.

Figures (wall time and the command's peak RSS, os.wait4): `down` of a running one-service stack
with that timeline, next to the same `down` with an empty timeline and to the old first step
(``read_events`` of the whole file, in a fresh interpreter: exactly what `down` used to do
before anything else); `events -n 20` and `events --since 1m` next to reading every event.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.core import PYTHON, Section, Settings, median, notes, ratio, run_measured, runs_note, seconds, spread
from bench.ledger import Ledger
from bench.bench_cli import as_a_user
from bench.managers import BenchError, Robostack, ServiceSpec

OLD_READER = "import sys; from pathlib import Path; from launcher.state.events import read_events; " \
             "read_events(Path(sys.argv[1]))"


def write_timeline(path: Path, size: int) -> int:
    """Append about `size` bytes of realistic events (a restart loop, a minute apart, ending now); the count."""
    now = datetime.now(timezone.utc).astimezone()
    line = {"time": "", "service": "trader", "event": "restarted",
            "reason": "unhealthy: no WATCHDOG=1 within 30s (last at 16:04:31, STATUS: streaming AAPL,NVDA,TSLA)",
            "seconds": 1.234, "attempt": 3}
    sample = len(json.dumps(line)) + 40
    count = size // sample
    start = now - timedelta(minutes=count)
    with open(path, "a") as handle:
        for number in range(count):
            line["time"] = (start + timedelta(minutes=number)).isoformat(timespec="milliseconds")
            handle.write(json.dumps(line) + "\n")
    return count


def mib(value: float) -> str:
    return f"{value / 2 ** 20:.0f} MiB"


def run(settings: Settings, ledger: Ledger) -> Section:
    size = settings.pick(120 * 2 ** 20, 8 * 2 ** 20)
    runs = settings.runs(3)
    section = Section("events", f"A {size // 2 ** 20} MB events.jsonl: down, events -n, events --since",
                      reproduce="python -m bench --only events")
    workdir = ledger.temporary_directory("bench-events-")
    service = [ServiceSpec("idle", ["sleep", "3600"], stop_grace=1)]
    big, small = Robostack(ledger, workdir / "big", service), Robostack(ledger, workdir / "small", service)
    for stack in (big, small):
        document = stack.stack_document()
        document["logs"] = {"max_size": "1GB"}
        stack.stack_file.write_text(json.dumps(document))
    timeline = big.state_dir / "events.jsonl"
    env = as_a_user(ledger.env({"ROBOSTACK_STATE_DIR": str(big.state_dir)}))
    small_env = as_a_user(ledger.env({"ROBOSTACK_STATE_DIR": str(small.state_dir)}))
    results: dict[str, list[tuple[float, int]]] = {key: [] for key in ("down", "empty", "old", "tail", "since", "all")}
    for number in range(runs):
        big.up()
        small.up()
        if number == 0:
            count = write_timeline(timeline, size)
            print(f"  wrote {count:,} events ({os.path.getsize(timeline) / 2 ** 20:.0f} MiB)", flush=True)
        results["old"].append(_ok(run_measured([PYTHON, "-c", OLD_READER, str(timeline)], env)))
        results["down"].append(_ok(run_measured([*big.command("down")], env)))
        results["empty"].append(_ok(run_measured([*small.command("down")], small_env)))
        results["tail"].append(_ok(run_measured([*big.command("events", "-n", "20")], env)))
        results["since"].append(_ok(run_measured([*big.command("events", "--since", "1m")], env)))
    results["all"].append(_ok(run_measured([*big.command("events", "--json")], env)))

    def figure(key: str) -> tuple[float, float, list[float]]:
        walls = [wall for wall, _ in results[key]]
        return median(walls), median([float(rss) for _, rss in results[key]]), walls

    down, down_rss, down_walls = figure("down")
    empty, empty_rss, _ = figure("empty")
    old, old_rss, old_walls = figure("old")
    section.add(f"down, running stack, {size // 2 ** 20} MB timeline", seconds(down), f"empty timeline {seconds(empty)}",
                ratio(down, empty), notes(runs_note(runs), spread(down_walls)))
    section.add("down's peak memory", mib(down_rss), f"empty timeline {mib(empty_rss)}", ratio(down_rss, empty_rss))
    section.add("before: down's first step (read_events of the whole file)", seconds(old), f"down now {seconds(down)}",
                ratio(old, down), notes("what `down` did before stopping anything, until issue 14", spread(old_walls)))
    section.add("before: that step's peak memory", mib(old_rss), f"down now {mib(down_rss)}", ratio(old_rss, down_rss))
    every, every_rss, _ = figure("all")
    for key, label in (("tail", "events -n 20"), ("since", "events --since 1m")):
        value, rss, walls = figure(key)
        section.add(label, seconds(value), f"every event (events --json) {seconds(every)}", ratio(value, every),
                    notes(f"peak {mib(rss)} vs {mib(every_rss)}", spread(walls)))
    return section


def _ok(result: tuple[float, int, int]) -> tuple[float, int]:
    wall, rss, code = result
    if code != 0:
        raise BenchError(f"a measured command exited {code}")
    return wall, rss

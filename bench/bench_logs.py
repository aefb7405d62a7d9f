"""Log throughput: a service writing 1M lines as fast as it can, under each manager.

For each manager the workload ``bench/workloads.py log-writer`` writes N lines,
one ``write(2)`` each (as Python's logging does: it flushes every record), then an
end marker. The baseline is the same service with its stdout straight into a file;
a second reference is its stdout piped into ``cat``, which appends to the file (the
cheapest possible pipe reader). The clock starts once the manager has settled: the
writer waits on a FIFO the bench opens then. Three figures per manager, medians over
the runs, the managers taken in turn round-robin:

* the service's own write time (measured inside the service: how much the
  manager slowed it down, e.g. a pipe that fills up because the reader is slow);
* the time from the service's first write until the end marker is readable in the
  manager's log file (``on disk`` = in the file, through the page cache; no fsync);
* lines lost: N minus the lines found in the log file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.core import PYTHON, WORKLOADS, Section, Settings, median, notes, ratio, runs_note, seconds, spread
from bench.ledger import Ledger, wait_for
from bench.managers import BenchError, Direct, Honcho, Manager, PipeToCat, Robostack, ServiceSpec, Supervisord

END_MARKER = b"END-OF-LOG-WRITER"
LINE_PAYLOAD = b"the quick brown fox jumps over the lazy dog"
DEADLINE = 60.0  # per run: honcho needs ~20 s for 1M lines on 2 cores; past this, "never complete"
HONCHO_RUNS = 3
TARGET_SHARE = 0.95  # each honcho run takes ~20 s of the 5-minute budget


@dataclass
class LogRun:
    write_seconds: float
    on_disk_seconds: float  # NaN if the end marker never reached the file
    lines_found: int


def tail_has_marker(path: Path) -> bool:
    """Whether the end marker is in the last few KB of `path` (cheap enough to poll)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            return END_MARKER in handle.read()
    except FileNotFoundError:
        return False


def count_lines(path: Path) -> int:
    """Lines of the workload in `path` (a manager's prefixes and headers do not count).

    robostack's `logs/<service>.log` links to the run's current file; its log writer
    rotates at 10 MiB, so the run's earlier parts are counted too.
    """
    if path.is_symlink():
        from launcher.logwriter.files import run_files

        return sum(Path(part).read_bytes().count(LINE_PAYLOAD) for part in run_files(str(path.resolve())))
    return path.read_bytes().count(LINE_PAYLOAD)


def open_start_fifo(fifo: Path) -> bool:
    """Open the writer's start FIFO (which lets it go); False while the writer is not waiting on it yet."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError as error:
        if error.errno == errno.ENXIO:  # no reader yet
            return False
        raise


def one_run(manager: Manager, report: Path, fifo: Path, lines: int) -> LogRun:
    log = manager.log_path("writer")
    manager.start()
    try:
        if isinstance(manager, Robostack):
            manager.wait_up()  # the clock starts once the manager has settled, not during its own start-up
        if not wait_for(lambda: open_start_fifo(fifo), timeout=30):
            raise BenchError(f"{manager.name}: the log writer never started")
        seen = wait_for(lambda: tail_has_marker(log), timeout=DEADLINE, poll=0.005)
        seen_at = time.time()
        written = wait_for(report.exists, timeout=30 if seen else 1)
        if not written:
            raise BenchError(f"{manager.name}: the log writer never finished ({lines} lines)")
        figures = json.loads(report.read_text())
        on_disk = seen_at - figures["started"] if seen else math.nan
        return LogRun(figures["write_seconds"], on_disk, count_lines(log))
    finally:
        manager.stop(bound=30)


def make_manager(kind: type[Manager], ledger: Ledger, workdir: Path, argv: list[str]) -> Manager:
    services = [ServiceSpec("writer", argv, extra={"restart": "no"})]
    return kind(ledger, workdir, services)


def one_measurement(kind: type[Manager], ledger: Ledger, lines: int, root: Path) -> LogRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind.name.split()[0]}-", dir=root))
    report, fifo = workdir / "writer.json", workdir / "start.fifo"
    os.mkfifo(fifo)
    argv = [PYTHON, WORKLOADS, "log-writer", "--lines", str(lines), "--report", str(report), "--start-fifo", str(fifo)]
    try:
        return one_run(make_manager(kind, ledger, workdir, argv), report, fifo, lines)
    finally:
        ledger.kill_everything()


def measure(ledger: Ledger, lines: int, runs: dict[type[Manager], int], root: Path) -> dict[type[Manager], list[LogRun]]:
    """Round-robin over the managers, so a machine that drifts (a noisy neighbour) affects them alike."""
    results: dict[type[Manager], list[LogRun]] = {kind: [] for kind in runs}
    for round_number in range(max(runs.values())):
        for kind, count in runs.items():
            if round_number < count:
                results[kind].append(one_measurement(kind, ledger, lines, root))
    return results


def run(settings: Settings, ledger: Ledger) -> Section:
    lines = settings.pick(1_000_000, 20_000)
    runs = {Direct: settings.runs(4), PipeToCat: settings.runs(3), Robostack: settings.runs(4), Supervisord: settings.runs(3),
            Honcho: settings.runs(HONCHO_RUNS)}
    section = Section("logs", f"Log throughput: {lines:,} lines, one write(2) each",
                      reproduce="python -m bench --only logs")
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as directory:
        results = measure(ledger, lines, runs, Path(directory))
    base_write = median([r.write_seconds for r in results[Direct]])
    base_disk = median([r.on_disk_seconds for r in results[Direct]])
    for kind, measured in results.items():
        writes, disks = [r.write_seconds for r in measured], [r.on_disk_seconds for r in measured]
        write, disk = median(writes), median(disks)
        lost = max(lines - r.lines_found for r in measured)
        label = kind.name
        if kind is Direct:
            section.add(f"{label}: service's write time", seconds(write), note=notes(runs_note(len(writes)), spread(writes)))
            section.add(f"{label}: all lines in the file", seconds(disk), note=notes(f"{lines / disk:,.0f} lines/s",
                                                                                     spread(disks)))
            continue
        section.add(f"{label}: service's write time", seconds(write), f"direct {seconds(base_write)}",
                    f"throughput {ratio(base_write, write)} of direct", notes(runs_note(len(writes)), spread(writes)))
        section.add(f"{label}: all lines in its log file", seconds(disk), f"direct {seconds(base_disk)}",
                    f"throughput {ratio(base_disk, disk)} of direct",
                    notes(f"{lines / disk:,.0f} lines/s", spread(disks)) if not math.isnan(disk) else "never complete")
        section.add(f"{label}: lines lost", f"{lost:,}", note=f"worst of {len(measured)} runs")
    add_target(section, base_disk, median([r.on_disk_seconds for r in results[Robostack]]),
               max(lines - r.lines_found for r in results[Robostack]), settings.quick)
    return section


def add_target(section: Section, direct: float, robostack: float, lost: int, quick: bool) -> None:
    """Issue 3's target: at least 0.95 of the throughput of writing straight to a file, no line lost."""
    share = direct / robostack if not math.isnan(robostack) and robostack > 0 else float("nan")
    met = share >= TARGET_SHARE and lost == 0
    section.add("robostack vs issue 3's target (>= 0.95 of direct, no line lost)", f"{share:.2f} of direct, {lost} lost",
                note="smoke mode: too few lines to judge" if quick else ("met" if met else "MISSED"))

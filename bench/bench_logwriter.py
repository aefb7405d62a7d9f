"""The log writer (issue 14): throughput with and without rotation, lines lost, memory and start-up.

Measured at the spawn level (``launcher.process.spawn``, what the supervisor calls),
so the figures are the writer's own, without a supervisor around it. The service is
``bench/workloads.py log-writer`` (one ``write(2)`` per numbered line of 80 bytes).

* **Throughput** (N lines as fast as the service can write them), five ways, taken
  round-robin: the service writing straight to a file it opened itself; the old
  design (its stdout *is* the log file, ``O_APPEND``); its stdout piped into ``cat``
  (the cheapest pipe reader); the writer with rotation off; the writer rotating every
  1 MiB. Figures: the service's own write time, the time until every line is in the
  files, lines/s, and lines lost (every number checked, across all rotated parts).
* **Sustained**: 100,000 lines/s for 60 s through the writer with the default
  rotation (10 MiB), retention set high enough to keep every part so each line can be
  checked; the old design at the same rate is the same-run baseline. Figures: lines
  lost, rotations, the writer's CPU and peak memory.
* **Memory**: five idle writers (each behind a sleeping service), their USS/PSS/RSS
  against the interpreter's own floor (``python -I -S`` reading stdin) and ``cat``.
* **Start-up**: the wall time of ``spawn_service`` (it starts the writer, then the
  service) against starting the same service the old way, and the time until a new
  writer has its files open against a bare ``python -I -S -c pass``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from bench.core import PYTHON, WORKLOADS, Section, Settings, median, notes, ratio, runs_note, seconds, spread
from bench.ledger import Ledger, wait_for
from bench.managers import BenchError
from launcher.logwriter import files
from launcher.logwriter.format import split_stamp
from launcher.logwriter.policy import RotationPolicy
from launcher.process.spawn import spawn_service
from launcher.process.stop import kill_group_now

NUMBERED = re.compile(rb"^(\d{7}) ")
NO_ROTATION = RotationPolicy(max_size=1 << 40, keep=10_000)
ROTATE_1M = RotationPolicy(max_size=1024 * 1024, keep=10_000)
SUSTAINED = RotationPolicy(keep=10_000)  # the default 10 MiB; every part kept so each line can be checked
VARIANTS = ("straight to a file", "old design: stdout is the file", "pipe into cat", "writer, rotation off",
            "writer, rotation every 1 MiB")


def lost_lines(paths: list[str], expected: int) -> int:
    """Lines 0..expected-1 not found exactly once, in order, across `paths` (read in order)."""
    seen = 0
    for path in paths:
        with open(path, "rb") as handle:
            for raw in handle:
                text = split_stamp(raw.rstrip(b"\n"))[1]
                match = NUMBERED.match(text)
                if match and int(match.group(1)) == seen:
                    seen += 1
    return expected - seen


def log_files_of(log: Path) -> list[str]:
    return files.run_files(str(log)) if log.exists() or files.run_parts(str(log)) else []


def command(lines: int, report: Path, *, output: Path | None = None, rate: float | None = None) -> list[str]:
    argv = [PYTHON, WORKLOADS, "log-writer", "--lines", str(lines), "--report", str(report), "--exit"]
    if output is not None:
        argv += ["--output", str(output)]
    if rate is not None:
        argv += ["--rate", str(rate)]
    return argv


def ends_with_marker(paths: list[str]) -> bool:
    if not paths:
        return False
    with open(paths[-1], "rb") as handle:
        handle.seek(max(0, os.path.getsize(paths[-1]) - 256))
        return b"END-OF-LOG-WRITER" in handle.read()


async def sample_writer(pid: int, samples: list, stop: asyncio.Event) -> None:
    """The writer's CPU times and RSS every 50 ms while it works."""
    watcher = psutil.Process(pid)
    while not stop.is_set():
        try:
            samples.append((watcher.cpu_times(), watcher.memory_info().rss))
        except psutil.Error:
            return
        try:
            await asyncio.wait_for(stop.wait(), 0.05)
        except asyncio.TimeoutError:
            pass


async def one_run(variant: str, lines: int, workdir: Path, ledger: Ledger, rate: float | None = None,
                  policy: RotationPolicy | None = None) -> dict:
    """Run one variant to the end (every process exited, so every line is where it will be); its figures."""
    report, log = workdir / "report.json", workdir / "svc" / "run.log"
    samples: list = []
    if variant.startswith("writer"):
        process = await spawn_service("svc", command(lines, report, rate=rate), cwd=workdir,
                                      env={"ROBOSTACK_BENCH_TOKEN": ledger.token}, log_path=log,
                                      log_policy=policy or (ROTATE_1M if "1 MiB" in variant else NO_ROTATION))
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(sample_writer(process.writer.pid, samples, stop))
        await process.wait()
        if not await process.writer.wait(60):
            raise BenchError("the log writer did not finish")
        done = time.time()
        stop.set()
        await sampler
        paths = log_files_of(log)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        cat = None
        if variant == "straight to a file":
            proc = ledger.spawn(command(lines, report, output=log, rate=rate))
        elif variant == "pipe into cat":
            with open(log, "ab") as sink:
                cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=sink, start_new_session=True)
            proc = ledger.spawn(command(lines, report, rate=rate), stdout=cat.stdin)
            cat.stdin.close()
        else:
            with open(log, "ab") as sink:
                proc = ledger.spawn(command(lines, report, rate=rate), stdout=sink)
        await asyncio.to_thread(proc.wait, 600)
        if cat is not None:
            await asyncio.to_thread(cat.wait, 60)
        done = time.time()
        paths = [str(log)]
    figures = json.loads(report.read_text())
    if not ends_with_marker(paths):
        raise BenchError(f"{variant}: the end marker never reached the log")
    result = {"write": figures["write_seconds"], "all_in": done - figures["started"], "lost": lost_lines(paths, lines),
              "files": len(paths)}
    if samples:
        cpu = samples[-1][0].user + samples[-1][0].system
        result.update(cpu=cpu, peak_rss=max(rss for _, rss in samples))
    return result


async def throughput(settings: Settings, ledger: Ledger, root: Path) -> dict[str, list[dict]]:
    lines, rounds = settings.pick(1_000_000, 30_000), settings.runs(3)
    results: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            workdir = Path(tempfile.mkdtemp(dir=root))
            try:
                results[variant].append(await one_run(variant, lines, workdir, ledger))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    return results


async def sustained(settings: Settings, ledger: Ledger, root: Path) -> dict[str, dict]:
    rate, duration = 100_000, settings.pick(60, 2)
    results = {}
    for variant in ("old design: stdout is the file", "writer, rotation every 10 MiB"):
        workdir = Path(tempfile.mkdtemp(dir=root))
        try:
            results[variant] = await one_run(variant if variant.startswith("old") else "writer", rate * duration,
                                             workdir, ledger, rate=rate, policy=SUSTAINED)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


async def memory(ledger: Ledger, root: Path, count: int = 5) -> dict[str, list]:
    """USS/PSS/RSS of idle writers, of the bare interpreter reading stdin, and of cat."""
    sleeper = [PYTHON, "-c", "import time; print('up', flush=True); time.sleep(600)"]
    processes, measured = [], {"writer": [], "python -I -S reading stdin": [], "cat": []}
    baselines = []
    try:
        for index in range(count):
            processes.append(await spawn_service(f"idle{index}", sleeper, cwd=root, env={},
                                                 log_path=root / f"idle{index}" / "run.log"))
        for argv in ([PYTHON, "-I", "-S", "-c", "import sys; sys.stdin.buffer.read()"], ["cat"]):
            for _ in range(count):
                baselines.append(ledger.spawn(argv, stdin=subprocess.PIPE))
        for process in processes:
            status = process.writer.status_path
            wait_for(status.exists, timeout=30)
        await asyncio.sleep(0.5)  # let every interpreter finish starting
        for process in processes:
            measured["writer"].append(psutil.Process(process.writer.pid).memory_full_info())
        for index, proc in enumerate(baselines):
            key = "python -I -S reading stdin" if index < count else "cat"
            measured[key].append(psutil.Process(proc.pid).memory_full_info())
    finally:
        for process in processes:
            await kill_group_now(process.target)
            await process.wait()
        for proc in baselines:
            proc.kill()
            proc.wait()
    return measured


async def startup(ledger: Ledger, root: Path, count: int) -> dict[str, list[float]]:
    sleeper = [PYTHON, "-c", "import time; time.sleep(600)"]
    times: dict[str, list[float]] = {"spawn_service (writer + service)": [], "old design (service only)": [],
                                     "writer ready": [], "python -I -S -c pass": []}
    for index in range(count):
        log = root / f"start{index}" / "run.log"
        began = time.perf_counter()
        process = await spawn_service("start", sleeper, cwd=root, env={}, log_path=log)
        times["spawn_service (writer + service)"].append(time.perf_counter() - began)
        status = process.writer.status_path
        while not status.exists():
            await asyncio.sleep(0.0005)
        times["writer ready"].append(time.perf_counter() - began)
        await kill_group_now(process.target)
        await process.wait()
        with open(root / f"old{index}.log", "ab") as sink:
            began = time.perf_counter()
            old = subprocess.Popen(["/bin/sh", "-c", 'printf "%s\\n" header; exec "$@"', "sh", *sleeper],
                                   stdout=sink, stderr=sink, start_new_session=True)
            times["old design (service only)"].append(time.perf_counter() - began)
        old.kill()
        old.wait()
        began = time.perf_counter()
        subprocess.run([PYTHON, "-I", "-S", "-c", "pass"], check=True)
        times["python -I -S -c pass"].append(time.perf_counter() - began)
    return times


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def run(settings: Settings, ledger: Ledger) -> Section:
    lines = settings.pick(1_000_000, 30_000)
    section = Section("logwriter", f"Log writer: {lines:,} lines as fast as possible; 100,000 lines/s sustained",
                      reproduce="python -m bench --only logwriter")
    root = ledger.temporary_directory("bench-logwriter-")
    burst = asyncio.run(throughput(settings, ledger, root))
    base = burst["straight to a file"]
    base_all_in = median([r["all_in"] for r in base])
    for variant, runs in burst.items():
        all_in, write = [r["all_in"] for r in runs], [r["write"] for r in runs]
        lost = max(r["lost"] for r in runs)
        rate_note = f"{lines / median(all_in):,.0f} lines/s"
        files_note = f"{max(r['files'] for r in runs)} files" if variant.startswith("writer") else ""
        section.add(f"{variant}: every line in the files", seconds(median(all_in)),
                    "" if variant == "straight to a file" else f"straight {seconds(base_all_in)}",
                    "" if variant == "straight to a file" else f"throughput {ratio(base_all_in, median(all_in))}",
                    notes(rate_note, runs_note(len(runs)), spread(all_in), files_note))
        section.add(f"{variant}: service's own write time", seconds(median(write)), note=spread(write))
        section.add(f"{variant}: lines lost", f"{lost:,}", note=f"worst of {len(runs)} runs")
    steady = asyncio.run(sustained(settings, ledger, root))
    rate, duration = 100_000, settings.pick(60, 2)
    for variant, result in steady.items():
        section.add(f"sustained {rate:,} lines/s for {duration} s, {variant}: lines lost", f"{result['lost']:,}",
                    note=notes(f"{rate * duration:,} lines", f"{result['files']} files" if "writer" in variant else ""))
        if "cpu" in result:
            section.add(f"sustained, {variant}: writer CPU", f"{100 * result['cpu'] / duration:.0f}% of a core",
                        note=f"peak RSS {mib(result['peak_rss'])}")
    memories = asyncio.run(memory(ledger, root))
    floor = median([m.uss for m in memories["python -I -S reading stdin"]])
    for name, values in memories.items():
        uss = median([m.uss for m in values])
        section.add(f"memory: {name} (USS)", mib(uss), "" if name == "python -I -S reading stdin" else
                    f"python -I -S {mib(floor)}", note=notes(f"PSS {mib(median([m.pss for m in values]))}",
                                                             f"RSS {mib(median([m.rss for m in values]))}",
                                                             f"median of {len(values)}"))
    starts = asyncio.run(startup(ledger, root, settings.pick(20, 3)))
    for name, values in starts.items():
        section.add(f"start-up: {name}", seconds(median(values)), note=notes(runs_note(len(values)), spread(values)))
    return section

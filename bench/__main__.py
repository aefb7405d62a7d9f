"""Run the benchmark suite: ``python -m bench [--quick] [--only NAME ...] [--list]``.

Every benchmark prints its figures as it goes. A full run (no ``--quick``, no
``--only``) then rewrites the results block of BENCHMARKS.md; ``--write`` or
``--no-write`` decide otherwise. At the end every process the suite started is
looked for (psutil, by a token in its environment): survivors are printed, killed,
and make the exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.core import REPO, Section, Settings
from bench.ledger import Ledger
from bench.report import machine_facts, render, write_results

# name -> (module:function, what it measures), in the order a full run takes them.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "logs": ("bench.bench_logs:run", "log throughput of a 1M-line service under each manager vs a file"),
    "logwriter": ("bench.bench_logwriter:run", "the log writer: throughput with rotation on/off, 100k lines/s sustained, memory"),
    "stop": ("bench.bench_stop:run", "stop time and survivors of a SIGTERM-ignoring tree, per manager"),
    # Right after `stop`: honcho's stops wait out their bound in the background, and an
    # idle-footprint window is the measurement least disturbed by a few idle processes.
    "footprint": ("bench.bench_footprint:run", "idle CPU and memory of each manager with the default stack"),
    "kill": ("bench.bench_kill:run", "processes left behind when the manager itself is SIGKILLed"),
    "gating": ("bench.bench_gating:run", "up wall time of a 3-service chain minus its critical path"),
    "probe": ("bench.bench_probe:run", "ib_api probe latency and sockets left after many probes"),
    "monitor": ("bench.bench_monitor:run", "Gateway monitor: connections per minute, farm outage to verdict"),
    "gateway_restart": ("bench.bench_gateway_restart:run", "a Gateway under IBC: soft restart vs a hard one with a new login"),
    "stop_group": ("bench.bench_external:run_stop_group", "stop_group internals (bench/measure_stop.py)"),
    "gateway_sim": ("bench.bench_external:run_gateway_sim", "the Gateway simulator (bench/bench_gateway_sim.py)"),
    "orders": ("bench.bench_external:run_orders", "paper orders: round trip, fills/s, memory (bench/bench_orders.py)"),
    "recovery": ("bench.bench_recovery:run", "default stack: simulator SIGKILLed until ticks flow again"),
    "ticks": ("bench.bench_external:run_ticks", "end-to-end ticks (bench/bench_ticks.py)"),
    "loader": ("bench.bench_loader:run", "stack loading time against one command's length, vs shlex"),
    "dashboard": ("bench.bench_dashboard:run", "dashboard page load and the CPU cost of live pages"),
    "cli": ("bench.bench_cli:run", "each everyday command's wall time vs a bare interpreter and supervisorctl status"),
    "events": ("bench.bench_events:run", "down, events -n and --since against a 120 MB events.jsonl, vs the old reader"),
}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, one run each (seconds)")
    parser.add_argument("--only", action="append", metavar="NAME", choices=list(BENCHMARKS),
                        help="run only this benchmark (repeatable); see --list")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", dest="write", action="store_true", default=None,
                       help="write the results into BENCHMARKS.md (default: only for a full run)")
    write.add_argument("--no-write", dest="write", action="store_false")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md", help="file to write the results into")
    return parser.parse_args(argv)


def run_one(name: str, settings: Settings, ledger: Ledger) -> Section:
    """Run one benchmark; a failure becomes a section saying so, and its processes are killed."""
    module_name, function_name = BENCHMARKS[name][0].split(":")
    print(f"== {name}: {BENCHMARKS[name][1]}", flush=True)
    started = time.monotonic()
    try:
        section = getattr(importlib.import_module(module_name), function_name)(settings, ledger)
    except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
        traceback.print_exc()
        section = Section(name, f"{name} (failed)", reproduce=f"python -m bench --only {name}")
        section.add("error", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    finally:
        left = ledger.kill_everything()
        if left:
            print(f"  (cleaned up {len(left)} process(es) {name} left running)", flush=True)
    section.seconds = time.monotonic() - started
    print(f"   {name} took {section.seconds:.1f} s", flush=True)
    return section


def finish_pending(section: Section) -> None:
    """Wait for a benchmark's background measurements and add their figures to its section."""
    if not section.pending:
        return
    print(f"== {section.key} (finishing what ran in the background)", flush=True)
    try:
        section.finish_pending()
    except Exception as error:  # noqa: BLE001 - report it in the table like any failed benchmark
        traceback.print_exc()
        section.add("error (background part)", f"{type(error).__name__}: {error}")


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.list:
        for name, (_, what) in BENCHMARKS.items():
            print(f"{name:12} {what}")
        return 0
    settings = Settings(quick=args.quick)
    names = args.only or list(BENCHMARKS)
    facts = machine_facts()
    ledger = Ledger()
    started = time.monotonic()
    sections: list[Section] = []
    try:
        for name in names:
            sections.append(run_one(name, settings, ledger))
        for section in sections:
            finish_pending(section)
    finally:
        survivors = ledger.kill_all_generations()
    total = time.monotonic() - started
    print(f"== suite took {total:.0f} s; processes it started still alive at the end: "
          + ("none" if not survivors else "; ".join(survivors)), flush=True)
    should_write = args.write if args.write is not None else (not args.quick and not args.only)
    if should_write:
        write_results(args.output, render(sections, facts, total, survivors))
        print(f"results written to {args.output}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

"""Smoke test of the benchmark suite's entry point: its smallest mode runs one cheap benchmark.

No timing is asserted (speed is measured by `python -m bench`, never tested): only that
the entry point runs a benchmark end to end against a real simulator, prints a figure,
writes the results block where it is told to, and leaves no process behind.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import REPO


def test_quick_probe_benchmark_prints_a_figure_and_writes_the_table(tmp_path):
    output_file = tmp_path / "BENCHMARKS.md"
    output_file.write_text("# Benchmarks\n\nHand-written text that must survive.\n")

    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "probe", "--write",
                             "--output", str(output_file)], cwd=REPO, capture_output=True, text=True, timeout=90)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"ib_api probe \(handshake\): median: [\d.]+ (µs|ms|s)", result.stdout), result.stdout
    assert "processes it started still alive at the end: none" in result.stdout
    written = output_file.read_text()
    assert "Hand-written text that must survive." in written
    assert re.search(r"\| ib_api probe \(handshake\): median \| [\d.]+ (µs|ms|s) \|", written), written
    assert "| cores |" in written and "| Python |" in written


def test_list_names_every_benchmark():
    result = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True,
                            timeout=30)

    assert result.returncode == 0, result.stderr
    names = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"logs", "stop", "kill", "gating", "probe", "footprint", "recovery", "gateway_sim", "ticks"} <= names

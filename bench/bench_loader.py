"""Stack loading time against the length of one command: linear word splitting vs shlex.

A stack file with one very long `command` (a generated argument list) took shlex
quadratic time: 100 KB 1.1 s, 800 KB 24 s, a 10 MB file never finished. The loader now
splits commands with :mod:`launcher.stack.words`. For each size the figure is the whole
`load_stack` (read, YAML, validation, resolution); the same-run baseline is
``shlex.split`` alone on the same command, i.e. what the split step cost before.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path

from bench.core import Section, Settings, median, notes, ratio, runs_note, seconds
from bench.ledger import Ledger
from launcher.stack.loader import load_stack


def one_long_word(size: int) -> str:
    """A command whose one argument is `size` bytes (a JSON blob, a long list joined by commas)."""
    return "prog --symbols " + ",".join("AAPL" for _ in range(size // 5))


def command_of(size: int) -> str:
    """A command line of about `size` bytes: quoted, escaped and plain words, as a generator might write."""
    words, length, number = ["prog"], 4, 0
    while length < size:
        word = (f"'arg {number}'", f'"q{number}"', f"w\\ {number}")[number % 3]
        words.append(word)
        length += len(word) + 1
        number += 1
    return " ".join(words)


def timed(function, runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return durations


def run(settings: Settings, ledger: Ledger) -> Section:
    sizes = settings.pick([100_000, 400_000, 800_000], [20_000, 80_000])
    runs = settings.runs(3)
    section = Section("loader", "Stack loading: one long command, linear splitting vs shlex",
                      reproduce="python -m bench --only loader")
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as directory:
        path = Path(directory) / "stack.yaml"
        for shape, make in (("many words", command_of), ("one long word", one_long_word)):
            for size in sizes:
                command = make(size)
                path.write_text(f"services:\n  svc:\n    command: '{command.replace(chr(39), chr(39) * 2)}'\n")
                loading = median(timed(lambda: load_stack(path, environ={}), runs))
                splitting = median(timed(lambda: shlex.split(command), 1 if size > 200_000 else runs))
                section.add(f"load_stack, a {size // 1000} KB command of {shape}", seconds(loading),
                            f"shlex.split alone {seconds(splitting)}", ratio(loading, splitting),
                            notes(runs_note(runs), "baseline: 1 run" if size > 200_000 else ""))
    return section

"""The machine facts and the results tables, as Markdown, written into BENCHMARKS.md.

Only the block between the two markers below is generated; the prose around it
(how each figure is measured, caveats) is written by hand and kept as it is.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench.core import REPO, Section

BEGIN = "<!-- BEGIN GENERATED RESULTS: `python -m bench` rewrites this block -->"
END = "<!-- END GENERATED RESULTS -->"


def machine_facts() -> dict[str, str]:
    """What a reader needs to judge the figures: the machine, the software, the date."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "memory": _memory(),
        "OS": _os_name(),
        "Python": platform.python_version(),
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "robostack commit": _commit(),
        "honcho / supervisor": f"{_version('honcho')} / {_version('supervisor')}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    import psutil

    return f"{psutil.virtual_memory().total / 2**30:.1f} GiB"


def _os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pretty = ""
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}" if head else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_section(section: Section) -> str:
    lines = [f"### {section.title}", "", f"Reproduce: `.venv/bin/{section.reproduce}` "
             f"(took {section.seconds:.0f} s in this run)", ""]
    if section.figures:
        lines += ["| figure | value | baseline (same run) | ratio | note |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {_cell(f.name)} | {_cell(f.value)} | {_cell(f.baseline)} | {_cell(f.ratio)} | {_cell(f.note)} |"
                  for f in section.figures]
    if section.transcript:
        lines += ["", "Its output:", "", "```", section.transcript.rstrip(), "```"]
    return "\n".join(lines)


def render(sections: list[Section], facts: dict[str, str], total_seconds: float, survivors: list[str]) -> str:
    lines = [BEGIN, "", "## Results", "", "| machine | |", "| --- | --- |"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in facts.items()]
    lines += ["", f"The whole suite (`.venv/bin/python -m bench`) took {total_seconds:.0f} s. "
              + ("Processes it started left alive at the end: none (checked with psutil)." if not survivors
                 else f"Processes left alive at the end (then killed): {'; '.join(survivors)}."), ""]
    for section in sections:
        lines += [render_section(section), ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_results(path: Path, block: str) -> None:
    """Replace the generated block of `path` (or append one) and keep everything else."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)

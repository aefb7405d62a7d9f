"""A service's log files: names, rotation order and retention. Standard library only (the writer imports it).

One folder per service (``logs/<service>/``), one *run* per ``robostack up``:

    <run>.log        the run's current file; ``logs/<service>.log`` links to it
    <run>.<N>.log    the run's earlier parts, N = 1, 2, ... oldest first
    <run>.status     the log writer's status record (see ``status``)

Rotation renames the current file to the next part number and starts a new
current file, so a part never changes name again (a reader that has a part open
keeps reading it; nothing is ever copied or truncated). Retention keeps the
newest `keep` closed files of the folder (parts of this run and files of earlier
runs alike), so a service's logs never take more than about ``(keep + 1) * max_size``.
"""

from __future__ import annotations

import os

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_KEEP = 10
LOG_SUFFIX = ".log"
STATUS_SUFFIX = ".status"


def split_name(file_name: str, suffix: str = LOG_SUFFIX) -> tuple[str, int] | None:
    """``"run.log"`` -> ("run", 0) (current), ``"run.3.log"`` -> ("run", 3) (part 3); None for other files.

    Every `suffix` argument here lets the supervisor's own files (``events.jsonl``) follow the same scheme.
    """
    if not file_name.endswith(suffix) or file_name.startswith("."):
        return None
    base = file_name[: -len(suffix)]
    stem, dot, number = base.rpartition(".")
    if dot and stem and number.isdigit():
        return stem, int(number)
    return (base, 0) if base else None


def stem_of(current: str, suffix: str = LOG_SUFFIX) -> str:
    """The run's name of a current log path (``.../20251023-180500-42.log`` -> ``20251023-180500-42``)."""
    return os.path.basename(current)[: -len(suffix)] if current.endswith(suffix) else os.path.basename(current)


def part_path(current: str, number: int, suffix: str = LOG_SUFFIX) -> str:
    """The path of part `number` of the run whose current file is `current`."""
    return os.path.join(os.path.dirname(current), f"{stem_of(current, suffix)}.{number}{suffix}")


def status_path(current: str) -> str:
    """Where the log writer of the run whose current file is `current` keeps its status record."""
    return os.path.join(os.path.dirname(current), stem_of(current) + STATUS_SUFFIX)


def run_parts(current: str, suffix: str = LOG_SUFFIX) -> list[tuple[int, str]]:
    """The run's parts as (number, path), oldest first (the current file not included)."""
    folder, stem = os.path.dirname(current) or ".", stem_of(current, suffix)
    parts = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in names:
        parsed = split_name(name, suffix)
        if parsed is not None and parsed[0] == stem and parsed[1] > 0:
            parts.append((parsed[1], os.path.join(folder, name)))
    return sorted(parts)


def run_files(current: str) -> list[str]:
    """Every file of one run, oldest first: its parts, then the current file (if it exists)."""
    files = [path for _, path in run_parts(current)]
    return files + [current] if os.path.exists(current) else files


def next_part_number(current: str, suffix: str = LOG_SUFFIX) -> int:
    parts = run_parts(current, suffix)
    return parts[-1][0] + 1 if parts else 1


def log_files(folder: str) -> list[str]:
    """Every log file of a service folder (all runs), oldest first.

    Runs are ordered by when their files were last written, and within a run by part,
    current file last: the order their lines were written in.
    """
    runs: dict[str, list[tuple[int, str, float]]] = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        parsed = split_name(entry.name)
        if parsed is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        order = parsed[1] if parsed[1] > 0 else float("inf")  # the current file comes after its parts
        runs.setdefault(parsed[0], []).append((order, entry.path, modified))
    ordered_runs = sorted(runs.values(), key=lambda files: (max(m for _, _, m in files), files[0][1]))
    return [path for files in ordered_runs for _, path, _ in sorted(files)]


def files_to_prune(folder: str, keep: int, protected: set[str]) -> list[str]:
    """Closed log files beyond the newest `keep` (oldest first), and status records of runs with no log left.

    `protected` paths (the writer's own current file) are never chosen.
    """
    closed: list[tuple[float, str]] = []
    statuses: list[tuple[str, str]] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.endswith(STATUS_SUFFIX):
            statuses.append((entry.name[: -len(STATUS_SUFFIX)], entry.path))
            continue
        parsed = split_name(entry.name)
        if parsed is None or not entry.is_file(follow_symlinks=False):
            continue
        if entry.path in protected:
            continue
        try:
            closed.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        except FileNotFoundError:
            continue
    closed.sort()
    doomed = [path for _, path in closed[: max(0, len(closed) - keep)]]
    kept_runs = {split_name(os.path.basename(path))[0] for _, path in closed[len(doomed):]}  # type: ignore[index]
    kept_runs |= {stem_of(path) for path in protected}
    return doomed + [path for stem, path in statuses if stem not in kept_runs]


def find_by_identity(folder: str, identity: tuple[int, int], suffix: str = LOG_SUFFIX) -> str | None:
    """The log file in `folder` that is the file (device, inode) `identity`: where a rotated file went."""
    device, inode = identity
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return None
    for entry in entries:
        if entry.inode() == inode and split_name(entry.name, suffix) is not None:
            try:
                if entry.stat(follow_symlinks=False).st_dev == device:
                    return entry.path
            except FileNotFoundError:
                continue
    return None


def newest_part(current: str) -> str | None:
    """The run's most recent part: the file that was current before the last rotation."""
    parts = run_parts(current)
    return parts[-1][1] if parts else None

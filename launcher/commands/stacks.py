"""`robostack ls`: every stack of this user on this machine, from their state folders (docker compose ls).

Read from the folders alone (their run state and lock): no supervisor is asked, so a
hung one does not slow the list down; `status` in that stack's folder asks it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK
from launcher.output.term import table

_UP = ("healthy", "external", "done", "waiting")


def run_ls(ctx: CommandContext, as_json: bool) -> int:
    from launcher.state.paths import STATE_DIR_VARIABLE
    from launcher.state.registry import list_stacks, read_entry

    entries = list_stacks(os.environ)
    override = os.environ.get(STATE_DIR_VARIABLE)
    if override and Path(override).resolve() not in {entry.state_dir for entry in entries}:
        if Path(override).is_dir():  # this shell's stack lives in a folder the index does not know yet
            entries.append(read_entry(Path(override).resolve(), custom=True))
    rows = [_row(entry) for entry in entries]
    if as_json:
        for row in rows:
            ctx.out.line(json.dumps(row))
        return EXIT_OK
    if not rows:
        ctx.out.line("no stacks: none has run here as this user (`robostack up` starts one)")
        return EXIT_OK
    cells = [["stack", "state", "services", "supervisor", "stack file (or state folder)"]]
    styles: list[list[str | None]] = [["bold"] * 5]
    for row in rows:
        cells.append([row["name"], row["state"], row["services"] or "-",
                      f"pid {row['supervisor_pid']}" if row["supervisor_pid"] else "-",
                      row["stack_file"] or row["state_dir"] + (f" ({row['problem']})" if row["problem"] else "")])
        styles.append([None, "green" if row["state"] == "running" else ("red" if row["problem"] else "dim"),
                       None, None, None])
    for line in table(cells, styles=styles, out=ctx.out):
        ctx.out.line(line)
    return EXIT_OK


def _row(entry) -> dict:
    """One stack as `ls` shows it: running (a supervisor holds its lock), stopped, or why it cannot be read."""
    state = entry.state
    services = ""
    if state is not None and state.services:
        up = sum(1 for record in state.services.values() if record.state in _UP)
        services = f"{up}/{len(state.services)} up"
    if entry.problem:
        shown = "unreadable"
    elif entry.running:
        shown = "running"
    elif state is not None and state.phase not in ("stopped",):
        shown = "supervisor gone"  # its services may still run: `down` there stops them
    else:
        shown = "stopped"
    return {"name": entry.name, "state": shown, "services": services if shown != "stopped" else "",
            "supervisor_pid": entry.supervisor_pid if entry.running and (entry.supervisor_pid or 0) > 0 else None,
            "stack_file": entry.stack_file, "state_dir": str(entry.state_dir), "problem": entry.problem}

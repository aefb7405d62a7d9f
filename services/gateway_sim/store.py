"""The simulator's own state file: order ids per client id, perm ids and the paper account.

Order ids must never be reused, not even across simulator restarts (a program that ignores
nextValidId gets error 103 here, as it would live). The file is written atomically (temp file,
fsync, rename), at most once a second, and at once whenever a client's ids pass the reserved
high-water mark, so even a crash cannot hand out an id twice: after a restart nextValidId starts
at the reserved mark (IB's ids have gaps too). A missing, unreadable or damaged file is a fresh
account, said in one log line; the damaged file is left in place, renamed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from services.gateway_sim.orders import EngineState

RESERVE = 100
FORMAT = 1


# Where state files go unless --state-file says otherwise (the tests point it at a temporary folder).
STATE_DIR_VARIABLE = "ROBOSTACK_GATEWAY_SIM_STATE_DIR"


def default_path(account: str, port: int) -> Path | None:
    """``~/.local/state/robostack-gateway-sim/<account>-<port>.json``; none for ``--port 0`` (a throwaway
    simulator on a random port has no identity to keep ids for)."""
    if port == 0:
        return None
    folder = os.environ.get(STATE_DIR_VARIABLE)
    base = Path(folder) if folder else \
        Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "robostack-gateway-sim"
    return base / f"{account}-{port}.json"


class StateFile:
    def __init__(self, path: Path | None):
        self.path = path
        self.reserved: dict[int, int] = {}
        self.dirty = False

    def load(self) -> tuple[EngineState, dict[str, Any] | None, str]:
        """The engine state, the account state (or None) and a line saying what happened."""
        if self.path is None:
            return EngineState(), None, "state file: none: order ids start at 1 and are not kept"
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a simulator state file")
            ids = {int(k): int(v) for k, v in data["next_ids"].items()}
            state = EngineState(next_ids=ids, next_perm_id=int(data["next_perm_id"]),
                                exec_sequence=int(data.get("exec_sequence", 0)))
        except FileNotFoundError:
            return EngineState(), None, f"state file {self.path}: new, order ids start at 1"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as problem:
            kept = self.path.with_suffix(".damaged")
            try:
                self.path.replace(kept)
            except OSError:
                kept = self.path
            return EngineState(), None, (f"state file {self.path}: unreadable ({problem.__class__.__name__}: "
                                         f"{str(problem)[:80]}); starting fresh, old file kept as {kept.name}")
        self.reserved = dict(state.next_ids)
        account = data.get("account") if isinstance(data.get("account"), dict) else None
        return state, account, (f"state file {self.path}: order ids continue "
                                f"({len(ids)} client id(s)), account restored")

    def needs_reservation(self, state: EngineState) -> bool:
        """True when some client's next id reached what the file promises: write now."""
        return any(next_id >= self.reserved.get(client, 0) for client, next_id in state.next_ids.items())

    def save(self, state: EngineState, account: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.reserved = {client: next_id + RESERVE for client, next_id in state.next_ids.items()}
        data = {"format": FORMAT, "next_ids": {str(k): v for k, v in self.reserved.items()},
                "next_perm_id": state.next_perm_id + RESERVE, "exec_sequence": state.exec_sequence,
                "account": account}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(prefix=".state-", dir=self.path.parent)
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.dirty = False

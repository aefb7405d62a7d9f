"""The stack as the launcher uses it: substituted, with absolute paths and a start order.

`launcher.stack.loader.load_stack` produces a :class:`ResolvedStack` from a
file; everything downstream (supervisor, probes, doctor, pre-flight) reads
only these values, never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.errors import StackFileError
from launcher.stack.model import Alerts, Health, HttpSettings, LogSettings, Service
from launcher.stack.problems import Problem, first_in_file_order
from launcher.stack.source import FieldPath, SourceDocument

if TYPE_CHECKING:
    from launcher.logwriter.policy import RotationPolicy


@dataclass(frozen=True)
class ResolvedService:
    """One service after `${VAR}`/`{symbols}` substitution and path resolution."""

    name: str
    spec: Service
    argv: tuple[str, ...] | None  # None for an external service
    cwd: Path
    # Only what the stack adds; merged over os.environ at spawn. Kept out of repr: it holds secrets.
    env: dict[str, str] = field(default_factory=dict, repr=False)
    # An `exec` probe's command, resolved exactly like `argv` (None for other probe kinds).
    probe_argv: tuple[str, ...] | None = None

    @property
    def external(self) -> bool:
        return self.spec.external

    @property
    def health(self) -> Health | None:
        return self.spec.health

    @property
    def ports(self) -> list[int]:
        return list(self.spec.ports)

    @property
    def depends_on(self) -> list[str]:
        return list(self.spec.depends_on)


@dataclass(frozen=True)
class ResolvedStack:
    """The whole stack, ready to run: services in file order plus a dependency order."""

    name: str
    path: Path  # absolute path of the stack file
    symbols: tuple[str, ...]
    services: dict[str, ResolvedService]
    start_order: tuple[str, ...]  # every dependency before its dependents
    # Values of secret-looking variables the stack used (env_file, env, substituted ${VAR}s):
    # whatever shows the stack to a person masks them (see launcher.stack.redaction).
    secret_values: frozenset[str] = field(default=frozenset(), repr=False)
    # The file as the user named it and the line of every field: checks made after loading
    # (stale patterns against the running machine) still name file, line and field.
    display_path: str = ""
    source: SourceDocument | None = field(default=None, repr=False, compare=False)
    http: HttpSettings | None = None  # the read-only HTTP API and dashboard; None: off
    logs: LogSettings = field(default_factory=LogSettings)  # stack-wide log rotation; see log_policy()
    alerts: "ResolvedAlerts | None" = None

    def log_policy(self, name: str) -> "RotationPolicy":
        """How service `name`'s log is rotated: its own `logs:`, then the stack's, then the defaults."""
        from launcher.logwriter.policy import rotation_policy

        return rotation_policy(self.services[name].spec.logs, self.logs)

    @property
    def root(self) -> Path:
        """The folder the stack file lives in; relative paths are relative to it."""
        return self.path.parent

    def line_of(self, path: FieldPath) -> int | None:
        """The line of `path` in the stack file, or of its nearest ancestor."""
        return self.source.line_of(path) if self.source else None

    def problems_error(self, problems: list[Problem]) -> StackFileError:
        """One StackFileError listing `problems` the way the loader lists its own."""
        return first_in_file_order(self.display_path or str(self.path), problems)

    @property
    def stop_order(self) -> tuple[str, ...]:
        """Dependents before their dependencies."""
        return tuple(reversed(self.start_order))

    def dependents_of(self, name: str) -> list[str]:
        """Services that depend on `name`, directly or not, in start order."""
        affected = {name}
        result: list[str] = []
        for candidate in self.start_order:
            if candidate != name and affected.intersection(self.services[candidate].depends_on):
                affected.add(candidate)
                result.append(candidate)
        return result


@dataclass(frozen=True)
class ResolvedAlerts:
    """The stack file's `alerts:` with ``${VAR}`` substituted (the values hold secrets: kept out of repr)."""

    spec: Alerts
    command: tuple[str, ...] | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)

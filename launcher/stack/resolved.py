"""The stack as the launcher uses it: substituted, with absolute paths and a start order.

`launcher.stack.loader.load_stack` produces a :class:`ResolvedStack` from a
file; everything downstream (supervisor, probes, doctor, pre-flight) reads
only these values, never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.stack.model import Alerts, Health, LogSettings, Service

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

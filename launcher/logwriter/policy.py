"""How a service's log is rotated: the stack file's `logs:` settings made concrete (launcher side only)."""

from __future__ import annotations

from dataclasses import dataclass

from launcher.logwriter.files import DEFAULT_KEEP, DEFAULT_MAX_SIZE


@dataclass(frozen=True)
class RotationPolicy:
    """When to start a new log file (`max_size` bytes) and how many closed files to keep per service."""

    max_size: int = DEFAULT_MAX_SIZE
    keep: int = DEFAULT_KEEP


def rotation_policy(*layers: object) -> RotationPolicy:
    """The policy from settings layers, most specific first (a service's `logs:`, then the stack's).

    Each layer is anything with ``max_size`` and ``keep`` attributes (None: not set
    there); the first layer that sets a field wins, else the default.
    """
    def pick(field: str, default: int) -> int:
        for layer in layers:
            value = getattr(layer, field, None) if layer is not None else None
            if value is not None:
                return value
        return default

    return RotationPolicy(max_size=pick("max_size", DEFAULT_MAX_SIZE), keep=pick("keep", DEFAULT_KEEP))

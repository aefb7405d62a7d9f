"""Durations as written in a stack file; the parser lives in :mod:`stackkit.durations`.

The Gateway simulator's scenario files use the same spelling, and services
never import the launcher, so the one implementation is in the shared package.
"""

from stackkit.durations import MAX_DURATION, at_least, format_duration, parse_duration

__all__ = ["MAX_DURATION", "at_least", "format_duration", "parse_duration"]

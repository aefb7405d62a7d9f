"""robostack's launcher: the `robostack` command and the supervisor behind it."""

__version__ = "0.1.0"  # the one home of the version (pyproject.toml reads it from here)

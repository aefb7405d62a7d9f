"""`python -m launcher` is the `robostack` command (the detached supervisor is started this way)."""

from launcher.cli import main

main()

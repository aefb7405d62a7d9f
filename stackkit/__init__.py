"""Small pieces the launcher and the stack's services both use (a clock, durations, the symbol rule).

It imports neither, so the services never depend on the launcher."""

"""Small pieces the launcher and the stack's services both use (a clock, durations, times of day, the
symbol rule, sd_notify).

It imports neither, so the services never depend on the launcher."""

"""The fuzz suite: hypothesis, sized to run in CI in well under a minute, leaving nothing on disk.

Each property says what a reader may do with arbitrary input: return a value, or raise
its own one-line error; never anything else (no traceback, no hang).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# No example database: runs stay independent and the work tree stays clean. `derandomize`
# is off so every CI run tries new inputs; a failure prints its reproducing example.
settings.register_profile("robostack", max_examples=150, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("robostack")

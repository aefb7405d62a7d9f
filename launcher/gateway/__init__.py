"""What robostack knows about IB Gateway's own life: login phases, maintenance, its condition, IBC.

Pure cores, one I/O module each side:

* :mod:`.login` - the login phases read from the Gateway's (or IBC's) log lines.
* :mod:`.maintenance` - when the Gateway's absence is expected (daily restart, weekends).
* :mod:`.condition` - the Gateway's condition from the monitor's notices, the login phase and
  the maintenance windows: ready, logging in, awaiting the second factor, farms broken...
* :mod:`.remediation` - the remediation ladder (RECONNECTDATA, soft restart, hard restart within
  the login budget) as decisions on values.
* :mod:`.ibc` - IBC's command server, client side (I/O).
* :mod:`.logtail` - the new lines of a Gateway's log, a bounded read at a time (I/O).

The long-lived API session that hears the notices is :mod:`launcher.probes.gateway_monitor`.
"""

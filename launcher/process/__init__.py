"""The only code in robostack that signals or inspects processes.

identity    (pid, create time) pairs; pid reuse is detected, never signalled
spawn       start a service in its own session, stdout+stderr into its log file
stop        stop a service's tree: stop signal, wait for every member, SIGKILL
membership  who belongs to a service's tree (pure selection over a process table)
exits       wait for processes to exit (pidfds, event-driven)
sockets     listeners and CLOSE_WAIT / FIN_WAIT_2 sockets per port, with owners
search      processes matching a service's `stale` command-line patterns
"""

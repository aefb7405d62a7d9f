"""Alerts: tell a person when the stack needs one (a command to run, a URL to POST JSON to).

``policy`` decides, on plain values, what is sent (which events, folding a
flapping service into one summary, a rate limit); ``sender`` delivers (a
command or an HTTP POST, each with a timeout); ``dispatcher`` joins them for the
supervisor behind one non-blocking call, :meth:`AlertDispatcher.offer`.
"""

"""The read-only HTTP API and the dashboard page (`GET /`, `/api/*`, `/metrics`).

Sans-I/O pieces (http11, guard, routes, metrics, events_view, graph, page) take values and
return values; server.py is the only asyncio code. What they show comes through one small
interface, :class:`launcher.web.provider.StackView`.
"""

"""The stack's WebSocket server: publishers on /publish, subscribers on /, GET /healthz.

Run it with ``python -m services.websocket_server``. The fan-out rules live in
``fanout`` (pure), the wire rules in ``messages`` (pure), the sockets in ``server``.
"""

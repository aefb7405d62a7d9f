"""The stack's reference trader: ``python -m services.runner_async --symbols AAPL,NVDA,TSLA``.

Gateway ticks in (``ib_async``), JSON events out to the WebSocket server's
/publish; readiness and heartbeats to the supervisor over the notify protocol.
Pure parts: ``backoff`` (reconnect policy) and ``events`` (event shapes);
I/O: ``publisher`` (WebSocket side) and ``trader`` (Gateway side).
"""

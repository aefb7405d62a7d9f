"""A paper-trading IB Gateway stand-in that speaks the real TWS API socket protocol, with the field's faults.

Layers, from pure to I/O:

* :mod:`ibproto` - the shared codec and tables (framing, handshake, message ids, codes, versions).
* :mod:`.catalog`, :mod:`.prices`, :mod:`.market`, :mod:`.calendar`, :mod:`.history` - the
  instruments, one price path per instrument shared by live ticks and historical bars, the exchange
  calendar and IB's historical-data rules.
* :mod:`.account`, :mod:`.orders`, :mod:`.store` - the paper account, the execution engine and the
  state file that keeps order ids (and the account) across restarts.
* :mod:`.requests`, :mod:`.decoders`, :mod:`.order_requests` - incoming requests decoded into values;
  :mod:`.messages`, :mod:`.order_messages` - outgoing messages for the negotiated server version.
* :mod:`.streams` - subscriptions that send only what changed; :mod:`.limits` - IB's rate limits.
* :mod:`.session` - one connection's state machine; :mod:`.handlers`, :mod:`.order_handlers`,
  :mod:`.data_handlers` - the answers, plain functions of the session; :mod:`.gateway` - what all
  connections share, and the market step.
* :mod:`.server` - the asyncio server, the tick loop, fault modes, per-connection limits, signals.
* :mod:`.lifecycle` / :mod:`.conditions` - the Gateway's week under IBC as a pure state machine
  (login phases, soft and daily restarts, IBC commands) and IB's data conditions, returning
  :mod:`.actions` (log lines, API port states, notices, exit) as plain values.
* :mod:`.driver`, :mod:`.ibc`, :mod:`.api_port` - the lifecycle's hands: its schedule and actions,
  IBC's command server, an API port that refuses while the Gateway is down.
* :mod:`.scenario` - the week's options and scenario files, one vocabulary for both.
* :mod:`.config` - the command line (``python -m services.gateway_sim --help``).
"""

"""An IB Gateway stand-in that speaks the real TWS API socket protocol, with the field's faults.

Layers, from pure to I/O:

* :mod:`ibproto.wire` - framing, fields, the V100+ handshake and version negotiation.
* :mod:`.catalog`, :mod:`.market`, :mod:`.account` - the instruments, a seeded random-walk
  market and a paper account: data in, data out.
* :mod:`.requests` / :mod:`.messages` - incoming requests decoded into values, outgoing
  messages encoded for the negotiated server version.
* :mod:`.session` - one connection's state machine: bytes in, replies and log lines out.
* :mod:`.server` - the asyncio server, the tick loop, fault modes and signals.
* :mod:`.lifecycle` / :mod:`.conditions` - the Gateway's week under IBC as a pure state machine
  (login phases, soft and daily restarts, IBC commands) and IB's data conditions, returning
  :mod:`.actions` (log lines, API port states, notices, exit) as plain values.
* :mod:`.driver`, :mod:`.ibc`, :mod:`.api_port` - the lifecycle's hands: its schedule and actions,
  IBC's command server, an API port that refuses while the Gateway is down.
* :mod:`.scenario` - the week's options and scenario files, one vocabulary for both.
* :mod:`.config` - the command line (``python -m services.gateway_sim --help``).
"""

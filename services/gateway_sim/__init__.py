"""An IB Gateway stand-in that speaks the real TWS API socket protocol, with the field's faults.

Layers, from pure to I/O:

* :mod:`ibproto.wire` - framing, fields, the V100+ handshake and version negotiation.
* :mod:`.catalog`, :mod:`.market`, :mod:`.account` - the instruments, a seeded random-walk
  market and a paper account: data in, data out.
* :mod:`.requests` / :mod:`.messages` - incoming requests decoded into values, outgoing
  messages encoded for the negotiated server version.
* :mod:`.session` - one connection's state machine: bytes in, replies and log lines out.
* :mod:`.server` - the asyncio server, the tick loop, fault modes and signals.
* :mod:`.config` - the command line (``python -m services.gateway_sim --help``).
"""

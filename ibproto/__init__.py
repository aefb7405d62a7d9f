"""The TWS API socket protocol, shared by the launcher (probes, doctor) and the services (the
Gateway simulator, the trader). Pure code: bytes in, values out; it imports neither side.

Modules:

* :mod:`.wire` - framing, fields, the V100+ handshake and version negotiation.
* :mod:`.fields` - strict number parsing and :class:`~.fields.FieldReader`, which reads a
  message's fields in order and names the one it cannot read (never raises anything but
  :class:`~.errors.ProtocolError` subclasses).
* :mod:`.messages` - the message ids in both directions, with their EClient/EWrapper names.
* :mod:`.versions` - the server versions at which a layout changes, named.
* :mod:`.codes` - error and notice codes: the Gateway's wording and what each means for a trader.
* :mod:`.ticks` - tick type ids, live and delayed.
* :mod:`.client` - the client side of session start (startApi, nextValidId, managedAccounts,
  error records), used by the launcher's ``ib_api`` probe.

The protobuf path (server versions 201 and later). Current Gateways can send a message as a
protobuf payload instead of NUL-separated text: the frame (4-byte length prefix) is unchanged,
but the payload starts with a 4-byte big-endian binary message id, and an id above 200 means
"message id - 200, protobuf encoded". Nothing here assumes text beyond :func:`wire.split_fields`:
framing (:class:`wire.FrameDecoder`) already hands out raw payloads, negotiation already picks one
version per connection, and every layout decision is a comparison of the negotiated version with
a constant of :mod:`.versions`. Adding it means a ``decode_payload(payload, version)`` beside
``split_fields`` that dispatches on the binary id, and per-message encoders keyed by the same
:class:`~.messages.ServerMessage` ids with a ``version >= versions.PROTOBUF`` branch; the
simulator keeps offering at most :data:`versions.LAST_TEXT_ONLY` until those exist.
"""

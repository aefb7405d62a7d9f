"""The TWS API socket protocol, shared by the launcher (probes, doctor) and the services
(the Gateway simulator, the trader). Pure code: bytes in, values out; no launcher imports."""

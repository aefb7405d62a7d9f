"""`robostack doctor` against a "Gateway" that answers the handshake with a version no int() can read.

`str.isdigit()` accepts "²" and a 4300-digit number, `int()` refuses both: doctor used
to end in a traceback. Now it is the `protocol-error` verdict, one line, exit 1.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest

from ibproto.wire import frame


class LyingGateway:
    """Accepts API connections and answers each handshake with `version` as the server version."""

    def __init__(self, version: str):
        self.version = version
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    connection.recv(4096)  # "API\0" and the version range
                    connection.sendall(frame(f"{self.version}\0time\0".encode()))
                    connection.recv(4096)  # until the client closes
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("version", ["²", "9" * 4300, "١٧٦"])
def test_doctor_reports_an_unreadable_server_version_in_one_verdict(robostack, version):
    gateway = LyingGateway(version)
    try:
        stack = robostack(f"""services:
  gateway:
    external: true
    ports: [{gateway.port}]
    health: {{ib_api: {{port: {gateway.port}}}, timeout: 2s}}
""")
        result = stack.run("doctor", "--json")
    finally:
        gateway.close()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    [service] = json.loads(result.stdout)["services"]
    assert service["verdict"] == "protocol-error", service
    assert "expected '<version>\\0<time>\\0' as handshake reply" in service["detail"]
    assert len(service["detail"]) < 300

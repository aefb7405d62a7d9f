"""Fixtures for the probe tests: real servers on free loopback ports."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from launcher.probes.base import ProbeContext


class _Handler(BaseHTTPRequestHandler):
    """``/health`` answers 200, ``/down`` 503 with a reason, ``/moved`` 302, anything else 404."""

    routes = {"/health": (200, b"ok"), "/down": (503, b"API not ready: still logging in"),
              "/moved": (302, b"")}

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        status, body = self.routes.get(self.path, (404, b"no such page"))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on a free port (stdlib, in a thread); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def mute_listener():
    """A socket that listens but never accepts: TCP connects, nothing ever answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def context(tmp_path) -> ProbeContext:
    return ProbeContext(service_name="svc", cwd=tmp_path)

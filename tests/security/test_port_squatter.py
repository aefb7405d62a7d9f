"""A restarted service is healthy only if its own process tree holds its port (issue 11, "health trusts whoever
answers").

A squatter binds the port (SO_REUSEADDR) in the moment between the stop and the start of
a restart, and answers the probe as well as the service would. The supervisor must call
that a failure, in pre-flight's words for a foreign holder, never "healthy".
"""

from __future__ import annotations

import asyncio

from launcher.supervise.control import request_restart
from tests.helpers import free_port, read_line_matching
from tests.launcher.conftest import service_command

SQUATTER = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("squatting", flush=True)
while True:
    client, _ = server.accept()
    client.close()
"""


async def test_a_squatter_taking_the_port_between_stop_and_restart_fails_the_restart(harness, processes):
    port = free_port()
    h = harness(f"""services:
  web:
    command: {service_command('--name', 'web', '--port', str(port), '--ready-after', '1')}
    ports: [{port}]
    health: {{tcp: {{port: {port}}}, interval: 200ms}}
    restart: "no"
    startup_timeout: 20s
    stop_grace: 2s
""")
    await h.up()
    backoff = h.clock.hold_sleep()  # the restart's wait between stopping web and starting it again
    restart = asyncio.ensure_future(request_restart(h.paths, "web", False, lambda message: None))
    await backoff.reached()
    squatter = processes.python("-c", SQUATTER, str(port))
    await asyncio.to_thread(read_line_matching, squatter, "squatting")
    backoff.release()

    finish = await asyncio.wait_for(restart, 30)

    assert finish["ok"] is False
    message = finish["message"]
    assert f"port {port} of service 'web' is held by pid {squatter.pid} (" in message, message
    assert "which robostack did not start" in message and f"`kill {squatter.pid}`" in message, message
    assert h.recorder.find("web", "healthy", after=h.recorder.find("web", "restarting")) is None, "never healthy"
    assert h.state("web") == "failed"
    record = h.services["web"].record
    assert record.probe["ok"] is False and "foreign holder" in record.probe["detail"], record.probe
    assert squatter.poll() is None, "the squatter is someone else's: never signalled"

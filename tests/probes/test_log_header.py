"""The log probe ignores the launcher's own start header, which quotes the service's command."""

from __future__ import annotations

from launcher.probes.base import ProbeContext
from launcher.probes.log import probe_log
from launcher.stack.model import LogCheck


async def test_header_quoting_the_pattern_does_not_count_as_ready(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("--- robostack: starting svc (pid 1) at 2026-01-01T00:00:00: sh -c 'echo ready; sleep 9'\n")
    context = ProbeContext(service_name="svc", log_path=log)
    assert not (await probe_log(LogCheck(pattern="ready"), 1.0, context)).ok
    with open(log, "a") as handle:
        handle.write("ready\n")
    result = await probe_log(LogCheck(pattern="ready"), 1.0, context)
    assert result.ok
    assert result.detail.endswith(": ready")

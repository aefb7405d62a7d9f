"""Every probe kind the stack file knows, by name: what :func:`launcher.probes.base.run_probe` dispatches on.

Each entry is ``async def probe_<kind>(check, timeout, context) -> ProbeResult``:
it never raises for an unhealthy target and returns within ``timeout`` plus a
small margin (:data:`launcher.probes.base.OVERRUN_MARGIN` at the very most).
"""

from __future__ import annotations

from launcher.probes.base import ProbeFunction
from launcher.probes.exec import probe_exec
from launcher.probes.http import probe_http
from launcher.probes.ib_api import probe_ib_api
from launcher.probes.log import probe_log
from launcher.probes.notify import probe_notify
from launcher.probes.tcp import probe_tcp
from launcher.probes.websocket import probe_websocket

PROBES: dict[str, ProbeFunction] = {
    "ib_api": probe_ib_api,
    "tcp": probe_tcp,
    "http": probe_http,
    "websocket": probe_websocket,
    "log": probe_log,
    "exec": probe_exec,
    "notify": probe_notify,
}

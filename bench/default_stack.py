"""The default stack (stack.yaml) on private ports, for robostack, supervisord and honcho alike.

The repository's own stack.yaml is read and only what must differ is changed: every
port it owns is swapped for a free one (in commands, probes and URLs), ``cwd`` is the
repository, and ``stale`` patterns are dropped (a generic pattern such as
``services.runner_async`` would make one copy's pre-flight stop another copy's trader,
or the user's). The trader's client id changes too: the real stack.yaml's own stale
pattern (``--client-id 10``) would otherwise make every `robostack up` of the real default
stack on this machine stop the copy's trader. Health probes and timings stay as the file says.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.request
from pathlib import Path

import yaml

from bench.core import PYTHON, REPO
from bench.ledger import Ledger, free_port, wait_for
from bench.managers import ServiceSpec

STACK_FILE = REPO / "stack.yaml"
COPY_CLIENT_ID = 17  # the copies' trader: any id but the real stack's 10 (see above)


class DefaultStack:
    """stack.yaml with fresh ports: as a robostack document, or as ServiceSpecs for the others."""

    def __init__(self, source: Path = STACK_FILE):
        document = yaml.safe_load(source.read_text())
        owned = sorted({port for service in document["services"].values() for port in service.get("ports", [])})
        self.ports = {old: free_port() for old in owned}
        self.document = self._rewrite(document)
        self.symbols = list(self.document.get("symbols", []))
        self.http_port = free_port()

    def _rewrite(self, value):
        if isinstance(value, dict):
            return {key: self._rewrite(item) for key, item in value.items() if key != "stale"}
        if isinstance(value, list):
            return [self._rewrite(item) for item in value]
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return self.ports.get(value, value)
        if isinstance(value, str):
            value = re.sub(r"(--client-id[= ])10\b", rf"\g<1>{COPY_CLIENT_ID}", value)
            return re.sub(r"\b(\d{2,5})\b", lambda match: str(self.ports.get(int(match[1]), match[1])), value)
        return value

    def robostack_document(self) -> dict:
        document = json.loads(json.dumps(self.document))  # a deep copy
        document["name"] = "bench-default"
        for service in document["services"].values():
            service["cwd"] = str(REPO)
        if document.get("http") is not None:
            document["http"]["port"] = self.http_port  # the dashboard's fixed port, like the others
        return document

    def specs(self) -> list[ServiceSpec]:
        """The services as plain commands (python -> this interpreter, {symbols} filled in)."""
        specs = []
        for name, service in self.document["services"].items():
            argv = shlex.split(service["command"].replace("{symbols}", ",".join(self.symbols)))
            if argv[0] in ("python", "python3"):
                argv[0] = PYTHON
            specs.append(ServiceSpec(name, argv, depends_on=service.get("depends_on", []),
                                     ports=service.get("ports", []), stop_grace=_seconds(service.get("stop_grace", 10))))
        return specs

    def port_of(self, service: str) -> int:
        return self.document["services"][service]["ports"][0]

    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port_of('websocket')}/"

    def relayed(self) -> int:
        """Events the WebSocket server has relayed so far (0 while it is not up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port_of('websocket')}/healthz", timeout=2) as reply:
                return int(json.loads(reply.read()).get("events_relayed", 0))
        except (OSError, ValueError):
            return 0

    def wait_streaming(self, timeout: float = 90) -> bool:
        """True once ticks flow through the WebSocket server (the trader is connected and publishing)."""
        return bool(wait_for(lambda: self.relayed() > 0, timeout=timeout, poll=0.1))


def _seconds(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    from launcher.stack.durations import parse_duration

    return parse_duration(value)


def check_runner(ledger: Ledger) -> str | None:
    """None if the trader (services.runner_async) can run here; else why not."""
    result = ledger.run([PYTHON, "-m", "services.runner_async", "--help"], timeout=60)
    return None if result.returncode == 0 else (result.stderr or result.stdout).strip().splitlines()[-1:][0]

"""Which TWS API client ids the stack's services use on a Gateway, as far as their commands show. Pure.

A Gateway refuses a second session on a client id already in use (error 326), so
the monitor's id, the probe's (doctor's) and every trader's must differ. The
traders' ids are visible only in their command lines (``--client-id 10``); that is
where they are looked for, in the services that depend on the Gateway or name
its port.
"""

from __future__ import annotations

import re
from typing import Iterable

from launcher.stack.resolved import ResolvedService
from launcher.stack.source import FieldPath

_FLAG = re.compile(r"--client[-_]?id(?:=(\S+))?", re.IGNORECASE)
_PORT_FLAG = re.compile(r"--port(?:=(\S+))?")


def flag_values(argv: Iterable[str], flag: re.Pattern) -> list[str]:
    """The values of ``--flag VALUE`` and ``--flag=VALUE`` in a command."""
    words = list(argv)
    values = []
    for index, word in enumerate(words):
        match = flag.fullmatch(word)
        if match:
            value = match.group(1) if match.group(1) is not None else (words[index + 1] if index + 1 < len(words)
                                                                         else None)
            if value is not None:
                values.append(value)
    return values


def command_client_ids(argv: Iterable[str]) -> list[int]:
    """The client ids a command line asks for (``--client-id 10``, ``--clientId=10``)."""
    return [int(value) for value in flag_values(argv, _FLAG) if value.isdigit()]


def client_id_problems(services: dict[str, ResolvedService]) -> list[tuple[FieldPath, str]]:
    """(field path, message) for every client id the monitor or the probe shares with another service."""
    problems = []
    for gateway in services.values():
        health = gateway.health
        if health is None or health.kind != "ib_api":
            continue
        check = health.check
        here: FieldPath = ("services", gateway.name, "health", "ib_api")
        for other in _clients_of(gateway, check.port, services):
            for client_id in command_client_ids(other.argv or ()):
                if check.monitor and client_id == check.monitor_client_id:
                    problems.append((here + ("monitor_client_id",), _shared("monitor_client_id", client_id, other.name)))
                if client_id == check.client_id:
                    problems.append((here + ("client_id",), _shared("client_id", client_id, other.name)))
    return problems


def _clients_of(gateway: ResolvedService, port: int, services: dict[str, ResolvedService]) -> list[ResolvedService]:
    return [service for service in services.values() if service.name != gateway.name and service.argv and
            (gateway.name in service.depends_on or str(port) in flag_values(service.argv, _PORT_FLAG))]


def _shared(field: str, client_id: int, other: str) -> str:
    owner = "the monitor's" if field == "monitor_client_id" else "the probe's and doctor's"
    return (f"client id {client_id} ({owner}) is also the one '{other}' connects with (--client-id {client_id} in "
            f"its command): the Gateway refuses one of two sessions on the same id (error 326); set {field} to "
            "another number")

"""Stack files the launcher tests share, in-process and through the CLI alike."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import free_port
from tests.launcher.conftest import service_command


def chain_stack(journal: Path, *, a_args: str = "", a_grace: str = "5s", c_args: str = "", c_grace: str = "5s") -> str:
    """a <- b <- c, each journalling the SIGTERM it gets, healthy once it says so (its handlers are in place)."""

    def service(name: str, extra: str, grace: str, depends: str) -> str:
        command = service_command('--name', name, '--journal', str(journal), '--journal-term', '--print-ready')
        return (f"  {name}:\n    command: {command} {extra}\n{depends}"
                f"    health: {{log: {{pattern: '{name} is ready'}}}}\n    stop_grace: {grace}\n")

    return ("services:\n" + service("a", a_args, a_grace, "") + service("b", "", "5s", "    depends_on: [a]\n")
            + service("c", c_args, c_grace, "    depends_on: [b]\n"))


def freeze_stack(marker: Path, interval: str = "200ms") -> str:
    """The interleaving that froze the supervisor on Python 3.12/3.13: b (restarted with a) crashes on restart."""
    port_a, port_b = free_port(), free_port()
    return f"""services:
  a:
    command: {service_command('--port', str(port_a))}
    health: {{tcp: {{port: {port_a}}}, interval: {interval}, retries: 1}}
    backoff: {{initial: 100ms}}
  b:
    command: {service_command('--port', str(port_b), '--crash-on-restart', str(marker))}
    depends_on: [a]
    on_dependency_restart: restart
    health: {{tcp: {{port: {port_b}}}, interval: {interval}, retries: 1}}
    backoff: {{initial: 100ms}}
    max_restarts: 3 within 1m
"""


def restarting_stack(**overrides: str) -> str:
    """One service on a free port, probed every 100 ms, restarted 100 ms after a crash."""
    port = free_port()
    settings = {"backoff": "{initial: 100ms}", **overrides}
    extra = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    return (f"services:\n  a:\n    command: {service_command('--port', str(port))}\n"
            f"    health: {{tcp: {{port: {port}}}, interval: 100ms, retries: 1}}\n{extra}")

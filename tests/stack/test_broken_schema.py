"""Stack files that break the schema or the dependency rules: file:line field.path: what is wrong."""

from __future__ import annotations

import pytest

from launcher.errors import EXIT_USAGE

BROKEN = {
    "unknown key in a service": (
        """
        services:
          trader:
            command: python -m trader
            surprise: 1
        """,
        'stack.yaml:4 services.trader: unknown key "surprise"',
    ),
    "unknown key close to a real one": (
        """
        services:
          trader:
            command: python -m trader
            depend_on: [gateway]
        """,
        'stack.yaml:4 services.trader: unknown key "depend_on" (did you mean "depends_on"?)',
    ),
    "unknown key in a short mapping lists the allowed keys": (
        """
        services:
          trader:
            command: python -m trader
            backoff: {first: 1s}
        """,
        'stack.yaml:4 services.trader.backoff: unknown key "first" (allowed: initial, max)',
    ),
    "unknown top-level key": (
        """
        services:
          trader:
            command: python -m trader
        extra: 1
        """,
        'stack.yaml:4: unknown key "extra" (allowed: name, symbols, env_file, generated_secrets, services, http, logs, alerts)',
    ),
    "dependency cycle": (
        """
        services:
          gateway:
            command: python -m gateway
            depends_on: [trader]
          trader:
            command: python -m trader
            depends_on: [gateway]
        """,
        "stack.yaml:4 services.gateway.depends_on: dependency cycle: gateway -> trader -> gateway",
    ),
    "longer cycle starts at its first service in the file": (
        """
        services:
          a:
            command: python -m a
            depends_on: [c]
          b:
            command: python -m b
            depends_on: [a]
          c:
            command: python -m c
            depends_on: [b]
        """,
        "stack.yaml:4 services.a.depends_on: dependency cycle: a -> c -> b -> a",
    ),
    "unknown dependency": (
        """
        services:
          gateway:
            command: python -m gateway
          trader:
            command: python -m trader
            depends_on:
              - gateway
              - websocket
        """,
        'stack.yaml:8 services.trader.depends_on: "trader" depends on "websocket", '
        "which is not a service in this file (services: gateway, trader)",
    ),
    "misspelt dependency": (
        """
        services:
          gateway:
            command: python -m gateway
          trader:
            command: python -m trader
            depends_on: [gatway]
        """,
        'stack.yaml:6 services.trader.depends_on: "trader" depends on "gatway", '
        'which is not a service in this file (did you mean "gateway"?)',
    ),
    "self dependency": (
        """
        services:
          trader:
            command: python -m trader
            depends_on: [trader]
        """,
        'stack.yaml:4 services.trader.depends_on: "trader" depends on itself',
    ),
    "missing command on a service robostack runs": (
        """
        services:
          gateway:
            ports: [4002]
        """,
        "stack.yaml:2 services.gateway: a service that is not external needs a command",
    ),
    "two probe kinds": (
        """
        services:
          gateway:
            command: python -m gateway
            health:
              tcp: {port: 4002}
              ib_api: {port: 4002}
        """,
        "stack.yaml:4 services.gateway.health: exactly one probe kind "
        "(ib_api, tcp, http, websocket, log, exec, notify) is required, found ib_api, tcp",
    ),
    "no probe kind": (
        """
        services:
          gateway:
            command: python -m gateway
            health:
              interval: 1s
        """,
        "stack.yaml:4 services.gateway.health: exactly one probe kind "
        "(ib_api, tcp, http, websocket, log, exec, notify) is required, found none",
    ),
    "port 0": (
        """
        services:
          gateway:
            command: python -m gateway
            ports: [0]
        """,
        "stack.yaml:4 services.gateway.ports[0]: port 0 is out of range (1-65535)",
    ),
    "port 70000 in a probe": (
        """
        services:
          gateway:
            command: python -m gateway
            health:
              tcp:
                port: 70000
        """,
        "stack.yaml:6 services.gateway.health.tcp.port: port 70000 is out of range (1-65535)",
    ),
    "port that is not a number": (
        """
        services:
          gateway:
            command: python -m gateway
            ports:
              - 4002
              - abc
        """,
        'stack.yaml:6 services.gateway.ports[1]: expected a port number (1-65535), got "abc"',
    ),
    "negative duration": (
        """
        services:
          gateway:
            command: python -m gateway
            stop_grace: -5s
        """,
        'stack.yaml:4 services.gateway.stop_grace: expected a non-negative duration, got "-5s"',
    ),
    "negative plain seconds": (
        """
        services:
          gateway:
            command: python -m gateway
            startup_timeout: -5
        """,
        "stack.yaml:4 services.gateway.startup_timeout: expected a non-negative duration, got -5",
    ),
    "unparsable duration": (
        """
        name: robo
        services:
          gateway:
            command: python -m gateway
          trader:
            command: python -m trader
            depends_on: [gateway]
            health:
              notify: {}
              start_period: 5s
              retries: 3
              interval: fast
        """,
        'stack.yaml:12 services.trader.health.interval: expected a duration (like 250ms, 2s, 1m), got "fast"',
    ),
    "bad regular expression in stale": (
        """
        services:
          trader:
            command: python -m trader
            stale:
              - robo_trader.runner
              - "runner("
        """,
        'stack.yaml:6 services.trader.stale[1]: "runner(" is not a valid regular expression: '
        "missing ), unterminated subpattern at position 6",
    ),
    "bad regular expression in a log probe": (
        """
        services:
          trader:
            command: python -m trader
            health:
              log: {pattern: "ready ("}
        """,
        'stack.yaml:5 services.trader.health.log.pattern: "ready (" is not a valid regular expression: '
        "missing ), unterminated subpattern at position 6",
    ),
    "bad signal name": (
        """
        services:
          trader:
            command: python -m trader
            stop_signal: SIGSTOPNOW
        """,
        'stack.yaml:4 services.trader.stop_signal: unknown signal "SIGSTOPNOW" (expected a signal name like SIGTERM, SIGINT or SIGQUIT)',
    ),
    "bad service name": (
        """
        services:
          my trader:
            command: python -m trader
        """,
        'stack.yaml:2 services: "my trader" is not a valid name '
        '(letters, digits, "_", "-" or ".", starting with a letter or digit)',
    ),
    "bad restart policy": (
        """
        services:
          trader:
            command: python -m trader
            restart: sometimes
        """,
        'stack.yaml:4 services.trader.restart: expected one of "no", "on-failure", "always", got "sometimes"',
    ),
    "command that is neither text nor a list": (
        """
        services:
          trader:
            command: {run: trader}
        """,
        "stack.yaml:3 services.trader.command: expected text or a list, got a mapping",
    ),
    "command list with a mapping inside": (
        """
        services:
          trader:
            command:
              - python
              - {m: trader}
        """,
        "stack.yaml:5 services.trader.command[1]: expected text, got a mapping",
    ),
    "boolean that is not one": (
        """
        services:
          gateway:
            external: maybe
            health: {tcp: {port: 4002}}
        """,
        'stack.yaml:3 services.gateway.external: expected true or false, got "maybe"',
    ),
    "missing probe setting": (
        """
        services:
          gateway:
            command: python -m gateway
            health:
              tcp:
        """,
        "stack.yaml:5 services.gateway.health.tcp.port: required but missing",
    ),
    "external service with a log probe": (
        """
        services:
          gateway:
            external: true
            health: {log: {pattern: ready}}
        """,
        "stack.yaml:2 services.gateway: an external service cannot use a log probe (robostack does not run it)",
    ),
    "no services": (
        """
        name: robo
        services: {}
        """,
        "stack.yaml:2 services: needs at least one service",
    ),
    "services key missing": (
        """
        name: robo
        """,
        "stack.yaml:1 services: required but missing",
    ),
    "bad symbol in the file": (
        """
        symbols: [AAPL, "BRK B"]
        services:
          trader:
            command: python -m trader
        """,
        'stack.yaml:1 symbols: "BRK B" is not a symbol (letters, digits and "." only)',
    ),
    "bad environment variable name": (
        """
        services:
          trader:
            command: python -m trader
            env:
              "A=B": 1
        """,
        'stack.yaml:5 services.trader.env: "A=B" cannot be an environment variable name (empty, or contains "=")',
    ),
    "oneshot with a health probe": (
        """
        services:
          migrate:
            command: python -m migrate
            oneshot: true
            health: {tcp: {port: 5432}}
        """,
        "stack.yaml:2 services.migrate: a oneshot service has no health probe: it is done when it exits 0",
    ),
    "oneshot restarted always": (
        """
        services:
          migrate:
            command: python -m migrate
            oneshot: true
            restart: always
        """,
        'stack.yaml:2 services.migrate: a oneshot service cannot use restart: always (it exits by design); '
        'use "no" or "on-failure"',
    ),
}


@pytest.mark.parametrize("text, expected", BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_is_refused_with_one_plain_line(stack_files, text, expected):
    error = stack_files.error(text)
    assert str(error) == expected.replace("{root}", str(stack_files.root))
    assert error.exit_code == EXIT_USAGE
    assert "\n" not in str(error)


def test_error_carries_line_and_field_separately(stack_files):
    error = stack_files.error(BROKEN["unparsable duration"][0])
    assert (error.path, error.line, error.field) == ("stack.yaml", 12, "services.trader.health.interval")

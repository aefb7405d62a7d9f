"""From a validated stack file to a :class:`ResolvedStack`: substitution, argv, cwd and env.

Decisions made here, in one place:

* ``${VAR}`` and ``${VAR:-default}`` (default when unset or empty) are
  substituted in `command`, `env` values and an `exec` probe's command; ``$$`` is a literal ``$``; a bare
  ``$NAME`` is left alone (nothing runs through a shell, and regular
  expressions passed as arguments keep their ``$``). ``{symbols}`` becomes the
  comma-joined symbols.
* Variables come from the environment plus `env_file`; a name in both takes
  the env_file's value, because that is also the value the service itself
  sees (the env_file is part of its environment, merged over os.environ).
  A service's own `env` is not visible to substitution. A name listed in
  `generated_secrets` gets a fresh random value on every load (so on every
  `up`), over any other: the per-run publisher token of the default stack.
* Commands (the service's and an `exec` probe's) given as text are split into words like a shell would (shlex),
  (:mod:`launcher.stack.words`, linear in the command's length),
  then each word is substituted: a value holding spaces or quotes (a
  password) stays one argument and is never re-split. Nothing runs through a
  shell. A list is used as given, each item substituted.
* A command whose first word is ``python`` or ``python3`` runs with the
  interpreter running robostack (``sys.executable``): robostack installed in
  a venv then starts its services in the same venv without activating it,
  and never picks up whatever ``python`` happens to be first on PATH.
* `cwd` and `env_file` are relative to the folder of the stack file.
"""

from __future__ import annotations

import re
import secrets
import sys
from pathlib import Path
from typing import Callable, Mapping

from launcher.errors import UsageError
from launcher.stack.client_ids import client_id_problems
from launcher.stack.envfile import parse_env_file
from launcher.stack.model import Service, StackFile
from stackkit.symbols import validate_symbols
from launcher.stack.problems import Problems
from launcher.stack.redaction import looks_secret
from launcher.stack.resolved import ResolvedAlerts, ResolvedService, ResolvedStack
from launcher.stack.source import FieldPath, SourceDocument, read_limited_text
from launcher.stack.words import split_words

PYTHON_WORDS = ("python", "python3")
_REFERENCE = re.compile(r"(?P<dollar>\$\$)|\$\{(?P<body>[^}]*)(?P<close>\})?|(?P<symbols>\{symbols\})")
_VARIABLE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$", re.DOTALL)


def choose_symbols(requested: list[str] | None, from_file: list[str]) -> tuple[str, ...]:
    """The command line's symbols if given (validated: UsageError naming the value), else the file's."""
    if requested is None:
        return tuple(from_file)
    try:
        return tuple(validate_symbols(requested))
    except ValueError as err:
        raise UsageError(f'bad symbols "{",".join(str(s) for s in requested)}": {err}') from err


def new_secret() -> str:
    """A fresh random secret: 256 bits, URL-safe (it travels in HTTP headers)."""
    return secrets.token_urlsafe(32)


def resolve_stack(
    stack_file: StackFile,
    document: SourceDocument,
    *,
    path: Path,
    display_path: str,
    start_order: tuple[str, ...],
    symbols: tuple[str, ...],
    environ: Mapping[str, str],
    generate_secret: Callable[[], str] = new_secret,
) -> ResolvedStack:
    """Substitute and resolve every service; problems raise one StackFileError (first in file order).

    `generate_secret` makes the values of `generated_secrets` (random; tests may fix it).
    """
    problems = Problems(display_path, document)
    root = path.parent
    file_values = _env_file_values(stack_file, root, display_path, problems)
    generated = {name: generate_secret() for name in stack_file.generated_secrets}
    substituter = _Substituter({**environ, **file_values, **generated}, ",".join(symbols), problems)
    substituter.secrets.update(value for key, value in file_values.items() if looks_secret(key))
    substituter.secrets.update(generated.values())
    services = {
        name: _resolve_service(name, spec, root, file_values, substituter)
        for name, spec in stack_file.services.items()
    }
    for field_path, message in client_id_problems(services):
        problems.add(field_path, message)
    _check_http(stack_file, problems)
    alerts = _resolve_alerts(stack_file, substituter)
    problems.raise_if_any()
    return ResolvedStack(
        name=stack_file.name or root.name or "stack",
        path=path,
        symbols=symbols,
        services=services,
        start_order=start_order,
        secret_values=frozenset(secret for secret in substituter.secrets if secret),
        display_path=display_path,
        source=document,
        http=stack_file.http if stack_file.http is not None and stack_file.http.enabled else None,
        logs=stack_file.logs,
        alerts=alerts,
    )


def _check_http(stack_file: StackFile, problems: Problems) -> None:
    """An `http.feed_service` written out must name a service (the default "websocket" may be absent)."""
    http = stack_file.http
    if http is not None and "feed_service" in http.model_fields_set and http.feed_service not in stack_file.services:
        problems.add(("http", "feed_service"), f'"{http.feed_service}" names no service of this stack')


def _resolve_alerts(stack_file: StackFile, substituter: _Substituter) -> ResolvedAlerts | None:
    """`alerts:` substituted like a service's command and env; header values count as secrets."""
    spec = stack_file.alerts
    if spec is None:
        return None
    command = _argv(spec.command, ("alerts", "command"), substituter) if spec.command else None
    url = substituter.substitute(spec.url, ("alerts", "url")) if spec.url else None
    headers = {key: substituter.substitute(value, ("alerts", "headers", key)) for key, value in spec.headers.items()}
    substituter.secrets.update(value for value in headers.values() if len(value) >= 8)
    return ResolvedAlerts(spec=spec, command=command, url=url, headers=headers)


def _env_file_values(stack_file: StackFile, root: Path, display_path: str, problems: Problems) -> dict[str, str]:
    if not stack_file.env_file:
        return {}
    env_path = (root / stack_file.env_file).resolve()
    if not env_path.exists():  # a FIFO or a folder exists, and is refused in the right words when read
        raise problems.fail(("env_file",), f'env file "{stack_file.env_file}" not found (looked for {env_path})')
    env_display = str(Path(display_path).parent / stack_file.env_file)
    return parse_env_file(read_limited_text(env_path, env_display, what="env file"), env_display)


def _resolve_service(
    name: str, spec: Service, root: Path, file_values: dict[str, str], substituter: _Substituter
) -> ResolvedService:
    here: FieldPath = ("services", name)
    env = dict(file_values)
    for key, value in spec.env.items():
        env[key] = substituter.substitute(value, here + ("env", key))
        if looks_secret(key):
            substituter.secrets.add(env[key])
    env["ROBOSTACK_SYMBOLS"] = substituter.symbols_text
    env["PYTHONUNBUFFERED"] = "1"
    cwd = (root / spec.cwd).resolve()
    if not spec.external and not cwd.is_dir():
        substituter.problems.add(here + ("cwd",), f'folder "{spec.cwd}" does not exist (looked for {cwd})')
    argv = None if spec.external else _argv(spec.command or "", here + ("command",), substituter)
    probe_argv = None
    if spec.health is not None and spec.health.exec is not None:
        probe_argv = _argv(spec.health.exec.command, here + ("health", "exec", "command"), substituter)
    return ResolvedService(name=name, spec=spec, argv=argv, cwd=cwd, env=env, probe_argv=probe_argv)


def _argv(command: str | list[str], where: FieldPath, substituter: _Substituter) -> tuple[str, ...] | None:
    words = _split_command(command, substituter.problems, where)
    if words is None:
        return None
    argv = [substituter.substitute(word, where) for word in words]
    if argv and argv[0] in PYTHON_WORDS:
        argv[0] = sys.executable
    return tuple(argv)


def _split_command(command: str | list[str], problems: Problems, where: FieldPath) -> list[str] | None:
    """Words of a command: text split like a shell (no shell runs it), a list as is. None if unusable."""
    if isinstance(command, list):
        words = list(command)
    else:
        try:
            words = split_words(command)
        except ValueError as err:
            problems.add(where, f"cannot split the command into words: {str(err).lower()}")
            return None
    if not words or not words[0]:
        problems.add(where, "the command is empty")
        return None
    return words


class _Substituter:
    """Replaces ``${VAR}``, ``${VAR:-default}``, ``$$`` and ``{symbols}``; records secrets it inserts."""

    def __init__(self, variables: Mapping[str, str], symbols_text: str, problems: Problems):
        self.variables = variables
        self.symbols_text = symbols_text
        self.problems = problems
        self.secrets: set[str] = set()

    def substitute(self, text: str, where: FieldPath) -> str:
        return _REFERENCE.sub(lambda match: self._replacement(match, where), text)

    def _replacement(self, match: re.Match[str], where: FieldPath) -> str:
        if match.group("dollar"):
            return "$"
        if match.group("symbols"):
            return self.symbols_text
        reference = match.group(0)
        variable = _VARIABLE.match(match.group("body")) if match.group("close") else None
        if variable is None:
            self.problems.add(where, f'"{reference}" is not a valid reference (write ${{NAME}} or ${{NAME:-default}}, and $$ for a literal $)')
            return reference
        name, default = variable.group("name"), variable.group("default")
        value = self.variables.get(name, "")
        if value == "" and default is not None:
            return default
        if name not in self.variables:
            self.problems.add(where, f"${{{name}}} is not set (set it in the environment or the env_file, or write ${{{name}:-default}})")
            return reference
        if looks_secret(name):
            self.secrets.add(value)
        return value

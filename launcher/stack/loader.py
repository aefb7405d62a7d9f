"""Finding and loading the stack file: YAML → validated model → :class:`ResolvedStack`.

Every problem is a :class:`launcher.errors.StackFileError` whose message names
the file as the user gave it, the line and the dotted field path, e.g.
``stack.yaml:12 services.trader.health.interval: expected a duration (like 250ms, 2s, 1m), got "fast"``.
When several things are wrong, the first one in the file is reported,
followed by ``(and N more problems)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

from launcher.errors import StackFileError
from launcher.stack.model import StackFile
from launcher.stack.ordering import dependency_problems, start_order
from launcher.stack.problems import Problems
from launcher.stack.resolve import choose_symbols, new_secret, resolve_stack
from launcher.stack.resolved import ResolvedStack
from launcher.stack.source import SourceDocument, parse_yaml, read_limited_text
from launcher.stack.locate import DEFAULT_FILE_NAME, FILE_VARIABLE, find_stack_file  # noqa: F401 (re-exported)
from launcher.stack.validation import validate_stack_file

def load_stack(
    path: Path,
    *,
    symbols: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    generate_secret: Callable[[], str] = new_secret,
) -> ResolvedStack:
    """Read, validate and resolve the stack file at `path`.

    `symbols` (from the command line) override the file's `symbols`; bad ones
    raise UsageError naming the value. `environ` is where ``${VAR}`` values come
    from (default: os.environ). Raises StackFileError for anything wrong with
    the file, naming `path` as given (relative stays relative).
    """
    display_path = str(path)
    document = parse_yaml(read_limited_text(path, display_path), display_path)
    stack_file = validate_stack_file(document, display_path)
    order = _start_order(stack_file, document, display_path)
    return resolve_stack(
        stack_file,
        document,
        path=Path(path).resolve(),
        display_path=display_path,
        start_order=order,
        symbols=choose_symbols(symbols, stack_file.symbols),
        environ=os.environ if environ is None else environ,
        generate_secret=generate_secret,
    )


def _start_order(stack_file: StackFile, document: SourceDocument, display_path: str) -> tuple[str, ...]:
    depends_on = {name: service.depends_on for name, service in stack_file.services.items()}
    problems = Problems(display_path, document)
    for problem in dependency_problems(depends_on):
        field_path = ("services", problem.service, "depends_on")
        problems.add(field_path, problem.message, line_path=field_path + (problem.index,))
    problems.raise_if_any()
    return start_order(depends_on)

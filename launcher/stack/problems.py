"""Problems found in a stack file, and the error that reports them.

Every check (schema, dependencies, substitution) collects problems rather
than stopping at the first one it happens to meet. The error's first line is
the problem that comes first in the file, exactly as when it is the only one;
every other problem follows on its own line, in file order, so one edit can fix
them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from launcher.errors import StackFileError
from launcher.stack.source import FieldPath, SourceDocument, format_field_path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, dotted field) and what, in plain words."""

    message: str
    line: int | None = None
    field: str | None = None


class Problems:
    """Collects problems against one source document and raises them as one StackFileError."""

    def __init__(self, display_path: str, document: SourceDocument):
        self.display_path = display_path
        self.document = document
        self.found: list[Problem] = []

    def add(self, path: FieldPath, message: str, *, line_path: FieldPath | None = None) -> None:
        """Record a problem about the field at `path`; `line_path` points the line elsewhere (an item)."""
        line = self.document.line_of(path if line_path is None else line_path)
        self.found.append(Problem(message, line, format_field_path(path)))

    def fail(self, path: FieldPath, message: str) -> StackFileError:
        """A problem that stops everything at once (nothing after it can be checked)."""
        self.add(path, message)
        return self.error()

    def raise_if_any(self) -> None:
        """Raise every problem found, in file order."""
        if self.found:
            raise self.error()

    def error(self) -> StackFileError:
        return first_in_file_order(self.display_path, self.found)


def first_in_file_order(display_path: str, problems: list[Problem]) -> StackFileError:
    """The StackFileError naming the earliest problem, then each other one on a line of its own.

    ``stack.yaml:4 services.a.ports[0]: port 0 is out of range (1-65535)`` then, when
    there are more, ``  stack.yaml:9 services.b.stop_grace: ...`` and a count.
    """
    ordered = sorted(problems, key=lambda problem: (problem.line is None, problem.line or 0))
    first = ordered[0]
    message = first.message
    if len(ordered) > 1:
        rest = [StackFileError(display_path, p.message, line=p.line, field=p.field) for p in ordered[1:]]
        message += "".join(f"\n  {other}" for other in rest) + f"\n({len(ordered)} problems)"
    return StackFileError(display_path, message, line=first.line, field=first.field)

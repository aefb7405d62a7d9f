"""Problems found in a stack file, and the one-line error that reports them.

Every check (schema, dependencies, substitution) collects problems rather
than stopping at the first one it happens to meet; the user then sees the
problem that comes first in the file, plus how many others are waiting.
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
        """Raise the first problem in file order, counting the rest."""
        if self.found:
            raise self.error()

    def error(self) -> StackFileError:
        return first_in_file_order(self.display_path, self.found)


def first_in_file_order(display_path: str, problems: list[Problem]) -> StackFileError:
    """The StackFileError for the earliest problem; ``(and N more problems)`` counts the others."""
    ordered = sorted(problems, key=lambda problem: (problem.line is None, problem.line or 0))
    first = ordered[0]
    message = first.message
    others = len(ordered) - 1
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return StackFileError(display_path, message, line=first.line, field=first.field)

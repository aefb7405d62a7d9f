"""Schema validation of a parsed stack file, with pydantic's errors rewritten in plain words.

Pydantic reports problems as ``loc`` tuples and messages such as "Extra inputs
are not permitted". Users should instead read
``stack.yaml:7 services.trader: unknown key "bogus" (did you mean "stale"?)``:
the dotted field path, the line it is on, and what was expected.
"""

from __future__ import annotations

import difflib
import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from launcher.errors import StackFileError
from launcher.stack.model import StackFile
from launcher.stack.problems import Problems
from launcher.stack.source import FieldPath, SourceDocument

_LIST_ALLOWED_KEYS_UP_TO = 12
_KEY_TAG = "[key]"


def validate_stack_file(document: SourceDocument, display_path: str) -> StackFile:
    """Return the validated model; raise StackFileError with the first problem in file order."""
    if document.data is None:
        raise StackFileError(display_path, "the file is empty; a stack file needs at least a services: section")
    if not isinstance(document.data, dict):
        raise StackFileError(
            display_path,
            f"expected keys ({', '.join(StackFile.model_fields)}) at the top level, got {describe(document.data)}",
            line=document.line_of(()),
        )
    try:
        return StackFile.model_validate(document.data)
    except ValidationError as err:
        problems = Problems(display_path, document)
        for issue in _issues(err.errors(), document.data):
            problems.add(issue.field_path, issue.message, line_path=issue.line_path)
        raise problems.error() from err


@dataclass(frozen=True)
class _Issue:
    field_path: FieldPath  # the field named in the message
    line_path: FieldPath  # the path whose line is reported
    message: str


@dataclass(frozen=True)
class _Located:
    """A pydantic error with its loc mapped onto the data (union member names removed)."""

    error: dict[str, Any]
    path: FieldPath
    union_at: int | None  # how many path parts precede the union member name, if any
    about_key: bool  # the error is about a mapping key itself (a bad service name)


def _issues(errors: list[dict[str, Any]], data: object) -> list[_Issue]:
    located = [_locate(error, data) for error in errors]
    return [_issue(item) for item in _merge_union_branches(located)]


def _locate(error: dict[str, Any], data: object) -> _Located:
    loc = error["loc"]
    path: list[str | int] = []
    union_at: int | None = None
    about_key = False
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif error["type"] == "missing" and index == len(loc) - 1:
            current = None
        elif part == _KEY_TAG:
            about_key = True
            continue
        else:
            # A union member's name ("str", "list[str]"): not a place in the file.
            union_at = len(path) if union_at is None else union_at
            continue
        path.append(part)
    return _Located(error, tuple(path), union_at, about_key)


def _merge_union_branches(located: list[_Located]) -> list[_Located | list[_Located]]:
    """One entry per problem: a value that fits no member of a union is one problem, not one per member.

    If some member got further into the value (a list with one bad item), its
    error is the precise one; otherwise the members' expectations are merged.
    """
    entries: list[_Located | list[_Located]] = []
    groups: dict[FieldPath, list[_Located]] = {}
    for item in located:
        if item.union_at is None:
            entries.append(item)
            continue
        point = item.path[: item.union_at]
        if point not in groups:
            groups[point] = []
            entries.append(groups[point])  # keeps the group where its first member was
        groups[point].append(item)
    result: list[_Located | list[_Located]] = []
    for entry in entries:
        if not isinstance(entry, list):
            result.append(entry)
            continue
        deeper = [item for item in entry if len(item.path) > (item.union_at or 0)]
        if deeper:
            result.extend(deeper)
        else:
            result.append(entry if len(entry) > 1 else entry[0])
    return result


def _issue(entry: _Located | list[_Located]) -> _Issue:
    if isinstance(entry, list):
        expectations = " or ".join(dict.fromkeys(_expectation(item.error) for item in entry))
        path = entry[0].path[: entry[0].union_at]
        return _Issue(path, path, f"expected {expectations}, got {describe(entry[0].error['input'])}")
    error, path = entry.error, entry.path
    kind = error["type"]
    if entry.about_key:
        return _Issue(path[:-1], path, _plain_message(error, path))
    if kind == "extra_forbidden":
        return _Issue(path[:-1], path, _unknown_key(path))
    return _Issue(path, path, _plain_message(error, path))


def _plain_message(error: dict[str, Any], path: FieldPath) -> str:
    kind, value, context = error["type"], error.get("input"), error.get("ctx") or {}
    got = describe(value)
    is_port = bool(path) and (path[-1] == "port" or (len(path) > 1 and path[-2] == "ports"))
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    if kind == "missing":
        return "required but missing"
    if is_port and kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"port {got} is out of range (1-65535)"
    if is_port and kind.startswith("int_"):
        return f"expected a port number (1-65535), got {got}"
    if kind == "literal_error":
        choices = ", ".join(f'"{choice}"' for choice in re.findall(r"'([^']*)'", context.get("expected", "")))
        return f"expected one of {choices}, got {got}"
    if kind == "too_short":
        return "needs at least one service" if path == ("services",) else "must not be empty"
    bounds = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
              "greater_than": ("more than", "gt"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"expected {words} {context.get(key)}, got {got}"
    return f"expected {_expectation(error)}, got {got}"


def _expectation(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind.startswith("string_"):
        return "text"
    if kind.startswith("int_"):
        return "a whole number"
    if kind.startswith("float_"):
        return "a number"
    if kind.startswith("bool_"):
        return "true or false"
    if kind.startswith("list_"):
        return "a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "a mapping (key: value)"
    message = re.sub(r"^(Value error, |Input should be )", "", error["msg"])
    return message.split(",")[0]


def describe(value: object) -> str:
    """How a value is named in a message: quoted text, a number, or its kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f'"{value}"'


def _unknown_key(path: FieldPath) -> str:
    key = str(path[-1])
    message = f'unknown key "{key}"'
    model = _model_at(path[:-1])
    if model is None:
        return message
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.7)  # 0.6 offered "logs" for "bogus"
    if close:
        return f'{message} (did you mean "{close[0]}"?)'
    if len(allowed) <= _LIST_ALLOWED_KEYS_UP_TO:
        return f"{message} (allowed: {', '.join(allowed)})"
    return message


def _model_at(path: FieldPath) -> type[BaseModel] | None:
    """The schema model that describes the mapping at `path` (for listing its keys)."""
    annotation: Any = StackFile
    for part in path:
        model = _model_in(annotation)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        annotation = _item_type(annotation)
        if annotation is None:
            return None
    return _model_in(annotation)


def _members(annotation: Any) -> list[Any]:
    """The plain types inside Annotated[...] and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _item_type(annotation: Any) -> Any:
    for member in _members(annotation):
        if get_origin(member) is dict:
            return get_args(member)[1]
        if get_origin(member) is list:
            return get_args(member)[0]
    return None

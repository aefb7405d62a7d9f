"""Reading a stack file's YAML: plain data plus the line every value came from.

PyYAML's ``safe_load`` throws the node marks away and silently keeps the last
of two equal keys. This module composes the node tree itself so that every
key and list item keeps its line (errors downstream name it), duplicate keys
are refused, and scalars a string field expects keep the text the user wrote
(``command: [sleep, 1.10]`` stays ``"1.10"``, not the float ``1.1``).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from launcher.errors import StackFileError
from launcher.stack.locate import file_kind

FieldPath = tuple[Union[str, int], ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_FILE_SIZE = 1024 * 1024  # a stack file is a few kilobytes; parsing time and memory stay bounded
# A stack file is small; this only stops an alias bomb (`&a [*a, *a, ...]` nested) from eating memory.
_MAX_VALUES = 100_000
# A real stack file nests about 6 levels; PyYAML's composer recurses per level and would hit
# Python's recursion limit (a 3000-line RecursionError) long before anything useful.
MAX_NESTING = 64

# Fields the schema types as text. A plain scalar there that YAML would read as a number,
# boolean or date keeps its source text instead. `*` in a pattern is any one path part.
_TEXT_FIELDS = (
    "name",
    "env_file",
    "symbols.*",
    "services.*.command",
    "services.*.command.*",
    "services.*.cwd",
    "services.*.env.*",
    "services.*.depends_on.*",
    "services.*.stale.*",
    "services.*.health.exec.command",
    "services.*.health.exec.command.*",
    "services.*.health.log.pattern",
    "services.*.health.http.url",
    "services.*.health.websocket.url",
    "services.*.health.tcp.host",
    "services.*.health.ib_api.host",
)


@dataclass(frozen=True)
class SourceDocument:
    """A parsed stack file: `data` as plain dicts/lists/scalars, `lines` from field path to line (1-based)."""

    data: object
    lines: Mapping[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int | None:
        """The line of `path`, or of its nearest ancestor present in the file (a missing key's parent)."""
        for length in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:length]))
            if line is not None:
                return line
        return None


def read_limited_text(path: Path, display_path: str, *, what: str = "stack file") -> str:
    """The UTF-8 text of a regular file of at most MAX_FILE_SIZE bytes, or StackFileError saying why not.

    Opened non-blocking, so a FIFO or a device is refused at once instead of hanging.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise StackFileError(display_path, "no such file") from err
    except OSError as err:
        raise StackFileError(display_path, f"cannot read the {what}: {err.strerror or err}") from err
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise StackFileError(display_path, f"is a folder, not a {what}")
        if not stat.S_ISREG(mode):
            raise StackFileError(display_path, f"is {file_kind(Path(path))}, not a regular file")
        data = os.read(descriptor, MAX_FILE_SIZE + 1)
        while len(data) <= MAX_FILE_SIZE and (more := os.read(descriptor, MAX_FILE_SIZE + 1 - len(data))):
            data += more
    except OSError as err:
        raise StackFileError(display_path, f"cannot read the {what}: {err.strerror or err}") from err
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_SIZE:
        raise StackFileError(display_path, f"is larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB; a {what} is a few "
                             "kilobytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise StackFileError(display_path, "not UTF-8 text", line=line) from err


def format_field_path(path: FieldPath) -> str | None:
    """``("services", "gw", "ports", 1)`` → ``services.gw.ports[1]``; the root is None."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def parse_yaml(text: str, display_path: str) -> SourceDocument:
    """Parse one YAML document; syntax errors and duplicate keys raise StackFileError naming the line."""
    try:
        loader = _DepthLimitedLoader(text, display_path)
    except yaml.YAMLError as err:  # the reader refuses control characters before parsing starts
        raise _syntax_error(err, text, display_path) from err
    try:
        root = loader.get_single_node()
        if root is None:
            return SourceDocument(data=None)
        walker = _Walker(loader, display_path)
        data = walker.value(root, (), ())
        return SourceDocument(data=data, lines={(): root.start_mark.line + 1, **walker.lines})
    except yaml.YAMLError as err:
        raise _syntax_error(err, text, display_path) from err
    finally:
        loader.dispose()


def _syntax_error(err: yaml.YAMLError, text: str, display_path: str) -> StackFileError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        message = f"not valid YAML: {err.problem or err.context}"
        if err.problem and err.context and err.problem.startswith("but "):
            message = f"not valid YAML: {err.context}, {err.problem}"  # PyYAML splits one sentence in two
        elif err.problem and err.context:
            context_line = err.context_mark.line + 1 if err.context_mark else None
            message += f" ({err.context} at line {context_line})" if context_line else f" ({err.context})"
        if "'\\t'" in message:
            message += "; indent with spaces, not tabs"
        return StackFileError(display_path, message, line=line)
    position = getattr(err, "position", None)
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
    reason = getattr(err, "reason", None) or str(err).splitlines()[0]
    return StackFileError(display_path, f"not valid YAML: {reason}", line=line)


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_NESTING before its composer recurses into it."""

    def __init__(self, text: str, display_path: str):
        super().__init__(text)
        self.display_path = display_path
        self.depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:  # type: ignore[override]
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise StackFileError(self.display_path, f"nested more than {MAX_NESTING} levels deep; "
                                     "a stack file needs only a few", line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Walker:
    """Turns composed nodes into plain values, recording lines and refusing duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, display_path: str):
        self.loader = loader
        self.display_path = display_path
        self.lines: dict[FieldPath, int] = {}
        self.budget = _MAX_VALUES

    def value(self, node: Node, path: FieldPath, open_nodes: tuple[int, ...]) -> object:
        self.budget -= 1
        if self.budget < 0:
            raise self._error(node, "the file expands to too many values (nested aliases?)")
        if id(node) in open_nodes:
            raise self._error(node, "an alias refers to a value that contains it (a recursive alias)")
        if isinstance(node, MappingNode):
            return self._mapping(node, path, open_nodes + (id(node),))
        if isinstance(node, SequenceNode):
            return self._sequence(node, path, open_nodes + (id(node),))
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: FieldPath, open_nodes: tuple[int, ...]) -> dict[str, object]:
        self._refuse_unusual_tag(node, _MAP_TAG)
        self._refuse_duplicate_keys(node, path)
        self.loader.flatten_mapping(node)  # `<<: *defaults` merges; explicit keys come after and win
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            child = path + (key,)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, child, open_nodes)
        return result

    def _sequence(self, node: SequenceNode, path: FieldPath, open_nodes: tuple[int, ...]) -> list[object]:
        self._refuse_unusual_tag(node, _SEQ_TAG)
        items = []
        for index, item_node in enumerate(node.value):
            child = path + (index,)
            self.lines[child] = item_node.start_mark.line + 1
            items.append(self.value(item_node, child, open_nodes))
        return items

    def _scalar(self, node: ScalarNode, path: FieldPath) -> object:
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as err:  # int() refuses more than 4300 digits
            shown = node.value if len(node.value) <= 40 else f"{node.value[:40]}... ({len(node.value)} characters)"
            reason = "too many digits" if "digits" in str(err) else str(err)
            raise self._error(node, f'cannot read the value "{shown}": {reason}', path) from err
        if node.style is None and value is not None and not isinstance(value, str) and _expects_text(path):
            return node.value
        return value

    def _key(self, key_node: Node, path: FieldPath) -> str:
        if not isinstance(key_node, ScalarNode):
            raise self._error(key_node, "a key must be plain text, not a list or mapping", path)
        # The text as written: `no:` or `1:` are names here, not a boolean or a number.
        return key_node.value

    def _refuse_duplicate_keys(self, node: MappingNode, path: FieldPath) -> None:
        first_seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_seen:
                message = f'duplicate key "{key_node.value}" (first at line {first_seen[key_node.value]})'
                raise self._error(key_node, message, path)
            first_seen[key_node.value] = line

    def _refuse_unusual_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            raise self._error(node, f'unsupported YAML tag "{node.tag}"')

    def _error(self, node: Node, message: str, path: FieldPath = ()) -> StackFileError:
        return StackFileError(
            self.display_path, message, line=node.start_mark.line + 1, field=format_field_path(path)
        )


def _expects_text(path: FieldPath) -> bool:
    return any(_matches(path, pattern.split(".")) for pattern in _TEXT_FIELDS)


def _matches(path: FieldPath, pattern: list[str]) -> bool:
    """`*` stands for exactly one part (a service name, a list index, an env key)."""
    return len(path) == len(pattern) and all(want in ("*", part) for part, want in zip(path, pattern))

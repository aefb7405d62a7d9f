"""The log writer's status record: how the launcher learns that a service's log cannot be written.

One small file per run of a service (``<run>.status`` next to its log), written
by the writer, read by whoever wants to know (the supervisor's main loop,
``status``, ``doctor``): no socket to keep open, and it survives the
supervisor's death. It is a JSON object padded to a fixed :data:`RECORD_SIZE`
and always rewritten in place (``pwrite`` at offset 0 of blocks allocated when
the writer started), so it can still be updated when the disk is full, which is
exactly when it matters. A reader may catch a write half done: that parse fails
and it reads again.

Fields: ``pid`` of the writer; ``state``: ``writing``, ``failing`` (the last
write failed: lines are being dropped) or ``stopped`` (the service closed its
output); ``error`` (``No space left on device``) and ``errno`` of the failure;
``since`` (epoch seconds the failure began); ``dropping`` (lines dropped since
then); ``lost`` (lines lost in this run's log, all starts together); ``file``;
``updated`` (epoch seconds).
"""

from __future__ import annotations

import os

RECORD_SIZE = 512
WRITING, FAILING, STOPPED = "writing", "failing", "stopped"


def encode_record(record: dict) -> bytes:
    """`record` as JSON padded with spaces to :data:`RECORD_SIZE` bytes (a long `file` is cut, never the JSON).

    Written by hand rather than with :mod:`json`: importing json (and the `re` it
    pulls in) would double the writer's start-up time. Values are str, int, float or None.
    """
    data = _json_object(record).encode()
    if len(data) >= RECORD_SIZE:
        data = _json_object(dict(record, file=None)).encode()[: RECORD_SIZE - 1]
    return data + b" " * (RECORD_SIZE - 1 - len(data)) + b"\n"


def _json_object(record: dict) -> str:
    return "{" + ",".join(f"{_json_value(key)}:{_json_value(value)}" for key, value in record.items()) + "}"


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(char if char >= " " else f"\\u{ord(char):04x}" for char in escaped) + '"'


def lost_so_far(path: str) -> int:
    """The `lost` count of an earlier writer's record (a new start of the same run goes on counting)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(RECORD_SIZE)
    except OSError:
        return 0
    _, found, rest = data.partition(b'"lost":')
    digits = rest[: len(rest) - len(rest.lstrip(b"0123456789"))] if found else b""
    return int(digits) if digits else 0


def read_writer_status(path: str | os.PathLike, *, attempts: int = 3) -> dict | None:
    """The record at `path`, or None if there is none (no writer ran, or it could not create the file)."""
    import json

    for _ in range(attempts):
        try:
            with open(path, "rb") as handle:
                data = handle.read(RECORD_SIZE * 2)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return None
        try:
            record = json.loads(data.decode("utf-8", errors="replace").strip() or "null")
        except ValueError:
            continue  # caught mid-rewrite: read it again
        return record if isinstance(record, dict) else None
    return None


def describe_failure(record: dict | None) -> str | None:
    """One line for a writer that is failing (``log disk full: 1,234 lines dropped since ...``), else None."""
    if not record or record.get("state") != FAILING:
        return None
    error = record.get("error") or "write failed"
    dropped = record.get("dropping") or 0
    return f"cannot write its log: {error} ({dropped:,} lines dropped so far)"

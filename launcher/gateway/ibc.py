"""IBC's command server, client side: send one command, read its answer, within a deadline.

IBC (https://github.com/IbcAlpha/IBC) listens on a TCP port (7462 by default) for
one command per line: ``STOP``, ``RESTART``, ``RECONNECTDATA``, ``RECONNECTACCOUNT``,
``ENABLEAPI``, ``EXIT``. Each answer line starts with ``OK`` or ``ERROR``; ``RESTART``
answers once when it accepts and again with the time of the restart, then closes.
:func:`parse_reply` is pure; :func:`send_command` is the I/O around it. A server
that cannot be reached or does not answer in time raises :class:`IbcUnavailable`;
an ``ERROR`` is an answer, returned as a reply with ``ok`` False.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from launcher.errors import RobostackError

COMMANDS = ("STOP", "RESTART", "RECONNECTDATA", "RECONNECTACCOUNT", "ENABLEAPI", "EXIT")
MORE_LINES_GRACE = 0.3  # after the first answer line, how long a further one (RESTART's second) may take
MAX_LINES = 5
MAX_LINE = 1024


class IbcUnavailable(RobostackError):
    """IBC's command server could not be reached, or did not answer within the deadline."""


@dataclass(frozen=True)
class IbcReply:
    """IBC's answer to one command: ``ok`` unless a line said ``ERROR`` (or none said ``OK``)."""

    command: str
    ok: bool
    info: str  # the first answer's text after OK/ERROR ("RESTART in progress")
    lines: tuple[str, ...]
    seconds: float = 0.0

    def describe(self) -> str:
        """``RESTART: OK RESTART in progress; OK RESTART at 02:31 PM``."""
        return f"{self.command}: {'; '.join(self.lines) or 'no answer'}"


def parse_reply(command: str, lines: list[str] | tuple[str, ...], seconds: float = 0.0) -> IbcReply:
    """The reply a list of answer lines makes (pure)."""
    lines = tuple(line.strip() for line in lines if line.strip())
    errors = [line for line in lines if line.upper().startswith("ERROR")]
    first = errors[0] if errors else (lines[0] if lines else "")
    word, _, info = first.partition(" ")
    ok = bool(lines) and not errors and all(line.upper().startswith("OK") for line in lines)
    if lines and not ok and not errors:
        info = f"unexpected answer {first[:80]!r}"
    return IbcReply(command, ok, info.strip() if word else "", lines, seconds)


def check_command(command: str) -> str:
    """The command in IBC's spelling; ``ValueError`` for anything IBC does not know (or a second line)."""
    word = command.strip().upper()
    if word not in COMMANDS:
        raise ValueError(f"unknown IBC command {command[:40]!r} (known: {', '.join(COMMANDS)})")
    return word


async def send_command(host: str, port: int, command: str, *, timeout: float) -> IbcReply:
    """Send ``command`` and return IBC's reply; :class:`IbcUnavailable` when there is none within ``timeout``."""
    word = check_command(command)
    where = f"IBC's command server at {host}:{port}"
    started = time.monotonic()
    deadline = started + timeout
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_LINE * 4), timeout)
    except ConnectionRefusedError as err:
        raise IbcUnavailable(f"{where} refuses connections (is IBC running, with CommandServerPort={port}?)") from err
    except (OSError, asyncio.TimeoutError) as err:
        raise IbcUnavailable(f"cannot reach {where}: {getattr(err, 'strerror', None) or 'no answer'} "
                             f"within {timeout:g}s") from err
    try:
        writer.write(f"{word}\n".encode("ascii"))
        await writer.drain()
        lines = await _answer_lines(reader, deadline)
    except (OSError, asyncio.IncompleteReadError) as err:
        raise IbcUnavailable(f"{where} dropped the connection before answering {word}") from err
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, asyncio.TimeoutError):
            pass
    if not lines:
        raise IbcUnavailable(f"{where} did not answer {word} within {timeout:g}s")
    return parse_reply(word, lines, time.monotonic() - started)


async def _answer_lines(reader: asyncio.StreamReader, deadline: float) -> list[str]:
    """The first line by the deadline, then any more that follow promptly, until IBC closes."""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        wait = deadline - time.monotonic() if not lines else min(MORE_LINES_GRACE, deadline - time.monotonic())
        if wait <= 0:
            break
        try:
            raw = await asyncio.wait_for(reader.readline(), wait)
        except (asyncio.TimeoutError, ValueError):  # ValueError: a line over the reader's limit
            break
        if not raw:
            break
        lines.append(raw[:MAX_LINE].decode("utf-8", errors="replace"))
    return lines

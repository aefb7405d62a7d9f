"""The ``exec`` probe: healthy when ``command`` exits 0 within the timeout.

The command is the one `robostack config` shows: resolved exactly like the
service's own (``${VAR}`` and ``{symbols}`` substituted, ``python`` meaning
robostack's interpreter), handed over in the probe context. It runs without a
shell, in its own session (so everything it starts can be killed as one group),
in the service's folder with the service's extra environment over the launcher's. Whatever is left of its process group when it
exits or times out is killed: a probe leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, format_seconds
from launcher.stack.model import ExecCheck

_TAIL_BYTES = 4096  # only the end of the output is kept: the detail shows its last line
_DRAIN_GRACE = 0.2  # seconds to collect output still in the pipe once the command has exited
_SHOWN_LINE = 160


def command_argv(command: str | list[str]) -> list[str]:
    """A string is split like a shell would (no shell runs it); a list is used as is."""
    return shlex.split(command) if isinstance(command, str) else list(command)


def last_line(output: bytes) -> str:
    """The last non-blank line of the output, shortened for a detail line."""
    for line in reversed(output.decode("utf-8", errors="replace").splitlines()):
        if line.strip():
            return line.strip()[:_SHOWN_LINE]
    return ""


class _CheckProtocol(asyncio.SubprocessProtocol):
    """Keeps the last few KiB of the command's output and signals its exit.

    ``Process.wait()`` would also wait for the output pipe to close, which a
    background child of the command can hold open forever; the exit itself is
    what counts here.
    """

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        while len(self.chunks) > 1 and self.size - len(self.chunks[0]) >= _TAIL_BYTES:
            self.size -= len(self.chunks.popleft())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.output_closed.set()

    def process_exited(self) -> None:
        self.exited.set()

    def output(self) -> bytes:
        return b"".join(self.chunks)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except asyncio.TimeoutError:
        return False


@bounded_probe("exec")
async def probe_exec(check: ExecCheck, timeout: float, context: ProbeContext) -> ProbeResult:
    """Run the command (as resolved with the stack, else ``check.command``) and report its exit and last line."""
    started = time.monotonic()
    argv = list(context.command) if context.command is not None else command_argv(check.command)
    if not argv:
        return ProbeResult(False, "exec", "exec probe has an empty command", 0.0)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            _CheckProtocol, *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=context.cwd, env={**os.environ, **context.env}, start_new_session=True)
    except FileNotFoundError:
        if context.cwd is not None and not Path(context.cwd).is_dir():
            detail = f"exec probe folder {context.cwd} does not exist"
        else:
            detail = f"command not found: {argv[0]}"
        return ProbeResult(False, "exec", detail, time.monotonic() - started)
    except OSError as err:
        detail = f"cannot run {argv[0]}: {err.strerror or err}"
        return ProbeResult(False, "exec", detail, time.monotonic() - started)
    try:
        finished = await _wait(protocol.exited, timeout)
        # In its own session the command's pid is its group id. That number stays
        # reserved while any member of the group lives, and pids are handed out
        # cyclically, so it cannot name someone else's group a moment after the exit.
        _kill_group(transport.get_pid())
        await _wait(protocol.exited, _DRAIN_GRACE)
        await _wait(protocol.output_closed, _DRAIN_GRACE)
        code = transport.get_returncode() if finished else None
    except asyncio.CancelledError:  # the gate's startup_timeout ran out first: the command goes all the same
        _kill_group(transport.get_pid())
        raise
    finally:
        transport.close()
    return _result(argv, code, last_line(protocol.output()), timeout, time.monotonic() - started)


def _result(argv: list[str], code: int | None, line: str, timeout: float, latency: float) -> ProbeResult:
    said = f": {line}" if line else " (no output)"
    facts = {"exit_code": code, "last_line": line}
    name = os.path.basename(argv[0])
    if code == 0:
        return ProbeResult(True, "exec", f"{name} exited 0{said}", latency, facts)
    if code is None:
        return ProbeResult(False, "exec", f"{name} still running after {format_seconds(timeout)}, killed{said}",
                           latency, facts)
    if code < 0:
        return ProbeResult(False, "exec", f"{name} killed by {_signal_name(-code)}{said}", latency, facts)
    return ProbeResult(False, "exec", f"{name} exited {code}{said}", latency, facts)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"

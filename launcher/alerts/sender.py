"""Delivering one alert: run a command, or POST JSON to a URL; each bounded by a timeout, never raising.

The command gets the alert as JSON on stdin and as ``ROBOSTACK_ALERT_*``
variables (``_STACK``, ``_SERVICE``, ``_EVENT``, ``_TITLE``, ``_DETAIL``); it runs
without a shell, in its own process group, which is killed at the timeout. The
POST is plain HTTP/1.1 (TLS for ``https://``, certificates verified), no
proxies, no redirects followed; a 2xx answer is a success. Either way the
result is a :class:`Delivery`: what happened in one line, secrets never in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import time
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence
from urllib.parse import urlsplit

from launcher.alerts.config import shown_url
from launcher.probes.base import describe_connect_error
from launcher.probes.http import build_request, parse_status_line

_OUTPUT_SHOWN = 200


@dataclass(frozen=True)
class Delivery:
    """How one delivery went: `ok`, and one line saying so."""

    ok: bool
    detail: str
    seconds: float


class Sender(Protocol):
    name: str

    async def send(self, payload: dict) -> Delivery:
        """Deliver `payload` (the alert's JSON object)."""


class CommandSender:
    """Runs `argv` with the alert as JSON on stdin."""

    def __init__(self, argv: Sequence[str], timeout: float, environ: Mapping[str, str] | None = None) -> None:
        self.argv = tuple(argv)
        self.timeout = timeout
        self.environ = dict(os.environ if environ is None else environ)
        self.name = f"command {os.path.basename(self.argv[0])}"

    async def send(self, payload: dict) -> Delivery:
        started = time.monotonic()
        env = dict(self.environ)
        for key in ("stack", "service", "event", "title", "detail"):
            env[f"ROBOSTACK_ALERT_{key.upper()}"] = str(payload.get(key, ""))
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as err:
            return Delivery(False, f"could not run {self.argv[0]}: {err.strerror or err}", time.monotonic() - started)
        try:
            output, _ = await asyncio.wait_for(process.communicate(json.dumps(payload).encode() + b"\n"), self.timeout)
        except asyncio.TimeoutError:
            _kill_group(process.pid)
            await process.wait()
            return Delivery(False, f"{self.name} did not finish within {self.timeout:g}s (killed)",
                            time.monotonic() - started)
        finally:
            if process.returncode is None:
                _kill_group(process.pid)
                await process.wait()
        elapsed = time.monotonic() - started
        if process.returncode == 0:
            return Delivery(True, f"{self.name} ran in {elapsed:.2f}s", elapsed)
        said = " ".join(output.decode("utf-8", errors="replace").split())[:_OUTPUT_SHOWN]
        return Delivery(False, f"{self.name} exited with code {process.returncode}" + (f": {said}" if said else ""),
                        elapsed)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class HttpSender:
    """POSTs the alert as JSON to `url` with `headers`."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        self.url = url
        self.headers = dict(headers)
        self.timeout = timeout
        self.name = f"POST {shown_url(url)}"

    async def send(self, payload: dict) -> Delivery:
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(self._post(json.dumps(payload).encode()), self.timeout)
        except asyncio.TimeoutError:
            return Delivery(False, f"{self.name}: no answer within {self.timeout:g}s", time.monotonic() - started)
        except (OSError, ValueError, UnicodeError, asyncio.IncompleteReadError) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            return Delivery(False, f"{self.name}: {reason}", time.monotonic() - started)
        elapsed = time.monotonic() - started
        return Delivery(200 <= status < 300, f"{self.name}: HTTP {status} in {elapsed:.2f}s", elapsed)

    async def _post(self, body: bytes) -> int:
        parts = urlsplit(self.url)
        secure = parts.scheme == "https"
        host, port = parts.hostname or "", parts.port or (443 if secure else 80)
        context = ssl.create_default_context() if secure else None
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                           server_hostname=host if secure else None)
        except OSError as err:
            raise ValueError(describe_connect_error(err, host, port, self.timeout)) from err
        try:
            headers = {"Content-Type": "application/json", **self.headers}
            if any(char in text for item in headers.items() for text in item for char in "\r\n"):
                raise ValueError("a header contains a line break")
            writer.write(build_request(parts, method="POST", body=body, headers=headers, agent="robostack-alerts"))
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise ValueError("connection closed before an answer")
            return parse_status_line(status_line)
        finally:
            writer.close()

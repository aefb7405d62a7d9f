"""What each path answers: a parsed request and a :class:`StackView` in, a response out.

No sockets here; the server writes what these return. `/api/stream` is the one
long-lived answer: it returns a :class:`StreamRequest` that the server carries out.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any, Callable

from launcher.errors import NotRunningError
from launcher.output.logs import last_lines
from launcher.stack.redaction import Redactor
from launcher.web import metrics, page
from launcher.web.http11 import HttpError, Request, Response
from launcher.web.metrics import HEALTHY_STATES
from launcher.web.provider import StackView

JSON = "application/json"
DEFAULT_EVENTS, MAX_EVENTS = 100, 1000
DEFAULT_LOG_LINES, MAX_LOG_LINES = 100, 2000
MAX_LOG_LINE_CHARS = 4000
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STATIC_FILES = ("dashboard.js", "dashboard.css")


@dataclass(frozen=True)
class StreamRequest:
    """`GET /api/stream`: status changes and new events as server-sent events, from `since` on."""

    since: int | None


Handler = Callable[[Request, StackView], Any]


async def answer(request: Request, view: StackView) -> Response | StreamRequest:
    """Route one request; unknown paths get 404, bad parameters 400 (HttpError)."""
    path = request.path
    if path.startswith("/api/logs/"):
        return await _logs(request, view, path[len("/api/logs/"):])
    if path.startswith("/static/"):
        return _static(request, path[len("/static/"):])
    handler = ROUTES.get(path)
    if handler is None:
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such path {path}; see / for the dashboard, /api/status, "
                                              "/api/events, /api/logs/SERVICE, /api/stream, /metrics, /healthz, /readyz")
    return await handler(request, view)


def json_response(document: Any, status: HTTPStatus = HTTPStatus.OK) -> Response:
    return Response(status, (json.dumps(document) + "\n").encode("utf-8"), JSON)


def _params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown query parameter {unknown[0]!r} (accepted: {accepted})")
    return request.query


def int_param(query: dict[str, str], name: str, default: int | None, low: int, high: int | None) -> int | None:
    """A whole-number parameter within [low, high]; HttpError 400 naming it otherwise."""
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 18:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a whole number, got {text[:40]!r}")
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f"at least {low}"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be {bound}, got {value}")
    return value


async def _healthz(request: Request, view: StackView) -> Response:
    _params(request, ())
    if view.supervisor_alive():
        return json_response({"status": "ok"})
    return json_response({"status": "down", "reason": "the stack's supervisor is not running"},
                         HTTPStatus.SERVICE_UNAVAILABLE)


def readiness(status: dict[str, Any], alive: bool) -> list[str]:
    """Why the stack is not ready (empty when every service is healthy under a live supervisor)."""
    reasons = [] if alive else ["the stack's supervisor is not running"]
    if alive and status.get("phase") != "running":
        reasons.append(f"the stack is {status.get('phase')}")
    for service in status.get("services", []):
        if service.get("state") not in HEALTHY_STATES:
            why = f" ({service['reason']})" if service.get("reason") else ""
            reasons.append(f"{service['name']}: {service.get('state')}{why}")
    return reasons


async def _readyz(request: Request, view: StackView) -> Response:
    _params(request, ())
    try:
        reasons = readiness(view.status(), view.supervisor_alive())
    except NotRunningError as err:
        reasons = [str(err)]
    if reasons:
        return json_response({"ready": False, "reasons": reasons}, HTTPStatus.SERVICE_UNAVAILABLE)
    return json_response({"ready": True, "reasons": []})


async def _status(request: Request, view: StackView) -> Response:
    _params(request, ())
    try:
        return json_response(view.status())
    except NotRunningError as err:
        return json_response({"error": str(err)}, HTTPStatus.SERVICE_UNAVAILABLE)


async def _events(request: Request, view: StackView) -> Response:
    query = _params(request, ("since", "limit"))
    since = int_param(query, "since", None, 0, None)
    limit = int_param(query, "limit", DEFAULT_EVENTS, 1, MAX_EVENTS)
    timeline = view.timeline(since, limit)
    return json_response({"events": [entry.event for entry in timeline.entries], "next": timeline.next_cursor,
                          "more": timeline.more})


async def _graph(request: Request, view: StackView) -> Response:
    _params(request, ())
    return json_response(page.graph_document(view.stack))


async def _stream(request: Request, view: StackView) -> StreamRequest:
    query = _params(request, ("since",))
    since = int_param(query, "since", None, 0, None)
    last_id = request.header("last-event-id")
    if last_id and last_id.isdigit() and len(last_id) <= 18:
        since = int(last_id)  # a reconnecting EventSource resumes where it stopped
    return StreamRequest(since)


async def _metrics(request: Request, view: StackView) -> Response:
    _params(request, ())
    text = metrics.render(await view.samples())
    return Response(HTTPStatus.OK, text.encode("utf-8"), metrics.CONTENT_TYPE)


async def _logs(request: Request, view: StackView, service: str) -> Response:
    query = _params(request, ("lines",))
    count = int_param(query, "lines", DEFAULT_LOG_LINES, 1, MAX_LOG_LINES)
    path = view.log_path(service)
    if path is None:
        known = [name for name in view.stack.services if view.log_path(name) is not None]
        raise HttpError(HTTPStatus.NOT_FOUND, f"no log for {service[:40]!r}; services with logs: {', '.join(known)}")
    return json_response({"service": service, "lines": await _masked_tail(view, path, count)})


_tails: dict[tuple[str, int], tuple[tuple[int, int, int], list[str]]] = {}
_TAILS_KEPT = 32


async def _masked_tail(view: StackView, path, count: int) -> list[str]:
    """The last `count` lines, cut and masked; an unchanged file is not read and masked again (open pages
    ask for the same tail every few seconds, and masking 200 lines costs milliseconds)."""
    try:
        info = os.stat(path)
        version = (info.st_ino, info.st_size, info.st_mtime_ns)
    except OSError:
        version = None
    kept = _tails.get((str(path), count))
    if version is not None and kept is not None and kept[0] == version:
        return kept[1]
    lines = await asyncio.to_thread(last_lines, path, count)
    shown = Redactor.for_stack(view.stack).mask_data([line[:MAX_LOG_LINE_CHARS] for line in lines])
    if version is not None:
        _tails.pop((str(path), count), None)
        _tails[(str(path), count)] = (version, shown)
        while len(_tails) > _TAILS_KEPT:
            _tails.pop(next(iter(_tails)))
    return shown


async def _page(request: Request, view: StackView) -> Response:
    _params(request, ())
    html = page.render_page(view)
    return Response(HTTPStatus.OK, html.encode("utf-8"), "text/html; charset=utf-8",
                    headers={"Content-Security-Policy": page.content_security_policy(view.stack)})


async def _favicon(request: Request, view: StackView) -> Response:
    # The page declares no icon; browsers still ask for this one when they show the JSON answers.
    return Response(HTTPStatus.NO_CONTENT)


_static_cache: dict[str, bytes] = {}


def _static(request: Request, name: str) -> Response:
    _params(request, ())
    if name not in STATIC_FILES:
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such file /static/{name[:40]}")
    if name not in _static_cache:
        _static_cache[name] = resources.files("launcher.web").joinpath("static", name).read_bytes()
    content_type = STATIC_TYPES[name[name.rfind("."):]]
    return Response(HTTPStatus.OK, _static_cache[name], content_type)


ROUTES: dict[str, Handler] = {
    "/": _page,
    "/healthz": _healthz,
    "/readyz": _readyz,
    "/api/status": _status,
    "/api/events": _events,
    "/api/graph": _graph,
    "/api/stream": _stream,
    "/metrics": _metrics,
    "/favicon.ico": _favicon,
}

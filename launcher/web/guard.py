"""Who may read the API: pages of this machine only, under this machine's names.

The server listens on loopback, but a browser on the same machine will send requests
there on behalf of any web site. Two defences, both on request headers, before routing:

* **Host** must be a loopback name (127.0.0.1, localhost, [::1], with any port). A
  DNS-rebinding page on evil.example whose name now resolves to 127.0.0.1 still sends
  ``Host: evil.example`` and is refused.
* **Origin** (sent by browsers on script requests, EventSource and cross-site navigations),
  when present, must be a loopback origin; ``Sec-Fetch-Site: cross-site`` without one is
  refused too. A page elsewhere cannot read the API, even though the answer is read-only.
"""

from __future__ import annotations

from http import HTTPStatus

from launcher.web.http11 import HttpError, Request
from stackkit.loopback import is_loopback_authority, is_loopback_origin


def check_request_source(request: Request) -> None:
    """Raise HttpError (400 or 403) unless the request comes for, and from, this machine."""
    host = request.header("host")
    if host is None:
        raise HttpError(HTTPStatus.BAD_REQUEST, "a Host header is required")
    if not is_loopback_authority(host):
        raise HttpError(HTTPStatus.FORBIDDEN, f"Host {_clip(host)!r} is not a loopback name; "
                                              "open the dashboard as http://127.0.0.1:PORT/")
    origin = request.header("origin")
    if origin is not None and not is_loopback_origin(origin):
        raise HttpError(HTTPStatus.FORBIDDEN, f"requests from origin {_clip(origin)!r} are refused: "
                                              "only pages served from this machine may read this API")
    if request.header("sec-fetch-site") == "cross-site" and origin is None:
        raise HttpError(HTTPStatus.FORBIDDEN, "cross-site requests are refused: open the dashboard directly")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."

"""`GET /`: the dashboard page, rendered on the server with the stack's current state.

The HTML carries everything the page needs to start (the graph, the last events, the
symbols, the trading feed's URL in ``data-feed``); /static/dashboard.js then keeps it
live from `/api/stream` (the stack) and the WebSocket server (the trading loop). No inline
script or style, so the Content-Security-Policy can forbid both; nothing is loaded from
anywhere but this server and the feed.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import urlsplit

from launcher.errors import NotRunningError
from launcher.output.status import format_uptime
from launcher.stack.model import HttpSettings
from launcher.stack.resolved import ResolvedStack
from launcher.web.graph import layout, render_svg
from launcher.web.provider import StackView

INITIAL_EVENTS = 50
DEFAULT_SETTINGS = HttpSettings()


def feed_url(stack: ResolvedStack) -> str | None:
    """The WebSocket URL of the trading feed: `http.feed`, else the `feed_service`'s first port on 127.0.0.1."""
    settings = stack.http or DEFAULT_SETTINGS
    if settings.feed:
        return settings.feed
    service = stack.services.get(settings.feed_service)
    if service is None or not service.ports:
        return None
    return f"ws://127.0.0.1:{service.ports[0]}/"


def gateways(stack: ResolvedStack) -> list[str]:
    """Services that speak the TWS API (their condition is shown on its own)."""
    return [name for name, svc in stack.services.items() if svc.health is not None and svc.health.kind == "ib_api"]


def graph_document(stack: ResolvedStack) -> dict[str, Any]:
    """`GET /api/graph`: the services, what each depends on and how it is probed (nothing secret)."""
    return {"stack": stack.name, "feed": feed_url(stack), "start_order": list(stack.start_order),
            "services": [{"name": name, "depends_on": svc.depends_on, "ports": svc.ports, "external": svc.external,
                          "probe": svc.health.kind if svc.health else None} for name, svc in stack.services.items()]}


def content_security_policy(stack: ResolvedStack) -> str:
    """Scripts, styles and connections from this server only, plus the feed's WebSocket origin."""
    connect = ["'self'"]
    url = feed_url(stack)
    if url:
        parts = urlsplit(url)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {' '.join(connect)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def node_lines(service: dict[str, Any], now: float | None = None) -> dict[str, str]:
    """The state and the two text lines of a graph node (the script writes the same ones later)."""
    parts = []
    if service.get("pid"):
        parts.append(f"pid {service['pid']}")
    if service.get("uptime") is not None:
        parts.append(f"up {format_uptime(service['uptime'])}")
    restarts = service.get("restarts") or 0
    parts.append(f"{restarts} restart{'' if restarts == 1 else 's'}")
    probe = service.get("health") or {}
    if probe:
        moment = now if now is not None else time.time()
        ago = f", {format_uptime(max(0.0, moment - probe['at']))} ago" if probe.get("at") else ""
        latency = f" {probe['latency'] * 1000:.1f}ms" if probe.get("latency") is not None else ""
        probe_text = f"probe {'ok' if probe.get('ok') else 'failed'}{latency}{ago}"
    else:
        probe_text = "no probe yet"
    return {"state": service.get("state") or "unknown", "meta": " · ".join(parts), "probe": probe_text}


def render_page(view: StackView) -> str:
    stack = view.stack
    try:
        status: dict[str, Any] | None = view.status()
    except NotRunningError:
        status = None
    services = {s["name"]: node_lines(s) for s in (status or {}).get("services", [])}
    svg = render_svg(layout({name: stack.services[name].depends_on for name in stack.start_order}), services)
    timeline = view.timeline(None, INITIAL_EVENTS)
    symbols = (status or {}).get("symbols") or list(stack.symbols)
    loggable = [name for name in stack.start_order if view.log_path(name) is not None]
    body_data = {"feed": feed_url(stack) or "", "events-cursor": str(timeline.next_cursor),
                 "gateways": ",".join(gateways(stack)), "stack": stack.name}
    attributes = " ".join(f'data-{key}="{escape(value)}"' for key, value in body_data.items())
    return _TEMPLATE.format(
        stack=escape(stack.name), attributes=attributes, svg=svg,
        gateways="".join(_gateway_row(name, status) for name in gateways(stack)) or
        '<p class="muted">this stack has no TWS API service</p>',
        quotes="".join(_quote_card(symbol) for symbol in symbols),
        events="".join(_event_item(entry.event) for entry in reversed(timeline.entries)),
        log_options="".join(f'<option value="{escape(n)}">{escape(n)}</option>' for n in loggable),
        feed=escape(feed_url(stack) or "no trading feed configured"))


def _gateway_row(name: str, status: dict[str, Any] | None) -> str:
    service = next((s for s in (status or {}).get("services", []) if s["name"] == name), {})
    condition = service.get("condition") or "not reported by this supervisor"
    if isinstance(condition, dict):  # the supervisor's GatewayCondition.to_dict(): the same text the script shows
        condition = condition.get("name") or condition.get("state") or "unknown"
    return (f'<div class="gw" id="gw-{escape(name)}"><b>{escape(name)}</b> '
            f'<span class="gw-state">{escape(str(service.get("state", "unknown")))}</span>'
            f'<span class="gw-condition">{escape(str(condition))}</span>'
            f'<span class="gw-trader muted"></span></div>')


def _quote_card(symbol: str) -> str:
    name = escape(symbol)
    return (f'<div class="quote" id="quote-{name}" data-symbol="{name}" data-ticks="0">'
            f'<div class="q-head"><b>{name}</b><span class="q-last">—</span><span class="q-change"></span></div>'
            '<div class="q-bidask muted">no quotes yet</div><canvas class="q-chart" width="300" height="64"></canvas>'
            '</div>')


def _event_item(event: dict[str, Any]) -> str:
    moment = str(event.get("time", ""))[11:19]
    return (f'<li class="ev ev-{escape(str(event.get("event", "")))}"><time>{escape(moment)}</time>'
            f'<b>{escape(event.get("service") or "stack")}</b> <span class="ev-name">{escape(str(event.get("event")))}'
            f'</span> <span class="ev-reason">{escape(str(event.get("reason", "")))}</span></li>')


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>robostack · {stack}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body {attributes}>
<header>
  <h1>robostack <span class="stack-name">{stack}</span></h1>
  <div class="links"><span id="stack-link" class="pill">stack: connecting</span>
  <span id="feed-link" class="pill">feed: connecting</span></div>
</header>
<div id="banners"><p id="stack-banner" class="banner" hidden></p><p id="feed-banner" class="banner" hidden></p></div>
<main>
<div class="column">
<section id="services" class="card"><h2>Services <span id="phase" class="muted"></span></h2>{svg}</section>
<section id="gateway" class="card"><h2>Gateway</h2>{gateways}</section>
<section id="timeline" class="card"><h2>Events</h2><ol id="events">{events}</ol></section>
</div>
<div class="column">
<section id="quotes" class="card"><h2>Quotes <span id="feed-note" class="muted"></span></h2>
  <div id="quote-cards">{quotes}</div><p class="muted small">feed: <span id="feed-url">{feed}</span></p></section>
<section id="trading" class="card">
  <h2>Orders</h2><div class="scroll"><table id="orders"><thead><tr><th>time</th><th>symbol</th><th>side</th><th>qty</th>
  <th>type</th><th>price</th><th>status</th><th>id</th></tr></thead><tbody><tr class="empty"><td colspan="8">no orders yet</td></tr></tbody></table></div>
  <h2>Fills</h2><div class="scroll"><table id="fills"><thead><tr><th>time</th><th>symbol</th><th>side</th><th>qty</th>
  <th>price</th><th>order</th></tr></thead><tbody><tr class="empty"><td colspan="6">no fills yet</td></tr></tbody></table></div>
  <h2>Positions</h2><div class="scroll"><table id="positions"><thead><tr><th>account</th><th>symbol</th><th>position</th>
  <th>avg cost</th></tr></thead><tbody><tr class="empty"><td colspan="4">no positions yet</td></tr></tbody></table></div>
  <h2>PnL</h2><div class="scroll"><table id="pnl"><thead><tr><th>account</th><th>symbol</th><th>daily</th><th>unrealized</th>
  <th>realized</th></tr></thead><tbody><tr class="empty"><td colspan="5">no PnL yet</td></tr></tbody></table></div>
</section>
</div>
<section id="logs" class="card"><h2>Log <select id="log-service" aria-label="service">{log_options}</select></h2>
  <pre id="log-lines" class="log">loading…</pre></section>
</main>
</body>
</html>
"""

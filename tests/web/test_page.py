"""The page's pure parts: the graph layout and SVG, node text, escaping."""

from __future__ import annotations

import re

from launcher.web.graph import NODE_H, layers, layout, render_svg
from launcher.output.status import format_uptime
from launcher.web.page import _event_item, node_lines

DEFAULT = {"gateway": [], "websocket": ["gateway"], "trader": ["gateway", "websocket"]}


def test_layers_put_every_service_below_its_deepest_dependency():
    assert layers(DEFAULT) == {"gateway": 0, "websocket": 1, "trader": 2}
    assert layers({"a": [], "b": [], "c": ["a", "b"]}) == {"a": 0, "b": 0, "c": 1}


def test_layout_places_layers_top_down_and_siblings_side_by_side():
    graph = layout({"a": [], "b": [], "c": ["a", "b"]})
    assert graph.nodes["a"].y == graph.nodes["b"].y < graph.nodes["c"].y
    assert graph.nodes["a"].x < graph.nodes["b"].x
    assert graph.height >= 2 * NODE_H
    assert graph.edges == [("a", "c"), ("b", "c")]


def test_an_edge_skipping_a_layer_bows_around_the_node_between():
    graph = layout(DEFAULT)
    svg = render_svg(graph, {})
    skip = re.search(r'data-from="gateway" data-to="trader" d="([^"]+)"', svg)[1]
    numbers = [float(n) for n in re.findall(r"-?\d+\.?\d*", skip)]
    right_edge = graph.nodes["websocket"].x + 220
    assert max(numbers[::2]) > right_edge  # the curve passes right of the websocket box
    assert graph.width > right_edge


def test_nodes_carry_their_state_and_text_escaped():
    svg = render_svg(layout({"a<b": []}), {"a<b": {"state": "healthy", "meta": "x & y", "probe": "<ok>"}})
    assert 'id="node-a&lt;b"' in svg and 'data-state="healthy"' in svg
    assert "x &amp; y" in svg and "&lt;ok&gt;" in svg and "<ok>" not in svg


def test_node_lines_say_pid_uptime_restarts_and_the_last_probe():
    lines = node_lines({"state": "healthy", "pid": 42, "uptime": 75.2, "restarts": 1,
                        "health": {"ok": True, "latency": 0.0021, "at": 1000.0}}, now=1003.4)
    assert lines == {"state": "healthy", "meta": "pid 42 · up 1m15s · 1 restart", "probe": "probe ok 2.1ms, 3s ago"}
    assert node_lines({"state": "stopped", "restarts": 0})["probe"] == "no probe yet"


def test_durations_are_the_uptimes_status_shows():
    assert [format_uptime(s) for s in (5, 61, 3700, 90000)] == ["5s", "1m01s", "1h01m", "1d01h"]


def test_event_items_escape_what_services_wrote():
    item = _event_item({"time": "2026-01-01T10:11:12.000+00:00", "service": "trader", "event": "exited",
                        "reason": "<script>alert(1)</script>"})
    assert "<script>" not in item and "&lt;script&gt;" in item and "10:11:12" in item

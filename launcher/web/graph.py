"""The stack's dependency graph, laid out in layers and drawn as SVG (pure).

Layer 0 holds the services that depend on nothing; every other service sits one layer
below its deepest dependency, so every edge points down. An edge that skips a layer
(the trader depends on the Gateway *and* the WebSocket server) bows out to the right
instead of crossing the box in between. Nodes carry ids and classes that the page's
script updates in place: ``node-<service>``, ``.n-state``, ``.n-meta``, ``.n-probe``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Mapping, Sequence

NODE_W, NODE_H = 220, 78
GAP_X, GAP_Y = 24, 44
MARGIN = 8
BOW = 56  # room on the right for edges that skip a layer


@dataclass(frozen=True)
class Node:
    name: str
    layer: int
    x: float
    y: float


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]  # (dependency, dependent)
    width: float
    height: float


def layers(depends_on: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each service's layer: 0 without dependencies, else one more than its deepest dependency.

    `depends_on` is in start order (every dependency before its dependents), as the stack's is.
    """
    depth: dict[str, int] = {}
    for name, dependencies in depends_on.items():
        depth[name] = 1 + max((depth.get(dep, 0) for dep in dependencies), default=-1)
    return depth


def layout(depends_on: Mapping[str, Sequence[str]]) -> Layout:
    """Positions for every service, each layer centred; edges from dependency to dependent."""
    depth = layers(depends_on)
    rows: dict[int, list[str]] = {}
    for name in depends_on:
        rows.setdefault(depth[name], []).append(name)
    widest = max((len(row) for row in rows.values()), default=0)
    inner = widest * NODE_W + max(widest - 1, 0) * GAP_X
    skips = any(depth[dependent] - depth[dep] > 1 for dependent, deps in depends_on.items() for dep in deps)
    width = inner + 2 * MARGIN + (BOW if skips else 0)
    nodes = {}
    for level, row in rows.items():
        row_width = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = MARGIN + (inner - row_width) / 2
        for index, name in enumerate(row):
            nodes[name] = Node(name, level, left + index * (NODE_W + GAP_X), MARGIN + level * (NODE_H + GAP_Y))
    height = 2 * MARGIN + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    edges = [(dep, name) for name, deps in depends_on.items() for dep in deps if dep in nodes]
    return Layout(nodes, edges, width, height)


def edge_path(source: Node, target: Node) -> str:
    """SVG path data: straight down to the next layer, or a bow to the right past the layers between."""
    if target.layer - source.layer <= 1:
        x1, y1 = source.x + NODE_W / 2, source.y + NODE_H
        x2, y2 = target.x + NODE_W / 2, target.y
        middle = (y1 + y2) / 2
        return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2 - 4:.1f}"
    x1, y1 = source.x + NODE_W, source.y + NODE_H / 2
    x2, y2 = target.x + NODE_W, target.y + NODE_H / 2
    reach = max(x1, x2) + BOW - 8
    return f"M{x1:.1f},{y1:.1f} C{reach:.1f},{y1:.1f} {reach:.1f},{y2:.1f} {x2 + 4:.1f},{y2:.1f}"


def render_svg(graph: Layout, services: Mapping[str, Mapping[str, Any]]) -> str:
    """The graph as inline SVG; `services` gives each node's initial state and text lines."""
    parts = [f'<svg id="graph" viewBox="0 0 {graph.width:.0f} {graph.height:.0f}" width="{graph.width:.0f}" '
             f'height="{graph.height:.0f}" role="img" '
             f'aria-label="services and their dependencies" xmlns="http://www.w3.org/2000/svg">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>']
    for dependency, dependent in graph.edges:
        parts.append(f'<path class="edge" data-from="{escape(dependency)}" data-to="{escape(dependent)}" '
                     f'd="{edge_path(graph.nodes[dependency], graph.nodes[dependent])}" marker-end="url(#arrow)"/>')
    for node in graph.nodes.values():
        info = services.get(node.name, {})
        state = str(info.get("state") or "unknown")
        parts.append(
            f'<g id="node-{escape(node.name)}" class="node state-{escape(state)}" data-service="{escape(node.name)}" '
            f'data-state="{escape(state)}" transform="translate({node.x:.1f},{node.y:.1f})">'
            f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="10"/>'
            f'<circle class="dot" cx="18" cy="20" r="6"/>'
            f'<text class="n-name" x="32" y="25">{escape(node.name)}</text>'
            f'<text class="n-state" x="{NODE_W - 12}" y="25" text-anchor="end">{escape(state)}</text>'
            f'<text class="n-meta" x="14" y="48">{escape(str(info.get("meta", "")))}</text>'
            f'<text class="n-probe" x="14" y="67">{escape(str(info.get("probe", "")))}</text>'
            '</g>')
    parts.append("</svg>")
    return "".join(parts)

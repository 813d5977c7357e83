"""The flow's DAG as plain data, its layered layout, and a static SVG rendering of it.

:func:`graph_of` turns a ``FlowModel.to_json()`` into nodes and edges (what the inline widget
syncs and the frontend draws with dagre); :func:`render_svg` lays them out in layers (a
longest-path layering with barycentre ordering, enough for a static picture) and draws them as
SVG for frontends without a widget manager (VS Code without widgets, nbviewer, GitHub).
Step names, labels and error texts are untrusted: every text goes through ``html.escape``.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from typing import Any

from .runsummary import switch_choice

STATUS_COLOURS: dict[str, tuple[str, str]] = {
    # state: (fill, stroke)
    "queued": ("#eeeeee", "#9e9e9e"),
    "running": ("#bbdefb", "#1976d2"),
    "done": ("#c8e6c9", "#388e3c"),
    "failed": ("#ffcdd2", "#d32f2f"),
    "skipped": ("#f5f5f5", "#bdbdbd"),
    "stale": ("#ffe0b2", "#f57c00"),
}
DEFAULT_COLOURS = ("#ffffff", "#616161")
ERROR_STROKE = "#d32f2f"

NODE_HEIGHT = 40
LAYER_GAP = 56
NODE_GAP = 28
CHAR_WIDTH = 7.2
MIN_NODE_WIDTH = 80
DUMMY_WIDTH = 8
MARGIN = 16


def graph_of(model: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``{"nodes": [...], "edges": [...]}`` of a ``FlowModel.to_json()``.

    A node: ``{"name", "cell_id", "cell_index", "kind", "is_join", "decorators", "errors",
    "cases"}`` where ``kind`` is the step's transition kind (``linear``, ``split``, ``foreach``,
    ``switch``, ``num_parallel``) or ``end``; ``errors`` are the model's error messages located
    in the step's cell; ``cases`` maps a switch's case values to targets (None for other kinds).
    An edge: ``{"source", "target", "kind", "label"}``; ``label`` is the foreach artifact or the
    switch case (None otherwise). Edges to unknown steps are dropped
    (the model reports them as errors).
    """
    steps = model.get("steps", [])
    names = {s["name"] for s in steps}
    errors_by_cell: dict[Any, list[str]] = {}
    for error in model.get("errors", []):
        errors_by_cell.setdefault(error.get("cell_id") or error.get("cell_index"), []).append(
            error["message"]
        )
    nodes, edges = [], []
    for s in steps:
        transition = s.get("transition")
        kind = "end" if transition is None else transition["kind"]
        nodes.append(
            {
                "name": s["name"],
                "cell_id": s.get("cell_id"),
                "cell_index": s.get("cell_index"),
                "kind": kind,
                "is_join": bool(s.get("is_join")),
                "decorators": list(s.get("decorators", [])),
                "errors": errors_by_cell.get(s.get("cell_id") or s.get("cell_index"), []),
                "cases": (transition or {}).get("cases") if kind == "switch" else None,
            }
        )
        if transition is None:
            continue
        labels: dict[str, str] = {}
        if transition["kind"] == "switch":
            for case, target in (transition.get("cases") or {}).items():
                labels.setdefault(target, case)
        for target in transition["targets"]:
            if target not in names:
                continue
            label = (
                transition.get("foreach") if transition["kind"] == "foreach" else labels.get(target)
            )
            edges.append(
                {"source": s["name"], "target": target, "kind": transition["kind"], "label": label}
            )
    return {"nodes": nodes, "edges": edges}


@dataclass
class Box:
    """A laid-out node: centre ``x``/``y``, ``width``/``height``, ``layer`` and ``order``."""

    x: float
    y: float
    width: float
    height: float
    layer: int
    order: int


@dataclass
class Layout:
    """Boxes of the steps, bend points of edges that span several layers, drawing size."""

    boxes: dict[str, Box]
    bends: dict[tuple[str, str], list[tuple[float, float]]]
    width: float
    height: float


def layout(graph: dict[str, list[dict[str, Any]]]) -> Layout:
    """Layered top-down layout (Sugiyama-style, kept simple).

    Layer = longest path from a source node (back edges of a cycle are ignored); an edge that
    spans several layers gets a narrow placeholder in each layer it crosses (its bend points),
    so it is routed beside the boxes; the order within a layer starts in notebook order and is
    refined by two barycentre sweeps.
    """
    names = [n["name"] for n in graph["nodes"]]
    parents: dict[str, list[str]] = {n: [] for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    edges = _acyclic_edges(names, graph["edges"])
    for a, b in edges:
        parents[b].append(a)
        children[a].append(b)
    layer: dict[str, int] = {}
    for name in _topological(names, parents, children):
        layer[name] = max((layer[p] + 1 for p in parents[name]), default=0)
    # placeholders for long edges
    chains: dict[tuple[str, str], list[str]] = {}
    for a, b in edges:
        if layer[b] - layer[a] > 1:
            chain = [f"\0{a}\0{b}\0{k}" for k in range(layer[a] + 1, layer[b])]
            for k, dummy in zip(range(layer[a] + 1, layer[b]), chain):
                layer[dummy] = k
            path = [a, *chain, b]
            children[a] = [path[1] if c == b else c for c in children[a]]
            parents[b] = [path[-2] if p == a else p for p in parents[b]]
            for up, node, down in zip(path, path[1:], path[2:]):
                parents[node], children[node] = [up], [down]
            chains[(a, b)] = chain
    everything = names + [d for chain in chains.values() for d in chain]
    index = {name: i for i, name in enumerate(everything)}
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name in everything:
        layers[layer[name]].append(name)
    position = {name: float(i) for i, name in enumerate(everything)}
    for _ in range(2):
        for rank in layers[1:]:
            _sort_by_barycentre(rank, parents, position, index)
        for rank in reversed(layers[:-1]):
            _sort_by_barycentre(rank, children, position, index)
    widths = {n: max(MIN_NODE_WIDTH, len(n) * CHAR_WIDTH + 24) for n in names}
    widths.update({d: DUMMY_WIDTH for chain in chains.values() for d in chain})
    row_widths = [sum(widths[n] for n in rank) + NODE_GAP * (len(rank) - 1) for rank in layers]
    total_width = max(row_widths, default=0) + 2 * MARGIN
    placed: dict[str, Box] = {}
    for r, rank in enumerate(layers):
        x = (total_width - row_widths[r]) / 2
        for order, name in enumerate(rank):
            w = widths[name]
            placed[name] = Box(
                x + w / 2,
                MARGIN + r * (NODE_HEIGHT + LAYER_GAP) + NODE_HEIGHT / 2,
                w,
                NODE_HEIGHT,
                r,
                order,
            )
            x += w + NODE_GAP
    total_height = 2 * MARGIN + len(layers) * NODE_HEIGHT + max(len(layers) - 1, 0) * LAYER_GAP
    bends = {edge: [(placed[d].x, placed[d].y) for d in chain] for edge, chain in chains.items()}
    return Layout({n: placed[n] for n in names}, bends, total_width, total_height)


def _acyclic_edges(names: list[str], edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The edges without the back edges a depth-first walk in notebook order finds."""
    out: dict[str, list[str]] = {n: [] for n in names}
    for e in edges:
        if e["source"] in out and e["target"] in out and e["target"] not in out[e["source"]]:
            out[e["source"]].append(e["target"])
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    kept: list[tuple[str, str]] = []
    for (
        name
    ) in names:  # an explicit stack: a chain of thousands of steps exceeds Python's recursion limit
        if name in state:
            continue
        state[name] = 1
        stack = [(name, iter(out[name]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    continue  # back edge
                kept.append((node, child))
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(out[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return kept


def _topological(
    names: list[str], parents: dict[str, list[str]], children: dict[str, list[str]]
) -> list[str]:
    waiting = {n: len(parents[n]) for n in names}
    ready = [n for n in names if waiting[n] == 0]
    ordered: list[str] = []
    while ready:
        node = ready.pop(0)
        ordered.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return ordered


def _sort_by_barycentre(
    rank: list[str],
    neighbours: dict[str, list[str]],
    position: dict[str, float],
    index: dict[str, int],
) -> None:
    def key(name: str) -> tuple[float, int]:
        around = [position[n] for n in neighbours[name]]
        return (sum(around) / len(around) if around else position[name], index[name])

    rank.sort(key=key)
    for i, name in enumerate(rank):
        position[name] = float(i)


def _status_line(status: dict[str, Any] | None) -> str:
    if not status:
        return ""
    parts = [status.get("state", "")]
    if status.get("num_splits"):
        done = status.get("done_splits")
        if done is not None:
            parts.append(f"{len(done)}/{status['num_splits']}")
    if status.get("duration_ms") is not None:
        parts.append(_duration(status["duration_ms"]))
    return " · ".join(p for p in parts if p)


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


def render_svg(
    graph: dict[str, list[dict[str, Any]]],
    status: dict[str, dict[str, Any]] | None = None,
    title: str | None = None,
) -> str:
    """The DAG as a standalone ``<svg>`` (every text escaped); ``status`` maps step ->
    step_status."""
    status = status or {}
    placed = layout(graph)
    boxes, width, height = placed.boxes, placed.width, placed.height
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="jp-mf-DagSvg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{esc(title or 'Metaflow DAG')}</title>",
        '<defs><marker id="mf-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#757575"/>'
        "</marker></defs>",
    ]
    for e in graph["edges"]:
        a, b = boxes.get(e["source"]), boxes.get(e["target"])
        if a is None or b is None:
            continue
        x1, y1 = a.x, a.y + a.height / 2
        x2, y2 = b.x, b.y - b.height / 2
        if b.layer <= a.layer:  # a back edge (cycle): route around the right side
            right = max(a.x + a.width / 2, b.x + b.width / 2) + 16
            path = (
                f"M{a.x + a.width / 2:.1f},{a.y:.1f} L{right:.1f},{a.y:.1f} "
                f"L{right:.1f},{b.y:.1f} L{b.x + b.width / 2:.1f},{b.y:.1f}"
            )
        else:
            points = [(x1, y1)]
            for bx, by in placed.bends.get((e["source"], e["target"]), []):
                points += [(bx, by - NODE_HEIGHT / 2), (bx, by + NODE_HEIGHT / 2)]
            points.append((x2, y2))
            path = f"M{x1:.1f},{y1:.1f}"
            for (px, py), (qx, qy) in itertools.pairwise(points):
                if px == qx:
                    path += f" L{qx:.1f},{qy:.1f}"
                else:
                    mid = (py + qy) / 2
                    path += f" C{px:.1f},{mid:.1f} {qx:.1f},{mid:.1f} {qx:.1f},{qy:.1f}"
        dash = ' stroke-dasharray="4 3"' if e["kind"] == "foreach" else ""
        out.append(
            f'<path class="jp-mf-DagSvg-edge" d="{path}" fill="none" stroke="#757575" '
            f'stroke-width="1.5"{dash} marker-end="url(#mf-arrow)"/>'
        )
        if e.get("label"):
            out.append(
                f'<text x="{(x1 + x2) / 2 + 4:.1f}" y="{(y1 + y2) / 2:.1f}" fill="#616161" '
                f'font-size="10">{esc(str(e["label"]))}</text>'
            )
    for node in graph["nodes"]:
        box = boxes[node["name"]]
        st = status.get(node["name"])
        fill, stroke = STATUS_COLOURS.get((st or {}).get("state", ""), DEFAULT_COLOURS)
        if node.get("errors"):
            stroke = ERROR_STROKE
        state = esc((st or {}).get("state", "none"), quote=True)
        out.append(
            f'<g class="jp-mf-DagSvg-node" data-step="{esc(node["name"], quote=True)}" '
            f'data-state="{state}">'
        )
        tooltip = "\n".join(
            [node["name"], *node.get("errors", []), (st or {}).get("error") or ""]
        ).strip()
        out.append(f"<title>{esc(tooltip)}</title>")
        out.append(
            f'<rect x="{box.x - box.width / 2:.1f}" y="{box.y - box.height / 2:.1f}" '
            f'width="{box.width:.1f}" height="{box.height:.1f}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2 if node.get("errors") else 1.5}"/>'
        )
        line = _status_line(st)
        runs = {name: st.get("run_id") for name, st in status.items()}
        choice = switch_choice(node["name"], node.get("cases"), runs)
        if choice is not None:
            line += f" · → {choice}"
        name_y = box.y - 3 if line else box.y + 4
        out.append(
            f'<text x="{box.x:.1f}" y="{name_y:.1f}" text-anchor="middle" fill="#212121" '
            f'font-weight="bold">{esc(node["name"])}</text>'
        )
        if line:
            out.append(
                f'<text x="{box.x:.1f}" y="{box.y + 12:.1f}" text-anchor="middle" fill="#424242" '
                f'font-size="10">{esc(line)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def render_html(
    graph: dict[str, list[dict[str, Any]]],
    status: dict[str, dict[str, Any]] | None = None,
    title: str | None = None,
    errors: list[str] | None = None,
) -> str:
    """``render_svg`` wrapped in a ``<div>`` with the flow's title and its errors, as text."""
    esc = html.escape
    parts = ['<div class="jp-mf-DagStatic">']
    if title:
        parts.append(f'<div style="font-weight:bold;margin-bottom:4px">{esc(title)}</div>')
    if graph["nodes"]:
        parts.append(render_svg(graph, status, title))
    else:
        parts.append("<div>No step cells yet: add a <code>%%step start</code> cell.</div>")
    for message in errors or []:
        parts.append(f'<div style="color:#d32f2f;white-space:pre-wrap">{esc(message)}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_text(
    graph: dict[str, list[dict[str, Any]]],
    status: dict[str, dict[str, Any]] | None = None,
    title: str | None = None,
) -> str:
    """A plain-text summary: one line per step with its successors and state."""
    status = status or {}
    lines = [f"{title or 'Flow'}: {len(graph['nodes'])} steps"]
    successors: dict[str, list[str]] = {}
    for e in graph["edges"]:
        successors.setdefault(e["source"], []).append(e["target"])
    for node in graph["nodes"]:
        line = f"  {node['name']}"
        if successors.get(node["name"]):
            line += " -> " + ", ".join(successors[node["name"]])
        state = _status_line(status.get(node["name"]))
        if state:
            line += f"  [{state}]"
        lines.append(line)
    return "\n".join(lines)

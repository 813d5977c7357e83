"""``text/html`` and ``text/plain`` renderings of a ``%mf_show`` bundle's JSON data.

For frontends without the extension (Notebook 7, VS Code, nbviewer, GitHub). Every value
is escaped with :func:`html.escape`; objects' own HTML (estimators, ``_repr_html_``) is
not included here, only their parameters and text.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

_STYLE = "font-family:var(--jp-code-font-family,monospace);font-size:12px"


def html(data: dict[str, Any]) -> str:
    """Static, escaped HTML for one bundle."""
    parts = [f'<div class="jp-mf-show-fallback" style="{_STYLE}">', _header_html(data)]
    parts.extend(_BODY_HTML.get(data["kind"], _no_body)(data))
    parts.extend(f"<p><i>{escape(n)}</i></p>" for n in data.get("notes", []))
    parts.append("</div>")
    return "".join(parts)


def text(data: dict[str, Any]) -> str:
    """A plain-text summary for one bundle."""
    header = data["header"]
    lines = [f"{header.get('title', '')}  ({_describe(header)})"]
    lines.extend(_BODY_TEXT.get(data["kind"], lambda d: [])(data))
    lines.extend(data.get("notes", []))
    return "\n".join(lines)


def _describe(header: dict[str, Any]) -> str:
    facts = []
    if header.get("type"):
        facts.append(header["type"])
    if header.get("size") is not None:
        facts.append(human_bytes(header["size"]))
    if header.get("pathspec"):
        facts.append(header["pathspec"])
    return ", ".join(facts)


def human_bytes(count: int) -> str:
    """``1.5 MB`` style sizes."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _header_html(data: dict[str, Any]) -> str:
    header = data["header"]
    return (
        f"<div><b>{escape(str(header.get('title', '')))}</b> "
        f'<span style="opacity:.7">{escape(_describe(header))}</span></div>'
    )


def _table(head: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    cells = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _pre(content: str) -> str:
    return f"<pre>{escape(content)}</pre>"


def _png(image: dict[str, Any]) -> str:
    return f'<img alt="artifact image" src="data:image/png;base64,{escape(image["png"])}"/>'


# -- artifact views --------------------------------------------------------------------------
def view_html(v: dict[str, Any]) -> list[str]:
    """HTML for one view dict (see ``views.py``)."""
    kind = v["kind"]
    if kind == "dataframe":
        head = [v["index_name"] or ""] + [f"{c} ({t})" for c, t in zip(v["columns"], v["dtypes"])]
        rows = _frame_rows(v)
        out = [
            f"<p>{v['shape'][0]:,} rows \u00d7 {v['shape'][1]:,} columns</p>",
            _table(head, rows),
        ]
        if v["columns_omitted"]:
            out.append(f"<p>{v['columns_omitted']:,} more columns</p>")
        return out
    if kind == "ndarray":
        out = [f"<p>shape {escape(str(tuple(v['shape'])))}, dtype {escape(v['dtype'])}</p>"]
        if v.get("stats"):
            out.append(_table(v["stats"].keys(), [v["stats"].values()]))
        if v.get("image"):
            out.append(_png(v["image"]))
        out.append(_pre(v["preview"]))
        return out
    if kind == "image":
        return [f"<p>{escape(v.get('detail', ''))}</p>", _png(v["image"])]
    if kind == "estimator":
        return [_pre(v["text"]), _table(["parameter", "value"], v["params"])]
    if kind == "text":
        return [f"<p>{escape(v['type'])} of length {v['length']:,}</p>", _pre(v["preview"])]
    if kind == "tree":
        return [_pre("\n".join(_tree_lines(v["root"], 0)))]
    if kind == "rich" and v.get("image"):
        return [_png(v["image"]), _pre(v["text"])]
    return [_pre(v.get("text", ""))]


def _frame_rows(v: dict[str, Any]) -> list[list[str]]:
    head, tail = v["head"], v["tail"]
    rows = [[i, *cells] for i, cells in zip(head["index"], head["cells"])]
    if tail["cells"]:
        gap = tail["start"] - head["start"] - len(head["cells"])
        if gap > 0:
            rows.append([f"\u2026 {gap:,} rows"] + [""] * len(v["columns"]))
        rows.extend([i, *cells] for i, cells in zip(tail["index"], tail["cells"]))
    return rows


def _tree_lines(node: dict[str, Any], depth: int, key: str | None = None) -> list[str]:
    pad = "  " * depth
    label = f"{key}: " if key is not None else ""
    if "entries" not in node:
        return [f"{pad}{label}{node['text']}"]
    lines = [f"{pad}{label}{node['type']} ({node['length']:,})"]
    for entry in node["entries"]:
        lines.extend(_tree_lines(entry["value"], depth + 1, entry["key"]))
    if node.get("omitted"):
        lines.append(f"{pad}  \u2026 {node['omitted']:,} more")
    return lines


def _view_text(v: dict[str, Any]) -> list[str]:
    kind = v["kind"]
    if kind == "dataframe":
        lines = [
            f"{v['shape'][0]:,} rows x {v['shape'][1]:,} columns",
            "columns: " + ", ".join(f"{c} ({t})" for c, t in zip(v["columns"], v["dtypes"])),
        ]
        lines.extend("  ".join(row) for row in _frame_rows(v))
        return lines
    if kind == "ndarray":
        return [
            f"shape {tuple(v['shape'])}, dtype {v['dtype']}",
            f"stats {v.get('stats')}",
            v["preview"],
        ]
    if kind == "image":
        return [f"image {v.get('detail', '')}"]
    if kind == "text":
        return [f"{v['type']} of length {v['length']:,}", v["preview"]]
    if kind == "tree":
        return _tree_lines(v["root"], 0)
    if kind == "estimator":
        return [v["text"]]
    return [v.get("text", "")]


# -- bundle kinds ----------------------------------------------------------------------------
def _no_body(data: dict[str, Any]) -> list[str]:
    return []


def _artifact_html(data: dict[str, Any]) -> list[str]:
    return view_html(data["view"])


def _split_caption(split: dict[str, Any]) -> str:
    """``[1] · c_values = 0.01 · float``: which split, what its foreach gave it, the type."""
    given = split.get("input")
    parts = [split["label"]] + ([f"{given['var']} = {given['value']}"] if given else [])
    return " \u00b7 ".join([*parts, split["type"]])


def _splits_html(data: dict[str, Any]) -> list[str]:
    out = []
    for split in data["splits"]:
        out.append(f"<p><b>{escape(_split_caption(split))}</b></p>")
        out.extend(view_html(split["view"]))
    if data["omitted"]:
        out.append(f"<p>{data['omitted']:,} more tasks</p>")
    return out


def _step_html(data: dict[str, Any]) -> list[str]:
    out = []
    if len(data["tasks"]) > 1:
        out.append(
            _table(
                ["task", "position", "status"],
                [
                    [t["task"], t["label"], "ok" if t["successful"] else "not successful"]
                    for t in data["tasks"]
                ],
            )
        )
    out.append(f"<p>artifacts of {escape(data['artifacts_of'])}</p>")
    out.append(
        _table(
            ["name", "type", "size", "preview"],
            [
                [
                    a["name"],
                    a["type"] or "",
                    human_bytes(a["size"]) if a["size"] is not None else "",
                    a["preview"],
                ]
                for a in data["artifacts"]
            ],
        )
    )
    return out


def _run_html(data: dict[str, Any]) -> list[str]:
    header = data["header"]
    return [
        f"<p>{escape(header['status'])}, started {escape(str(header['created_at']))}</p>",
        _table(
            ["step", "tasks", "status", "artifacts"],
            [
                [s["step"], s["tasks"], s["status"], ", ".join(s["artifacts"])]
                for s in data["steps"]
            ],
        ),
    ]


def _diff_html(data: dict[str, Any]) -> list[str]:
    return [
        f"<p>{data['unchanged']:,} artifacts unchanged</p>",
        _table(["step", "artifact", "status", "A", "B"], _diff_rows(data)),
    ]


def _diff_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for row in data["rows"]:
        where = row["step"] + (row["split"] or "")
        if "changes" in row:
            a = "; ".join(f"{k}={x}" for k, x, _ in row["changes"])
            b = "; ".join(f"{k}={y}" for k, _, y in row["changes"])
        else:
            a, b = row.get("value_a", row.get("note", "")), row.get("value_b", "")
        rows.append([where, row["artifact"], row["status"], a, b])
    return rows


_BODY_HTML = {
    "artifact": _artifact_html,
    "splits": _splits_html,
    "step": _step_html,
    "task": _step_html,
    "run": _run_html,
    "diff": _diff_html,
}

_BODY_TEXT = {
    "artifact": lambda d: _view_text(d["view"]),
    "splits": lambda d: [
        f"{_split_caption(s)}: " + " | ".join(_view_text(s["view"])[:2]) for s in d["splits"]
    ],
    "step": lambda d: [f"{a['name']}: {a['type'] or '?'} {a['preview']}" for a in d["artifacts"]],
    "task": lambda d: [f"{a['name']}: {a['type'] or '?'} {a['preview']}" for a in d["artifacts"]],
    "run": lambda d: [
        f"{s['step']}: {s['status']}, {s['tasks']} task(s), " + ", ".join(s["artifacts"])
        for s in d["steps"]
    ],
    "diff": lambda d: (
        [f"{d['unchanged']:,} unchanged"] + ["  ".join(map(str, r)) for r in _diff_rows(d)]
    ),
}

"""The inline DAG: layered layout and static SVG (escaped), the DagWidget's mime bundle, and
``%mf_dag`` in a real kernel updating while steps run; the fallback saved by nbclient."""

from __future__ import annotations

import itertools
import re
from typing import ClassVar

import headless
import nbformat
import pytest
from sync_helpers import Frontend, cell

from jupyter_metaflow import cells as cellrules
from jupyter_metaflow import dag
from jupyter_metaflow.assembly import FlowModel, assemble
from jupyter_metaflow.events import StepEvent
from jupyter_metaflow.session import NotebookSession
from jupyter_metaflow.sync import FlowSync
from jupyter_metaflow.widget import MODULE_NAME, MODULE_VERSION, DagWidget, static_bundle

PAYLOAD = '<img src=x onerror="alert(1)">'

BRANCH = [
    "%%step start\nself.next(self.left, self.right)",
    "%%step left\nself.v = 1\nself.next(self.join)",
    "%%step right\nself.v = 2\nself.next(self.join)",
    "%%step join\nself.total = sum(i.v for i in inputs)",
    "%%step end",
]


def model_of(sources: list[str], tags: dict[int, tuple[str, ...]] | None = None) -> FlowModel:
    tags = tags or {}
    return assemble(
        [
            cellrules.CellInput(i, f"c{i}", "code", s, tags.get(i, ()))
            for i, s in enumerate(sources)
        ],
        "branch.ipynb",
    )


def test_layout_puts_steps_in_layers_without_overlap():
    graph = dag.graph_of(model_of(BRANCH).to_json())
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [
        ("start", "left"),
        ("start", "right"),
        ("left", "join"),
        ("right", "join"),
        ("join", "end"),
    ]
    placed = dag.layout(graph)
    boxes, width, height = placed.boxes, placed.width, placed.height
    assert {n: b.layer for n, b in boxes.items()} == {
        "start": 0,
        "left": 1,
        "right": 1,
        "join": 2,
        "end": 3,
    }
    left, right = boxes["left"], boxes["right"]
    assert left.x + left.width / 2 < right.x - right.width / 2  # side by side, no overlap
    assert boxes["start"].y < left.y < boxes["join"].y < boxes["end"].y
    assert all(b.x - b.width / 2 >= 0 and b.x + b.width / 2 <= width for b in boxes.values())
    assert all(b.y + b.height / 2 <= height for b in boxes.values())


def test_long_edges_bend_around_the_boxes_in_between():
    graph = dag.graph_of(
        model_of(
            [
                "%%step start\nself.next(self.a, self.end)",
                "%%step a\nself.next(self.b)",
                "%%step b\nself.next(self.end)",
                "%%step end\npass",
            ]
        ).to_json()
    )
    placed = dag.layout(graph)
    ((bx, _),) = placed.bends[("start", "end")][:1]
    assert len(placed.bends[("start", "end")]) == 2  # it crosses the layers of a and b
    for step in ("a", "b"):
        box = placed.boxes[step]
        assert not box.x - box.width / 2 <= bx <= box.x + box.width / 2


def test_layout_survives_a_cycle():
    graph = dag.graph_of(
        model_of(
            ["%%step start\nself.next(self.a)", "%%step a\nself.next(self.start)", "%%step end"]
        ).to_json()
    )
    boxes = dag.layout(graph).boxes
    assert set(boxes) == {"start", "a", "end"}
    assert boxes["a"].layer == boxes["start"].layer + 1
    assert "<path" in dag.render_svg(graph)


def test_static_svg_shows_states_and_escapes_every_text():
    model = model_of(BRANCH).to_json()
    status = {
        "start": {"state": "done", "duration_ms": 1500.0},
        "left": {"state": "failed", "error": PAYLOAD},
        "join": {"state": "running", "num_splits": 4, "done_splits": [2]},
    }
    errors = [
        {
            "code": "lint",
            "cell_index": None,
            "cell_id": None,
            "line": None,
            "message": PAYLOAD,
            "fix": "",
        }
    ]
    html = dag.render_html(dag.graph_of({**model, "errors": errors}), status, PAYLOAD, [PAYLOAD])
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    states = dict(re.findall(r'data-step="(\w+)" data-state="(\w+)"', html))
    assert states == {
        "start": "done",
        "left": "failed",
        "right": "none",
        "join": "running",
        "end": "none",
    }
    assert "done · 1.5 s" in html and "running · 1/4" in html
    assert html.count("<svg") == 1 and 'xmlns="http://www.w3.org/2000/svg"' in html


def test_static_svg_shows_the_case_a_switch_took():
    model = model_of(
        [
            "%%step start\nself.mode = 'fast'\n"
            "self.next({'fast': self.quick, 'slow': self.careful}, condition='mode')",
            "%%step quick\nself.next(self.end)",
            "%%step careful\nself.next(self.end)",
            "%%step end",
        ]
    ).to_json()
    assert model["errors"] == []
    status = {
        "start": {"state": "done", "run_id": "5"},
        "quick": {"state": "done", "run_id": "5"},
        "careful": {"state": "done", "run_id": "4"},
    }
    assert "done · → fast" in dag.render_svg(dag.graph_of(model), status)


def test_widget_bundle_has_the_view_the_static_svg_and_text():
    session = NotebookSession()
    sync = FlowSync(session)
    session.add_listener(sync.on_step_event)  # what FlowSync.install does in a kernel
    sync.on_flow({"path": "branch.ipynb", "cells": [cell(i, s) for i, s in enumerate(BRANCH)]})
    widget = DagWidget(sync)
    assert (widget._model_module, widget._model_module_version) == (MODULE_NAME, MODULE_VERSION)
    assert [s["name"] for s in widget.model["steps"]] == ["start", "left", "right", "join", "end"]
    session._emit(StepEvent("running", step="left", flow="BranchFlow", run_id="7"))
    assert widget.status["left"]["state"] == "running" and widget.run_id == "7"
    bundle = widget._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    assert 'data-step="left" data-state="running"' in bundle["text/html"]
    assert bundle["text/plain"].splitlines()[:3] == [
        "BranchFlow: 5 steps",
        "  start -> left, right",
        "  left -> join  [running]",
    ]
    assert static_bundle(sync)["text/html"] == bundle["text/html"]
    widget.close()
    session._emit(StepEvent("done", step="left", flow="BranchFlow", run_id="7"))
    assert widget.status["left"]["state"] == "running"  # a closed widget no longer listens


@pytest.mark.kernel
def test_mf_dag_widget_updates_while_steps_run(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "self.items = [1, 2]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(2, "import time\ntime.sleep(0.2)\nself.w = self.input", ("step:work",)),
        cell(3, "self.ws = [i.w for i in inputs]", ("step:join",)),
        cell(4, "pass", ("step:end",)),
    ]
    fe.send("flow", {"path": "live.ipynb", "cells": cells})
    fe.wait("flow_model")
    shown = fe.run_cell("%mf_dag", "c-dag")
    assert shown["content"]["status"] == "ok"
    opened = [
        m
        for m in kernel.iopub
        if m["msg_type"] == "comm_open"
        and m["content"]["target_name"] == "jupyter.widget"
        and m["content"]["data"]["state"].get("_model_name") == "DagWidgetModel"
    ]
    assert len(opened) == 1
    state = opened[0]["content"]["data"]["state"]
    assert (
        state["_model_module"] == "jupyter-metaflow" and state["_model_module_version"] == "^0.1.0"
    )
    assert [s["name"] for s in state["model"]["steps"]] == ["start", "work", "join", "end"]
    widget_comm = opened[0]["content"]["comm_id"]
    (display,) = [
        m
        for m in kernel.iopub
        if m["msg_type"] == "display_data" and m["parent_header"]["msg_id"] == shown["msg_id"]
    ]
    data = display["content"]["data"]
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == widget_comm
    assert "<svg" in data["text/html"] and "LiveFlow: 4 steps" in data["text/plain"]

    for c in cells[1:3]:
        reply = fe.run_cell(c["source"], c["id"])
        assert reply["content"]["status"] == "ok", fe.output_text(reply["msg_id"])
    # the widget got the split states during the work cell's execution, in order
    updates = [
        m["content"]["data"]["state"]["status"]["work"]
        for m in kernel.iopub
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == widget_comm
        and m["parent_header"]["msg_id"] == reply["msg_id"]
        and "work" in m["content"]["data"].get("state", {}).get("status", {})
    ]
    seen = [(u["state"], u.get("split_index"), len(u.get("done_splits", []))) for u in updates]
    assert ("running", 0, 0) in seen and ("running", 1, 1) in seen and seen[-1] == ("done", 1, 2)
    assert seen.index(("running", 0, 0)) < seen.index(("running", 1, 1))
    assert updates[-1]["duration_ms"] >= 400  # both splits (0.2 s each), not the last one only

    static = fe.run_cell("%mf_dag --static")
    (display,) = [
        m
        for m in kernel.iopub
        if m["msg_type"] == "display_data" and m["parent_header"]["msg_id"] == static["msg_id"]
    ]
    assert set(display["content"]["data"]) == {"text/html", "text/plain"}
    assert 'data-step="work" data-state="done"' in display["content"]["data"]["text/html"]

    # re-running the %mf_dag cell replaces its widget: the old one closes and stops listening
    again = fe.run_cell("%mf_dag", "c-dag")
    assert any(
        m["msg_type"] == "comm_close" and m["content"]["comm_id"] == widget_comm
        for m in kernel.iopub
        if m["parent_header"].get("msg_id") == again["msg_id"]
    )


@pytest.mark.kernel
def test_headless_runs_get_the_static_dag_redrawn_to_the_final_states(tmp_path):
    """No jupyter-metaflow frontend: %mf_dag shows the SVG picture and redraws it in place
    (update_display_data), so the saved notebook shows the final states in nbconvert/nbviewer."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_metaflow"),
        nbformat.v4.new_code_cell("%mf_dag"),
        nbformat.v4.new_code_cell("self.x = 1", metadata={"tags": ["step:start"]}),
        nbformat.v4.new_code_cell("print(self.x)", metadata={"tags": ["step:end"]}),
    ]
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    headless.execute(nb, path, timeout=120)
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    (output,) = saved.cells[1].outputs
    assert set(output["data"]) == {"text/html", "text/plain"}
    html = output["data"]["text/html"]
    assert (
        'data-step="start" data-state="done"' in html
        and 'data-step="end" data-state="done"' in html
    )
    assert output["data"]["text/plain"].startswith("SavedFlow: 2 steps")
    body, _ = HTMLExporter().from_notebook_node(saved)  # what nbviewer serves
    nodes = re.findall(r'<g class="jp-mf-DagSvg-node"[^>]*>', body)
    assert sorted(
        re.search(r'data-step="(\w+)"', g)[1] + ":" + re.search(r'data-state="(\w+)"', g)[1]
        for g in nodes
    ) == ["end:done", "start:done"]


@pytest.mark.kernel
def test_mf_dag_with_an_unreadable_line_says_so(ip):
    result = ip.run_cell('%mf_dag "--static')  # was a raw ValueError traceback from shlex
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "%mf_dag: cannot read '\"--static': No closing quotation" in str(result.error_in_exec)


def test_static_dag_of_thousands_of_chained_steps():
    """%mf_dag --static and the widget's text/html draw long chains (a recursive walk raised
    RecursionError above about 1,000 steps)."""
    names = ["start"] + [f"s{i}" for i in range(3000)] + ["end"]
    sources = [f"%%step {a}\nself.next(self.{b})" for a, b in itertools.pairwise(names)] + [
        "%%step end"
    ]
    graph = dag.graph_of(model_of(sources).to_json())
    placed = dag.layout(graph)
    assert placed.boxes["end"].layer == len(names) - 1
    assert dag.render_html(graph).count("<g") >= len(names)
    assert "s2999" in dag.render_text(graph)


def test_stale_marks_survive_a_notebook_that_cannot_be_read_now(monkeypatch):
    """Walking the graph for the steps after a changed one: when the notebook cannot be read
    at that moment, the last graph read is used (the marks were silently dropped)."""
    session = NotebookSession()
    sync = FlowSync(session)
    sync.on_flow({"path": "branch.ipynb", "cells": [cell(i, s) for i, s in enumerate(BRANCH)]})
    assert sync._descendants({"left"}) == {"join", "end"}

    def unreadable():
        raise OSError("the notebook file went away")

    monkeypatch.setattr(sync, "current_model", unreadable)
    assert sync._descendants({"left"}) == {"join", "end"}
    fresh = FlowSync(NotebookSession())
    fresh.run_status = {"start": {}, "left": {}, "join": {}}
    monkeypatch.setattr(fresh, "current_model", unreadable)
    assert fresh._descendants({"left"}) == {"start", "join"}  # no graph known: all that ran


def test_a_latest_run_that_cannot_be_read_is_told_to_the_frontend(monkeypatch):
    """The snapshot a connecting frontend gets is then empty; the reason went only to the
    kernel's log."""

    class Link:
        sent: ClassVar[list] = []
        frontends: ClassVar[dict] = {}

        def send(self, msg_type, payload, to=None):
            self.sent.append((msg_type, payload))

        def on(self, *args):
            pass

    session = NotebookSession()
    sync = FlowSync(session)
    sync._link = link = Link()
    sync.on_flow({"path": "branch.ipynb", "cells": [cell(i, s) for i, s in enumerate(BRANCH)]})

    def damaged(name):
        raise ValueError("Expecting value: line 1 column 1")

    monkeypatch.setattr(session, "latest_notebook_client_run", damaged)
    link.sent.clear()
    sync.send_run_state(object())
    assert [kind for kind, _ in link.sent] == ["run_state", "error"]
    error = link.sent[1][1]
    assert (
        error["in_reply_to"] == "hello"
        and "could not be read (ValueError: Expecting value" in error["message"]
    )

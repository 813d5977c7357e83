"""The inline DAG: an ipywidget that follows the notebook's flow and its steps' states.

``%mf_dag`` (or :func:`dag_widget`) shows a :class:`DagWidget`. Its synced traits hold the graph
(``model``: ``FlowModel.to_json()``, the steps and their transitions, which the view lays out
with the panel's dagre layout), the steps' ``status`` and the flow's ``errors``; the view
(``src/widget/``, module ``jupyter-metaflow``) draws them and redraws while steps run, because
the widget listens to :class:`jupyter_metaflow.sync.FlowSync`. Its mime bundle also carries the
``text/html`` static SVG of :mod:`jupyter_metaflow.dag` and a ``text/plain`` summary for
frontends without a widget manager.

Where no jupyter-metaflow frontend is connected the widget cannot render (VS Code, runs by
nbclient/papermill, whose saved widget state makes nbconvert/nbviewer pick the widget), so
``%mf_dag`` shows a :class:`LiveStaticDag` there: that static picture alone, redrawn in place.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display, update_display
from ipywidgets import DOMWidget
from traitlets import Dict, List, Unicode

from . import dag
from ._version import __version__
from .sync import FlowSync, get_sync

__all__ = [
    "MODULE_NAME",
    "MODULE_VERSION",
    "DagMagics",
    "DagWidget",
    "LiveStaticDag",
    "dag_widget",
    "static_bundle",
]

MODULE_NAME = "jupyter-metaflow"
"""The npm package whose widget registry entry holds the view (``src/widget/``)."""
MODULE_VERSION = "^" + __version__
"""The semver range of that package this kernel accepts (the frontend registers exactly
the package version, ``src/version.ts``)."""


class DagWidget(DOMWidget):
    """The flow's DAG with live step states."""

    _model_name = Unicode("DagWidgetModel").tag(sync=True)
    _view_name = Unicode("DagWidgetView").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    flow = Unicode("", help="the flow class name").tag(sync=True)
    run_id = Unicode(None, allow_none=True, help="the current run id").tag(sync=True)
    model = Dict(help="the graph: FlowModel.to_json() (steps, transitions, joins)").tag(sync=True)
    status = Dict(
        help="step -> its step_status; foreach steps add done_splits (the finished "
        "split indices) and show the step's wall time"
    ).tag(sync=True)
    errors = List(Dict(), help="the flow's cell-rule and lint errors (CellError JSON)").tag(
        sync=True
    )

    def __init__(self, sync: FlowSync | None = None, **kwargs: Any) -> None:
        initial = snapshot(sync) if sync is not None else {}
        super().__init__(**{**initial, **kwargs})  # the comm opens with the full state
        self._sync = sync
        if sync is not None:
            sync.add_listener(self.refresh)

    def refresh(self, sync: FlowSync) -> None:
        """Take the model and the step states from ``sync`` (its listener callback)."""
        state = snapshot(sync)
        with self.hold_sync():
            for name, value in state.items():
                if getattr(self, name) != value:
                    setattr(self, name, value)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.remove_listener(self.refresh)
            self._sync = None
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle.update(_render(self.flow, self.model, self.status, self.errors))
        return bundle


def snapshot(sync: FlowSync) -> dict[str, Any]:
    """The widget's trait values for the current state of ``sync``."""
    model = sync.current_model()
    status = {}
    for step, st in sync.statuses().items():
        st = dict(st)
        if st.get("num_splits"):
            whole = sync.progress.whole(st)
            st["done_splits"] = whole["done_splits"]
            if "duration_ms" in st and "duration_ms" in whole:
                st["duration_ms"] = whole["duration_ms"]
        status[step] = st
    return {
        "flow": model.get("name", ""),
        "run_id": sync.run_id,
        "model": model,
        "status": status,
        "errors": list(model.get("errors", [])) + list(sync.lint_errors),
    }


def _render(
    flow: str, model: dict[str, Any], status: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, str]:
    graph = dag.graph_of({**model, "errors": errors})
    messages = [_error_text(e) for e in errors]
    return {
        "text/html": dag.render_html(graph, status, flow, messages),
        "text/plain": "\n".join([dag.render_text(graph, status, flow), *messages]),
    }


def _error_text(error: dict[str, Any]) -> str:
    where = "" if error.get("cell_index") is None else f"cell {error['cell_index'] + 1}"
    if where and error.get("line") is not None:
        where += f", line {error['line']}"
    text = f"{error['message']} {error.get('fix', '')}".strip()
    return f"{where}: {text}" if where else text


def static_bundle(sync: FlowSync | None = None) -> dict[str, str]:
    """The static ``text/html`` + ``text/plain`` bundle of the current DAG (no widget)."""
    state = snapshot(sync or get_sync())
    return _render(state["flow"], state["model"], state["status"], state["errors"])


def dag_widget() -> DagWidget:
    """A live DAG widget of this kernel's notebook flow."""
    return DagWidget(get_sync())


class LiveStaticDag:
    """The static picture, redrawn in place (``update_display_data``) as the flow changes:
    the live DAG for frontends without the jupyter-metaflow widget view (VS Code, runs by
    nbclient/papermill, whose saved outputs then show the final states in nbviewer/GitHub)."""

    MIN_INTERVAL = 0.25
    """Seconds between redraws while a cell runs (the last state is drawn when it ends)."""

    def __init__(self, sync: FlowSync) -> None:
        self._sync = sync
        self._display_id = uuid.uuid4().hex
        self._html: str | None = None
        self._drawn_at = 0.0

    def show(self) -> None:
        bundle = static_bundle(self._sync)
        display(bundle, raw=True, display_id=self._display_id)
        self._html, self._drawn_at = bundle["text/html"], time.monotonic()
        self._sync.add_listener(self.refresh)

    def refresh(self, sync: FlowSync) -> None:
        if sync.running_cell and time.monotonic() - self._drawn_at < self.MIN_INTERVAL:
            return
        bundle = static_bundle(sync)
        if bundle["text/html"] != self._html:
            update_display(bundle, raw=True, display_id=self._display_id)
            self._html, self._drawn_at = bundle["text/html"], time.monotonic()

    def close(self) -> None:
        self._sync.remove_listener(self.refresh)


@magics_class
class DagMagics(Magics):
    """``%mf_dag``: the notebook's flow as an inline DAG."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._shown: dict[str, DagWidget | LiveStaticDag] = {}
        """cell id -> the live view it shows (re-running the cell replaces it)."""

    @magic_arguments()
    @argument(
        "--static",
        action="store_true",
        help="a static SVG picture of the DAG as it is now (never updated)",
    )
    @line_magic
    def mf_dag(self, line: str) -> None:
        """Show the notebook's flow as a DAG that updates while steps run: the interactive
        widget where the jupyter-metaflow frontend extension is connected (JupyterLab,
        Notebook 7), else a static SVG picture redrawn in place."""
        try:
            args = parse_argstring(self.mf_dag, line)
        except ValueError as exc:  # shlex: an unclosed quote
            raise UsageError(
                f"%mf_dag: cannot read {line!r}: {exc}; use %mf_dag or %mf_dag --static"
            ) from None
        sync = get_sync()
        if args.static:
            display(static_bundle(sync), raw=True)
            return
        cell_id = sync.executing_cell_id
        previous = self._shown.pop(cell_id, None) if cell_id else None
        if previous is not None:
            previous.close()
        if sync.frontend_connected:
            view: DagWidget | LiveStaticDag = DagWidget(sync)
            display(view)
        else:
            view = LiveStaticDag(sync)
            view.show()
        if cell_id:
            self._shown[cell_id] = view

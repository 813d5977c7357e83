"""The live flow between the frontend and the kernel's executor.

One :class:`FlowSync` per kernel (:func:`get_sync`), installed by ``%load_ext``:

* ``flow`` (the notebook's cells, from the frontend) -> assembled with
  :mod:`jupyter_metaflow.cells`, checked with Metaflow's own graph lint
  (:func:`jupyter_metaflow.export.validate_graph`, no user code runs), answered with
  ``flow_model``, and handed to the executor (so the step runner sees the live notebook);
* the executor's :class:`~jupyter_metaflow.events.StepEvent` s -> ``step_status`` messages
  (with the exact cell source the run used), a ``run_state`` snapshot when a frontend connects;
* stale steps: a step whose cell differs from the source its last run used, or whose run
  used another ``%%flow`` cell (parameters, constants), and everything downstream of it (or
  of a step that ran again after it), is reported ``stale``;
* ``export`` -> :mod:`jupyter_metaflow.export` (the one exporter) -> ``export_result``;
* cells *tagged* ``step:NAME`` / ``flow:NAME`` (no magic line) run exactly like ``%%step`` /
  ``%%flow`` cells: an input transformer finds the executing cell by the ``cellId`` JupyterLab
  puts in the execute_request metadata (or, headless, by its source in the notebook file named
  by ``JPY_SESSION_NAME``) and routes it to the executor.

Listeners (the inline DAG widget) get every change through :meth:`FlowSync.add_listener`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import posixpath
import traceback
from collections.abc import Callable
from typing import Any

from . import cells as cellrules
from . import export as exporter
from . import switches
from ._metaflow import forget_datastore_root
from .assembly import FlowModel, assemble
from .comm import execute_request
from .errors import FlowDefinitionError
from .events import StepEvent
from .notebook_io import read_notebook
from .runsummary import ForeachProgress, RanStep, downstream, stale_steps
from .session import NotebookSession, get_session

__all__ = ["FlowSync", "get_sync", "run_tagged"]

log = logging.getLogger(__name__)


Listener = Callable[["FlowSync"], None]
"""``listener(sync)``, called after the model or any step status changed."""

FINISHED_STATES = frozenset({"done", "failed", "skipped"})
_UNKNOWN = object()


class FlowSync:
    """The kernel's view of the notebook's flow and of its steps' states."""

    def __init__(self, session: NotebookSession) -> None:
        self.session = session
        self.path: str | None = None
        """The notebook path the frontend sent (relative to the server root)."""
        self.cells: list[cellrules.CellInput] | None = None
        """The frontend's cells, None until the first ``flow`` message."""
        self.model: dict[str, Any] | None = None
        self.lint_errors: list[dict[str, Any]] = []
        self.flow: str | None = None
        self.run_id: str | None = None
        self.run_status: dict[str, dict[str, Any]] = {}
        """step -> its last ``step_status`` from a run (never ``stale``)."""
        self.progress = ForeachProgress()
        """The foreach steps' finished splits in their latest run."""
        self._rerun_stale: set[str] = set()
        self._flow_used: dict[str, str] = {}
        """step -> the flow cell's source when it last ran (known only with the frontend's
        cells)."""
        self._sent: dict[str, dict[str, Any]] = {}
        self._executing: tuple[str, str | None, Any] | None = None
        """The executing cell: source, id, and the step it runs (computed on first use)."""
        self._file_model: dict[str, Any] | None = None
        self._lint_cache: tuple[str, list[dict[str, Any]]] | None = None
        self._last_model: dict[str, Any] | None = None
        """The last notebook model read (stale marks walk it when the notebook is unreadable)."""
        self._restore_tried = False
        self._listeners: list[Listener] = []
        self._link: Any = None
        self._shell: Any = None

    # -- wiring -------------------------------------------------------------------------
    def install(self, shell: Any, link: Any) -> None:
        """Register the comm handlers, the executor listener and the tagged-cell router."""
        self._shell, self._link = shell, link
        link.on("flow", self.on_flow)
        link.on("export", self.on_export)
        link.on_connect(self.send_run_state)
        self.session.add_listener(self.on_step_event)
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)
        if self.route_tagged_cell not in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.append(self.route_tagged_cell)

    def uninstall(self) -> None:
        shell = self._shell
        if shell is not None:
            shell.events.unregister("pre_run_cell", self._pre_run_cell)
            shell.events.unregister("post_run_cell", self._post_run_cell)
            if self.route_tagged_cell in shell.input_transformers_cleanup:
                shell.input_transformers_cleanup.remove(self.route_tagged_cell)
        self.session.remove_listener(self.on_step_event)
        self._shell = self._link = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- the flow ----------------------------------------------------------------------------
    def on_flow(self, payload: dict[str, Any], opened: Any = None) -> None:
        """``flow`` message: assemble, lint, hand the cells to the executor, answer
        ``flow_model``."""
        cells = [
            cellrules.CellInput(c["index"], c["id"], c["cell_type"], c["source"], tuple(c["tags"]))
            for c in payload["cells"]
        ]
        self.path, self.cells = payload["path"], cells
        model = assemble(cells, self.path)
        self.model = model.to_json()
        self.lint_errors = [] if model.errors else self._graph_errors(model)
        self.session.set_notebook_cells(cells, self.notebook_file(self.path))
        self.session.max_workers_setting = payload.get("max_workers")
        answer: dict[str, Any] = {
            "path": self.path,
            "model": self.model,
            "lint_errors": self.lint_errors,
        }
        if "request_id" in payload:
            answer["request_id"] = payload["request_id"]
        if self._link is not None:
            self._link.send("flow_model", answer)
        self.publish()

    def _graph_errors(self, model: FlowModel) -> list[dict[str, Any]]:
        """:func:`graph_errors`, reused while the graph and its cell positions stay the same
        (typing inside a step body does not change them; Metaflow's lint takes ~0.5 ms/step)."""
        key = json.dumps(
            [
                [
                    s["name"],
                    s["cell_index"],
                    s["cell_id"],
                    s["body_line"],
                    s["is_join"],
                    s["transition"],
                    [d for d in s["decorators"] if "parallel" in d],
                ]
                for s in (self.model or {}).get("steps", [])
            ],
            default=str,
        )
        if self._lint_cache is None or self._lint_cache[0] != key:
            self._lint_cache = (key, graph_errors(model))
        return self._lint_cache[1]

    def current_model(self) -> dict[str, Any]:
        """The frontend's model, else the executor's view of the notebook (file, run cells)."""
        if self.model is not None:
            return self.model
        if self._file_model is None:  # read once per cell execution (a foreach emits many events)
            self._file_model = self.session.notebook_model().to_json()
        return self._file_model

    # -- step states -------------------------------------------------------------------------
    def on_step_event(self, event: StepEvent) -> None:
        """Executor listener: record the task's state and publish it."""
        previous = self.run_status.get(event.step, {})
        if (
            event.status == "skipped"
            and previous.get("state") == "failed"
            and previous.get("run_id") == event.run_id
        ):
            return  # the splits after a failed one: the step stays failed, with its error
        source, cell_id = self._source_of(event.step)  # the cell as this frontend sees it
        status = dataclasses.replace(
            event, source=source, cell_id=None if source is None else cell_id
        ).to_json()
        self.progress.apply(status)
        # a step running again in another run leaves its descendants behind; more tasks of it in
        # the same run (foreach splits, join groups, a recursive switch's iterations) do not
        if (
            event.status in ("queued", "running")
            and self.run_status.get(event.step, {}).get("run_id") != event.run_id
        ):
            self._rerun_stale.discard(event.step)
            self._rerun_stale |= (self._descendants({event.step}) - {event.step}) & set(
                self.run_status
            )
        flow_source = self._flow_cell_source()
        if flow_source is None:
            self._flow_used.pop(event.step, None)
        else:
            self._flow_used[event.step] = flow_source
        self.flow, self.run_id = event.flow, event.run_id
        self.run_status[event.step] = status
        self.publish(always={event.step})

    def statuses(self) -> dict[str, dict[str, Any]]:
        """step -> its current ``step_status``: the last run status, or ``stale``."""
        stale = self._stale_steps()
        out = {}
        for step, status in self.run_status.items():
            if step in stale and status["state"] in FINISHED_STATES:
                status = {**status, "state": "stale"}
                status.pop("error", None)
            out[step] = status
        return out

    def _stale_steps(self) -> set[str]:
        model = self._known_model()
        flow_source = self._flow_cell_source()
        known = set(self._rerun_stale)
        if flow_source is not None:
            known |= {step for step, used in self._flow_used.items() if used != flow_source}
        if model is None:  # no graph ever read: anything may be downstream of a change
            return set(self.run_status) if known & set(self.run_status) else set()
        cells = self.cells if self.model is not None else None
        ran = {
            step: RanStep(status.get("source"), status.get("cell_id"), step in known)
            for step, status in self.run_status.items()
        }

        def source_of_cell(index: int) -> str | None:
            return cells[index].source if cells is not None and index < len(cells) else None

        return stale_steps(model, ran, source_of_cell)

    def _descendants(self, steps: set[str]) -> set[str]:
        model = self._known_model()
        if model is None:  # no graph ever read: anything may be downstream
            return set(self.run_status) - steps
        return downstream(model, steps)

    def _known_model(self) -> dict[str, Any] | None:
        """The notebook's model for walking the graph; when the notebook cannot be read now,
        the last one read (None before any)."""
        try:
            self._last_model = self.current_model()
        except Exception:
            log.warning(
                "jupyter-metaflow: cannot read the notebook's graph for stale steps", exc_info=True
            )
        return self._last_model

    def publish(self, always: frozenset[str] | set[str] = frozenset()) -> None:
        """Send the statuses that changed since last time (and those in ``always``)."""
        current = self.statuses()
        for step, status in current.items():
            if (step in always or self._sent.get(step) != status) and self._link is not None:
                self._link.send("step_status", status)
        self._sent = current
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a broken view must not break a step
                traceback.print_exc()

    def run_state(self) -> dict[str, Any]:
        # a foreach step as a whole: a frontend starting from the snapshot must not count the
        # last split's event as the only split done
        steps = {step: self.progress.whole(status) for step, status in self.statuses().items()}
        return {"flow": self.flow, "run_id": self.run_id, "steps": steps}

    def send_run_state(self, opened: Any) -> None:
        """Connect listener: the snapshot for a frontend that just connected."""
        problem = None
        if self.run_id is None and not self._restore_tried:
            self._restore_tried = True
            problem = self.restore_latest_run()
        if self._link is not None:
            self._link.send("run_state", self.run_state(), to=opened)
            if problem is not None:  # said to the user, not only to the kernel's log
                self._link.send("error", {"message": problem, "in_reply_to": "hello"}, to=opened)

    def reload_run(self) -> None:
        """The session's current run changed (the user chose another): forget the statuses,
        read that run's, and send every frontend the new snapshot."""
        self.run_status.clear()
        self.progress = ForeachProgress()
        self._rerun_stale.clear()
        self._flow_used.clear()
        self._sent = {}
        self.flow = self.run_id = None
        self.restore_latest_run()
        if self._link is not None:
            self._link.send("run_state", self.run_state())

    def restore_latest_run(self) -> str | None:
        """After a kernel restart: the steps of the notebook's latest run (the run the executor
        re-attaches to when the next step runs) become the steps' last statuses, and the steps
        a switch of that run ruled out are ``skipped`` again. Their ``source`` is unknown, so
        they are not compared with the cells. Returns why the run could not be read, if so."""
        from metaflow.exception import MetaflowException

        from .runstatus import run_statuses_and_splits, switch_targets

        try:
            model = self.current_model()
            name = model["name"]
            run = self.session.latest_notebook_client_run(name)
            if run is None:
                return None
            restored, splits = run_statuses_and_splits(run, switch_targets(model))
            for status in restored.values():
                if status["state"] == "running":
                    # a task that never finished (the kernel stopped while it ran) failed, as
                    # the executor counts it when it re-attaches
                    status["state"] = "failed"
                    status["error"] = (
                        "the task did not finish (the kernel stopped or was "
                        "interrupted while it ran)"
                    )
                status.pop("done_splits", None)
            restored.update(_ruled_out(model, restored, run.id))
        except (
            MetaflowException,
            OSError,
        ):  # no datastore or an unreadable run: nothing to restore
            return None
        except Exception as exc:  # the frontend still gets its (empty) snapshot, and the reason
            log.warning("jupyter-metaflow: could not read the latest run", exc_info=True)
            return (
                f"The statuses of the notebook's latest run could not be read "
                f"({type(exc).__name__}: {exc}); the DAG shows none. Executing a step reads "
                "the run again."
            )
        finally:
            forget_datastore_root()
        self.flow, self.run_id = name, run.id
        self.run_status.update(restored)
        for step, done in splits.items():
            self.progress.restore(step, run.id, done, restored[step].get("duration_ms"))
        self.publish()
        return None

    def _flow_cell_source(self) -> str | None:
        """The source of the frontend's flow cell (``%%flow`` or ``flow:`` tag), if any."""
        flow = (self.model or {}).get("flow")
        if self.cells is None or not flow or flow.get("cell_index") is None:
            return None
        return next((c.source for c in self.cells if c.index == flow["cell_index"]), None)

    def _source_of(self, step: str) -> tuple[str | None, str | None]:
        """The source of the step's cell as the run used it, and the cell's id."""
        if self._executing is not None:
            raw, cell_id, running = self._executing
            if running is _UNKNOWN:
                running = None
                probe = cellrules.CellInput(0, cell_id, "code", raw, self.tags_of(cell_id, raw))
                if cellrules.classify(probe) is cellrules.CellKind.STEP:
                    try:
                        running = cellrules.parse_step_cell(probe).name
                    except cellrules.CellRulesError:
                        pass
                self._executing = (raw, cell_id, running)
            if running == step:
                return raw, cell_id
        if self.cells is not None and self.model is not None:
            for s in self.model["steps"]:
                if s["name"] == step:
                    cell = next((c for c in self.cells if c.index == s["cell_index"]), None)
                    if cell is not None:
                        return cell.source, cell.id
        return None, None

    # -- export -------------------------------------------------------------------------------
    def on_export(self, payload: dict[str, Any], opened: Any = None) -> None:
        """``export`` message: write the flow file through the one exporter."""
        result: dict[str, Any]
        try:
            notebook = self.notebook_file(payload["path"])
            if self.cells is not None and self.path == payload["path"]:
                cells = self.cells
            else:
                cells = read_notebook(notebook)
            text = exporter.export_cells(cells, payload["path"])
            notebook_dir = os.path.dirname(notebook)
            if payload.get("output"):
                output = os.path.join(notebook_dir, payload["output"])
            else:
                output = str(exporter.default_output_path(notebook))
            folder = os.path.dirname(output)
            if not os.path.isdir(folder):
                raise exporter.ExportError(
                    f"Cannot write {output}: the folder {folder} does not exist. Create it or "
                    "choose another output path."
                )
            server_path = _server_path(payload["path"], notebook_dir, output)
            written = exporter.write_atomic(output, text, force=bool(payload.get("force")))
            result = {"ok": True, "output_path": server_path, "written": written, "exists": False}
        except exporter.OutputExistsError as exc:
            result = {"ok": False, "output_path": server_path, "exists": True, "error": str(exc)}
        except exporter.ExportError as exc:
            result = {"ok": False, "exists": False, "error": str(exc)}
        except OSError as exc:
            result = {"ok": False, "exists": False, "error": f"Cannot write the flow file: {exc}"}
        if "request_id" in payload:
            result["request_id"] = payload["request_id"]
        if self._link is not None:
            self._link.send("export_result", result, to=opened)

    def notebook_file(self, path: str) -> str:
        """The kernel-side file of the notebook at server path ``path``.

        The kernel's cwd is the notebook's directory when it started, and jupyter-server puts
        the notebook's absolute path in ``JPY_SESSION_NAME``.
        """
        name = posixpath.basename(path)
        session = os.environ.get("JPY_SESSION_NAME", "")
        if session and os.path.basename(session) == name and os.path.isfile(session):
            return session
        return os.path.abspath(name)

    # -- tagged cells --------------------------------------------------------------------
    def tags_of(self, cell_id: str | None, source: str) -> tuple[str, ...]:
        """The tags of the cell ``cell_id`` (or, without an id, of the tagged cell with this
        source): from the frontend's cells, else from the notebook file."""
        if self.cells is not None and cell_id:
            for cell in self.cells:
                if cell.id == cell_id:
                    return cell.tags
        path = self.session.notebook_path() or self._found_notebook(source, cell_id)
        if not path or not os.path.isfile(path):
            return ()
        try:
            disk = read_notebook(path)
        except exporter.ExportError:
            return ()
        if cell_id:
            for cell in disk:
                if cell.id == cell_id:
                    return cell.tags
        tagged = {
            cell.tags
            for cell in disk
            if cell.source.strip() == source.strip()
            and any(t.startswith(("step:", "flow:")) for t in cell.tags)
        }
        return tagged.pop() if len(tagged) == 1 else ()

    def _found_notebook(self, source: str, cell_id: str | None) -> str | None:
        """Headless: the notebook file holding the cells executed so far and this one (the
        transformer runs before the cell is recorded; an ambiguity is reported by the first
        flow or step cell, not here)."""
        self.session.record_executed(source, cell_id)
        try:
            return self.session.notebook.find_notebook()
        except FlowDefinitionError:
            return None

    def route_tagged_cell(self, lines: list[str]) -> list[str]:
        """Input transformer: a cell tagged ``step:NAME``/``flow:NAME`` becomes a call of
        :func:`run_tagged`, so it runs exactly like a ``%%step``/``%%flow`` cell."""
        parent = execute_request()
        if parent is None:
            return lines
        code = parent["content"].get("code", "")
        text = "".join(lines)
        if text.strip() != code.strip() or text.lstrip().startswith("%%"):
            return lines  # not the executing cell itself, or a magic cell
        cell_id = (parent.get("metadata") or {}).get("cellId")
        tags = self.tags_of(cell_id, code)
        kind = cellrules.classify(cellrules.CellInput(0, cell_id, "code", code, tags))
        if kind not in (cellrules.CellKind.STEP, cellrules.CellKind.FLOW):
            return lines
        prefix = "step:" if kind is cellrules.CellKind.STEP else "flow:"
        name = next(t[len(prefix) :].strip() for t in tags if t.startswith(prefix))
        return [
            f"__import__('jupyter_metaflow.sync').sync.run_tagged({kind.value!r}, {name!r}, "
            f"{code!r}, {cell_id!r})\n"
        ]

    def _pre_run_cell(self, info: Any) -> None:
        self._executing = (info.raw_cell or "", getattr(info, "cell_id", None), _UNKNOWN)
        self._file_model = None

    def _post_run_cell(self, result: Any) -> None:
        self._executing = None
        self.publish()  # views that throttle redraws while a cell runs catch up now
        self._file_model = None

    @property
    def running_cell(self) -> bool:
        """Whether a cell is executing (views may throttle redraws until it ends)."""
        return self._executing is not None

    @property
    def executing_cell_id(self) -> str | None:
        """The ``cellId`` of the executing cell, when the frontend sent one."""
        return None if self._executing is None else self._executing[1]

    @property
    def frontend_connected(self) -> bool:
        """Whether a jupyter-metaflow frontend (with the widget view) completed the handshake."""
        return bool(self._link is not None and self._link.frontends)


def _ruled_out(
    model: dict[str, Any], statuses: dict[str, dict[str, Any]], run_id: str
) -> dict[str, dict[str, Any]]:
    """``skipped`` statuses of the model's steps that a switch in the run ruled out (the
    statuses the executor sent when the run was live), from the switches' ``switch_counts``."""
    from types import SimpleNamespace

    nodes, tasks = {}, {}
    for s in model.get("steps", []):
        t = s.get("transition") or {}
        nodes[s["name"]] = SimpleNamespace(
            in_funcs=list(s.get("parents", [])),
            out_funcs=list(t.get("targets", [])),
            type="split-switch" if t.get("kind") == "switch" else t.get("kind", ""),
            condition=t.get("condition"),
            switch_cases=t.get("cases") or {},
        )
        status = statuses.get(s["name"])
        if status is not None and status["state"] == "done":
            chosen = list(status.get("switch_counts") or t.get("targets", []))
            tasks[s["name"]] = [SimpleNamespace(next_steps=chosen)]
    out = {}
    for step in nodes:
        if step in statuses:
            continue
        reason = switches.not_taken(nodes, tasks, step)
        if reason is not None:
            out[step] = {
                "flow": model["name"],
                "run_id": run_id,
                "step": step,
                "state": "skipped",
                "error": f"Step {step!r} is not on this run's path: {reason}.",
            }
    return out


def graph_errors(model: FlowModel) -> list[dict[str, Any]]:
    """Metaflow's graph lint on the assembled flow, mapped to cells (``CellError`` JSON)."""
    try:
        return [e.to_json() for e in exporter.validate_graph(model)]
    except Exception as exc:  # Metaflow's graph code failed on this flow: say so, on no cell
        return [
            cellrules.CellError(
                None,
                None,
                None,
                f"Metaflow could not read the flow's graph: {type(exc).__name__}: {exc}",
                "Check the step cells' self.next calls.",
                "graph",
            ).to_json()
        ]


def run_tagged(kind: str, name: str, source: str, cell_id: str | None) -> None:
    """Run a tagged cell as its ``%%step``/``%%flow`` equivalent (the transformer's target)."""
    from IPython import get_ipython

    shell = get_ipython()
    session = get_session()
    if kind == "step":
        session.run_step(name, source, shell.user_ns, cell_id)
    else:
        session.show_flow(source, shell.user_ns, cell_id)


def _server_path(notebook_path: str, notebook_dir: str, output: str) -> str:
    """``output`` as a server path when it lies under the notebook's directory, else as is."""
    relative = os.path.relpath(output, notebook_dir)
    if relative.startswith(os.pardir):
        return output
    return posixpath.join(posixpath.dirname(notebook_path), relative.replace(os.sep, "/"))


_sync: FlowSync | None = None


def get_sync() -> FlowSync:
    """This kernel's sync (created on first use, bound to the executor's session)."""
    global _sync
    if _sync is None:
        _sync = FlowSync(get_session())
    return _sync

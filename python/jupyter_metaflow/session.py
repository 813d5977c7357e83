"""The notebook run session: executing a ``%%step`` cell runs that step as a real Metaflow task.

One :class:`NotebookSession` per kernel (:func:`get_session`). Executing a step cell:

1. assembles the notebook's flow with :mod:`jupyter_metaflow.assembly` from the freshest cell
   texts (:mod:`jupyter_metaflow.notebook_source`);
2. builds the ``FlowSpec`` subclass from the cells (:mod:`jupyter_metaflow.flowbuild`);
   Metaflow's ``FlowGraph`` and lint then check it, errors naming cell and line;
3. picks the run: ``start`` always opens a new run; another step runs in the current run when
   its parents ran there and it did not, else in a new run that clones the current run's tasks
   outside the step's descendants (as ``resume`` does); after a kernel restart the latest
   notebook run in the datastore is re-attached (the runs themselves:
   :mod:`jupyter_metaflow.runs`);
4. runs the tasks :func:`jupyter_metaflow.planning.task_specs` plans (every foreach split in
   order, one join task per split group) with :mod:`jupyter_metaflow.step_tasks`: in this
   process through ``_metaflow.run_task``, the remaining ones in worker processes when
   :mod:`jupyter_metaflow.parallel`'s measured rule says that is faster; or the step under
   Metaflow's runtime when its decorators need it (:mod:`jupyter_metaflow.native_runtime`).

For frontends and later features: :attr:`NotebookSession.current_run`,
:attr:`NotebookSession.last_step`, :meth:`NotebookSession.client_run` and
:meth:`NotebookSession.add_listener` (called with a :class:`~jupyter_metaflow.events.StepEvent`
for every task status change). :func:`set_notebook_cells` is what the comm handler calls with
the live notebook.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _metaflow as mf
from . import cards, injected_parameters, native_runtime, planning, runs
from . import cells as cellrules
from .assembly import FlowModel
from .errors import FlowDefinitionError, RunOrderError, StepCouldNotRun, StepFailed
from .events import Listener, StepEvent, emit
from .flowbuild import (
    BuiltFlow,
    build_flow,
    flow_cell_class,
    format_cell_errors,
    located_message,
)
from .foreach import no_such_split
from .nameguard import NameProblem, find_undefined_names
from .notebook_source import NotebookSource
from .planning import RunRecord, StepNotOnPath, TaskSpec
from .step_tasks import StepTaskRunner
from .task_errors import environment_reason

if TYPE_CHECKING:
    from metaflow import FlowSpec

__all__ = ["NotebookSession", "get_session", "set_notebook_cells"]


class NotebookSession:
    """The kernel's notebook run session (one per kernel, see :func:`get_session`)."""

    def __init__(self) -> None:
        self.flow_name: str | None = None
        self.run: RunRecord | None = None
        self.last_step: str | None = None
        """The step most recently executed (successfully or not)."""
        self._listeners: list[Listener] = []
        self._backend: mf.Backend | None = None
        self._backend_key: tuple[str, mf.Storage] | None = None
        self.notebook = NotebookSource()
        """Where the notebook's cells come from."""
        self._kernel_build_seconds = 0.0
        """How long building the flow took in the kernel (a worker's build takes about as long)."""
        self.max_workers_setting: int | None = None
        """The frontend's setting Maximum workers (sent with the notebook's cells), if set."""
        self._chosen_run: str | None = None
        """A run the user made current (:meth:`use_run`) until the start step begins another."""
        self._waiting: list[tuple[str, Any]] = []
        """Step cells waiting for the flow to be complete: ``(step, its cell's display)``."""
        self._summarized: BuiltFlow | None = None
        """The flow the last ``%%flow`` cell executed built (its summary is on display)."""
        self._summary_display: Any = None
        """The display of that summary (see :meth:`show_flow`)."""

    # -- public API for frontends and other features -------------------------------------
    @property
    def current_run(self) -> str | None:
        """Pathspec ``Flow/run_id`` of the notebook's current run, or None."""
        if self.run is None or self.flow_name is None:
            return None
        return f"{self.flow_name}/{self.run.run_id}"

    def restorable_run(self) -> str | None:
        """The current run's pathspec; after a kernel restart (no current run yet), the
        notebook's run the next step will re-attach to (None when there is none)."""
        if self.run is not None:
            return self.current_run
        run = self.latest_notebook_client_run(self.notebook_model().name)
        return None if run is None else run.pathspec

    def client_run(self) -> Any:
        """The current run as a Metaflow Client ``Run`` (None before any step ran)."""
        from metaflow import Run

        pathspec = self.current_run
        return None if pathspec is None else mf.in_any_namespace(Run, pathspec)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(StepEvent)`` on every task status change."""
        self._listeners.append(listener)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The registered listeners (e.g. the comm sync's, once the extension is loaded)."""
        return tuple(self._listeners)

    @property
    def last_cells(self) -> list[cellrules.CellInput]:
        """The notebook cells the last assembly used (what the exporter needs)."""
        return self.notebook.last_cells

    def use_run(self, pathspec: str) -> None:
        """Make the run ``Flow/run_id`` (any run of the flow: the notebook's, ``%mf_run``'s, one
        of the exported file) the notebook's current run: the next step attaches to it as
        after a kernel restart, and ``%mf_show`` reads it, until the start step begins a run."""
        self.run = None
        self._chosen_run = pathspec

    def adopt_run(self, built: BuiltFlow, run_id: str) -> RunRecord | None:
        """Make a run of the flow that Metaflow's runtime made (``%mf_run``, a resumed
        runtime-path step) the notebook's current run."""
        from metaflow import Run

        with runs.storage_state(built) as storage:
            backend = self._backend_for(built.cls, storage)
            record = runs.load_run(
                backend, mf.in_any_namespace(Run, f"{backend.flow_name}/{run_id}")
            )
        if record is not None:
            self.run = record
            self._chosen_run = None  # this run, not one chosen before, is the current run
        return record

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- the notebook (see NotebookSource) ---------------------------------------------------
    def set_notebook_cells(self, cells: list[cellrules.CellInput], path: str | None) -> None:
        """The frontend's live notebook (freshest source after the executing cell)."""
        self.notebook.set_notebook_cells(cells, path)

    def notebook_path(self) -> str | None:
        """The notebook's path (:meth:`NotebookSource.notebook_path`)."""
        return self.notebook.notebook_path()

    def provide_file(self, user_ns: dict[str, Any]) -> None:
        """The notebook's path as ``__file__`` (:meth:`NotebookSource.provide_file`)."""
        self.notebook.provide_file(user_ns)

    def record_executed(self, source: str, cell_id: str | None) -> None:
        """Remember a cell this kernel executed (:meth:`NotebookSource.record_executed`)."""
        self.notebook.record_executed(source, cell_id)
        if injected_parameters.is_injected_cell(source):
            self._update_flow_summary()

    def notebook_model(self, source: str | None = None, cell_id: str | None = None) -> FlowModel:
        """Assemble the flow from the freshest cell texts; ``source`` is the executing cell."""
        return self.notebook.notebook_model(source, cell_id)

    # -- defining and running ------------------------------------------------------------
    def define_flow(self, source: str, user_ns: dict[str, Any], cell_id: str | None = None) -> str:
        """Execute a ``%%flow`` cell: check it and its parameter options; returns a summary."""
        self.record_executed(source, cell_id)
        model = self.notebook_model(source, cell_id)
        self.provide_file(user_ns)
        mine = {c.index for c in self.notebook.last_cells if c.source == source}
        errors = [e for e in model.errors if e.cell_index in mine]
        if errors:
            raise FlowDefinitionError(format_cell_errors(errors))
        built = flow_cell_class(model, user_ns)
        summary = self._flow_summary(built)
        self._summarized = built
        return summary

    def show_flow(self, source: str, user_ns: dict[str, Any], cell_id: str | None = None) -> None:
        """Execute a ``%%flow`` cell and display its summary, updated in place (a display
        update, which nbclient and papermill apply) when papermill's injected cell runs
        after it: papermill puts that cell below the cell tagged ``parameters``."""
        from IPython.display import display

        summary = self.define_flow(source, user_ns, cell_id)
        self._summary_display = display({"text/plain": summary}, raw=True, display_id=True)

    def _update_flow_summary(self) -> None:
        """papermill's injected cell ran after the shown ``%%flow`` summary: show the values
        the run gets (left alone when they do not convert: the start step says so)."""
        if self._summarized is None or self._summary_display is None:
            return
        if self.notebook.injected_values() is None:
            return
        try:
            summary = self._flow_summary(self._summarized)
        except FlowDefinitionError:
            return
        self._summary_display.update({"text/plain": summary}, raw=True)

    def _flow_summary(self, built: BuiltFlow) -> str:
        values = self._parameter_values(built)
        shown = ", ".join(f"{k}={_shown_value(v)}" for k, v in values.items())
        summary = f"Flow {built.cls.__name__}" + (f" with parameters {shown}" if shown else "")
        if self.notebook.injected_values():
            summary += " (papermill's parameters applied)"
        if self.current_run is not None and self.flow_name == built.cls.__name__:
            summary += (
                f" (run {self.current_run} keeps the values it started with; "
                "they apply from the next execution of the start step)"
            )
        return summary

    def run_parameter_args(self, built: BuiltFlow) -> list[str]:
        """The ``%%flow`` line's options, then papermill's injected values as options
        (:mod:`jupyter_metaflow.injected_parameters`)."""
        injected = self.notebook.injected_values()
        if not injected:
            return list(built.param_args)
        declared = mf.parameter_names(built.cls)
        unknown = injected_parameters.unknown_names(injected, declared)
        if unknown:
            names = ", ".join(sorted(declared.values())) or "none"
            raise FlowDefinitionError(
                f"papermill parameter {unknown[0]!r} is not a Parameter of the flow "
                f"{built.cls.__name__} (its Parameters: {names}). Fix the name given to "
                "papermill's -p, or declare the Parameter in the %%flow cell."
            )
        return list(built.param_args) + injected_parameters.parameter_options(injected, declared)

    def _parameter_values(self, built: BuiltFlow) -> dict[str, Any]:
        prog = f"%%flow {built.cls.__name__}"
        try:
            return mf.parameter_values(built.cls, self.run_parameter_args(built), prog)
        except mf.UsageError as exc:
            where = built.flow_ref.where(1) if built.flow_ref else "the %%flow cell"
            if self.notebook.injected_values() and _converts(built, prog):
                where = "papermill's parameters (its injected-parameters cell)"
            raise FlowDefinitionError(f"Bad parameter option in {where}: {exc}") from None

    def run_step(
        self,
        name: str,
        source: str | None,
        user_ns: dict[str, Any],
        cell_id: str | None = None,
    ) -> RunRecord | None:
        """Execute step ``name`` (every task it needs) as part of a notebook run; headless
        without the notebook, a step of an incomplete flow waits (the current run is
        returned). Any failure that is not the flow's, the run order's or the step code's
        (Metaflow refusing an unknown user, an unwritable datastore...) marks the step failed
        with one line."""
        try:
            return self._run_step(name, source, user_ns, cell_id)
        except (FlowDefinitionError, RunOrderError, StepFailed, native_runtime.RuntimeRunFailed):
            raise
        except Exception as exc:
            reason = environment_reason(exc)
            try:
                flow = self.flow_name or self.notebook_model(source, cell_id).name
            except Exception:
                flow = self.flow_name or ""
            self._emit(
                StepEvent(
                    "failed",
                    step=name,
                    flow=flow,
                    run_id=self.run.run_id if self.run is not None else None,
                    message=reason,
                    source=source,
                    cell_id=cell_id,
                )
            )
            raise StepCouldNotRun(f"Step {name!r} could not run: {reason}") from None

    def _run_step(
        self,
        name: str,
        source: str | None,
        user_ns: dict[str, Any],
        cell_id: str | None = None,
    ) -> RunRecord | None:
        if source is not None:
            self.record_executed(source, cell_id)
        model = self.notebook_model(source, cell_id)
        self.provide_file(user_ns)
        if model.errors:
            message = format_cell_errors(model.errors)
            problem = None if self.notebook.sees_notebook() else self.notebook.file_problem()
            incomplete = all(e.code in _INCOMPLETE for e in model.errors)
            if incomplete and problem is None and not self.notebook.sees_notebook():
                self._wait(name)
                return self.run
            if problem is not None:
                message += (
                    f"\nThe notebook file cannot be read, so this kernel knows only the cells it "
                    f"executed: {problem}"
                )
            raise FlowDefinitionError(message)
        if self._waiting:
            self._run_waiting(name, user_ns)
        return self._run_complete(name, model, user_ns)

    def _wait(self, name: str) -> None:
        """Headless, knowing only the cells it executed (no frontend, no notebook file holding
        them): the step runs once later cells complete the flow, its output then replacing
        this note in its cell (a display update, which nbclient and papermill apply)."""
        from IPython.display import display

        note = (
            f"Step {name!r} waits until the flow is complete: this kernel knows only the "
            "cells it executed so far (no JupyterLab, no notebook file holding them). It "
            "runs, with its output here, once the cells that complete the flow have run."
        )
        handle = display({"text/plain": note}, raw=True, display_id=True)
        self._waiting = [w for w in self._waiting if w[0] != name] + [(name, handle)]

    def _run_waiting(self, current: str, user_ns: dict[str, Any]) -> None:
        """Run the waiting steps in the order their cells ran, each one's output into its cell."""
        from IPython.utils.capture import capture_output

        waiting, self._waiting = self._waiting, []
        for name, handle in waiting:
            if name == current:
                continue
            with capture_output(display=False) as captured:
                try:
                    self._run_complete(name, self.notebook_model(), user_ns)
                except (FlowDefinitionError, RunOrderError, StepFailed) as exc:
                    text = f"{type(exc).__name__}: {exc}\n" + getattr(exc, "user_traceback", "")
                    shown = captured.stdout + captured.stderr + text
                    handle.update({"text/plain": shown}, raw=True)
                    raise
            handle.update({"text/plain": captured.stdout + captured.stderr}, raw=True)

    def _run_complete(
        self, name: str, model: FlowModel, user_ns: dict[str, Any]
    ) -> RunRecord | None:
        """Run step ``name`` of the complete flow ``model``."""
        if name not in {s.name for s in model.steps}:
            raise FlowDefinitionError(f"The notebook has no step cell for {name!r}.")
        started = time.perf_counter()
        built = build_flow(model, user_ns)
        self._kernel_build_seconds = time.perf_counter() - started
        try:
            mf.lint(built.cls)
        except mf.LintWarn as exc:
            raise FlowDefinitionError(located_message(exc)) from None
        except Exception as exc:  # Metaflow's lint itself breaks on some invalid graphs
            raise FlowDefinitionError(
                f"Metaflow's flow check could not read the graph ({type(exc).__name__}: {exc}). "
                "Check the step cells' self.next calls: every branch of a split must end in "
                "an explicit self.next to its join."
            ) from None
        undefined = find_undefined_names(built.model, self.notebook.last_cells)
        self._warn_scratch_names(undefined, name, user_ns)
        runtime = native_runtime.runtime_reasons(built.cls, name)
        if not runtime:
            _warn_runtime_decorators(built, name)
        with runs.storage_state(built) as storage:
            backend = self._backend_for(built.cls, storage)
            backend.install_globals()
            self.last_step = name
            script = _script_name(self.notebook_path(), built.cls.__name__)
            graph = built.graph
            if cards.has_card(graph, name):
                # @card renders in a subprocess running `python <sys.argv[0]> card create`
                script = str(
                    native_runtime.generated_flow_file(
                        self.notebook.last_cells,
                        self.notebook_path(),
                        built.cls.__name__,
                        os.getcwd(),
                    )
                )
            if name == graph.start_step:
                if runtime:
                    args = self.run_parameter_args(built)
                    return self._run_in_runtime(built, name, runtime, None, args)
                run = self._start_run(backend, built, script)
                specs = [TaskSpec([f"{run.run_id}/_parameters/{run.params_task}"])]
            else:
                run = self._attached_run(backend, built, name)
                try:
                    specs = planning.task_specs(built, run, name)
                except StepNotOnPath as exc:
                    self._emit(
                        StepEvent(
                            "skipped",
                            step=name,
                            flow=backend.flow_name,
                            run_id=run.run_id,
                            message=str(exc),
                        )
                    )
                    print(exc)
                    return run
                if runtime:
                    return self._run_in_runtime(built, name, runtime, run.run_id)
                if name in run.tasks or name in run.failed:
                    run = self._clone_run(backend, built, run, name)
                    specs = planning.task_specs(built, run, name)
            self.run = run
            self._task_runner().execute(backend, built, run, name, specs, script, undefined)
            if cards.has_card(graph, name):
                cards.display_cards(backend.flow_name, run.run_id, name, os.path.basename(script))
        return run

    def run_split(self, name: str, position: tuple[int, ...], user_ns: dict[str, Any]) -> RunRecord:
        """Run only the split of foreach body ``name`` at ``position`` (0-based, one index per
        enclosing foreach, outermost first), for debugging.

        The task runs in a new run that clones the current run's tasks outside ``name`` and
        its descendants (as a re-execution does); the notebook's current run is unchanged, so
        executing the step's cell later still runs every split there.
        """
        model = self.notebook_model()
        if model.errors:
            raise FlowDefinitionError(format_cell_errors(model.errors))
        built = build_flow(model, user_ns)
        if name not in built.steps:
            raise FlowDefinitionError(f"The notebook has no step cell for {name!r}.")
        with runs.storage_state(built) as storage:
            backend = self._backend_for(built.cls, storage)
            backend.install_globals()
            current = self._attached_run(backend, built, name)
            specs = [
                s for s in planning.task_specs(built, current, name) if s.split_index is not None
            ]
            if not specs:
                raise FlowDefinitionError(f"Step {name!r} is not the first step of a foreach body.")
            if position not in (s.split_position for s in specs):
                raise FlowDefinitionError(
                    no_such_split(name, position, [s.split_position for s in specs])
                )
            debug = self._clone_run(backend, built, current, name, debug=True)
            spec = next(
                s for s in planning.task_specs(built, debug, name) if s.split_position == position
            )
            try:
                self._task_runner().execute(
                    backend,
                    built,
                    debug,
                    name,
                    [spec],
                    _script_name(self.notebook_path(), built.cls.__name__),
                )
            finally:
                self.run = current
        return debug

    @property
    def backend(self) -> mf.Backend | None:
        """Metaflow's environment, metadata and datastore for the flow last run (None before)."""
        return self._backend

    # -- pieces of run_step -----------------------------------------------------------------
    def _backend_for(self, cls: type[FlowSpec], storage: mf.Storage) -> mf.Backend:
        key = (cls.__name__, storage)
        if self._backend_key != key:  # another flow name or storage: re-attach there
            self.run = None
            self._backend = mf.Backend(cls, storage)
            self._backend_key = key
            self.flow_name = cls.__name__
        assert self._backend is not None  # set above for this key
        return self._backend

    def _notebook_tag(self) -> str | None:
        return runs.notebook_tag(self.notebook_path())

    def _start_run(self, backend: mf.Backend, built: BuiltFlow, script: str) -> RunRecord:
        self._chosen_run = None
        values = self._parameter_values(built)
        return runs.start_run(backend, built, script, values, self._notebook_tag())

    def _attached_run(self, backend: mf.Backend, built: BuiltFlow, step: str) -> RunRecord:
        if self.run is None:  # after a kernel restart: the notebook's newest run of the flow
            self.run = runs.latest_notebook_run(backend, self.latest_notebook_client_run)
        if self.run is None:
            raise runs.no_run_yet(built, step)
        return self.run

    def latest_notebook_client_run(self, flow_name: str) -> Any:
        """The run (Client ``Run``) of ``flow_name`` the user made current (:meth:`use_run`),
        else the newest one this notebook made (:func:`.runs.latest_notebook_client_run`)."""
        from metaflow import Run
        from metaflow.exception import MetaflowNotFound

        if self._chosen_run is not None and self._chosen_run.split("/")[0] == flow_name:
            try:
                return mf.in_any_namespace(Run, self._chosen_run)
            except MetaflowNotFound:  # deleted since: back to the notebook's latest run
                self._chosen_run = None
        return runs.latest_notebook_client_run(flow_name, self.notebook_path())

    def _clone_run(
        self, backend: mf.Backend, built: BuiltFlow, run: RunRecord, step: str, debug: bool = False
    ) -> RunRecord:
        return runs.clone_run(backend, built, run, step, self._notebook_tag(), debug)

    def _emit(self, event: StepEvent) -> None:
        emit(self._listeners, event)

    def _task_runner(self) -> StepTaskRunner:
        """What runs a step's tasks, with this execution's cells and settings."""
        return StepTaskRunner(
            self.notebook.last_cells,
            self.notebook_path(),
            self._listeners,
            self.max_workers_setting,
            self._kernel_build_seconds,
            self.notebook,
        )

    @staticmethod
    def _warn_scratch_names(
        undefined: list[NameProblem], step: str, user_ns: dict[str, Any]
    ) -> None:
        """The export guard's findings (``undefined``), as one warning: the step reads globals
        only scratch cells define (all named in one line), or a flow-cell constant as a bare
        name (a NameError follows)."""
        scratch: dict[str, int] = {}
        for problem in undefined:
            if problem.where != f"step {step!r}":
                continue
            if problem.scratch_cell is not None and problem.name in user_ns:
                scratch.setdefault(problem.name, problem.scratch_cell)
            elif problem.flow_constant and problem.name not in user_ns:
                error = problem.to_error()
                print(f"Warning: {error.message} {error.fix}", file=sys.stderr)
        if scratch:
            names = ", ".join(f"{name} (cell {cell + 1})" for name, cell in scratch.items())
            cells = sorted({cell + 1 for cell in scratch.values()})
            which = f"cell {cells[0]}" if len(cells) == 1 else "cells " + ", ".join(map(str, cells))
            print(
                f"Warning: step {step!r} uses names only scratch cells define: {names}; the "
                f"exported flow would fail with NameError. Move them into a module cell "
                f"(imports, def/class, literal constants) or tag {which} 'module'.",
                file=sys.stderr,
            )

    def _run_in_runtime(
        self,
        built: BuiltFlow,
        step: str,
        reasons: list[str],
        origin_run: str | None,
        param_args: Sequence[str] = (),
    ) -> RunRecord | None:
        """Execute ``step`` under Metaflow's runtime; its run becomes the current run."""
        outcome = native_runtime.run_step_in_runtime(
            built,
            step,
            reasons,
            origin_run,
            param_args,
            cells=self.notebook.last_cells,
            notebook_path=self.notebook_path(),
            listeners=self.listeners,
        )
        record = self.adopt_run(built, outcome.run_id)
        native_runtime.report(built, step, outcome)
        return record


RUNTIME_ONLY_DECORATORS = frozenset({"retry"})
"""Step decorators that still run in the kernel but act only under Metaflow's runtime
(``@retry(times=0)``; decorators that need the runtime go through :mod:`.native_runtime`)."""


def _warn_runtime_decorators(built: BuiltFlow, step: str) -> None:
    decos = built.graph[step].decorators
    names = [d.name for d in decos if d.name in RUNTIME_ONLY_DECORATORS]
    if names:
        shown = ", ".join(f"@{n}" for n in names)
        print(
            f"Note: {shown} on step {step!r} takes effect under Metaflow's runtime "
            "(`python flow.py run`); in the kernel the step runs once, here, without it.",
            file=sys.stderr,
        )


def _converts(built: BuiltFlow, prog: str) -> bool:
    """Do the %%flow line's own options convert (so a failure is papermill's values')?"""
    try:
        mf.parameter_values(built.cls, built.param_args, prog)
    except mf.UsageError:
        return False
    return True


_INCOMPLETE = {"missing-end", "missing-start", "unknown-target", "no-next", "no-steps"}
"""Problems of a flow whose remaining cells a headless kernel has not executed yet."""


def _shown_value(value: Any) -> str:
    """A parameter value for the ``%%flow`` summary (files are read when a run starts)."""
    return "<file, read when start runs>" if callable(value) else repr(value)


def _script_name(notebook_path: str | None, flow_name: str) -> str:
    """What ``sys.argv[0]`` says during a task: the flow file the notebook exports to."""
    if notebook_path:
        return os.path.splitext(os.path.basename(notebook_path))[0] + ".py"
    return f"{flow_name}.py"


_session: NotebookSession | None = None


def get_session() -> NotebookSession:
    """This kernel's session."""
    global _session
    if _session is None:
        _session = NotebookSession()
    return _session


def set_notebook_cells(cells: list[cellrules.CellInput], path: str | None) -> None:
    """For the comm handler: the frontend's live notebook cells and path."""
    get_session().set_notebook_cells(cells, path)

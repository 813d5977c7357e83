"""The notebook run session: executing a ``%%step`` cell runs that step as a real Metaflow task.

One :class:`NotebookSession` per kernel (:func:`get_session`). Executing a step cell:

1. assembles the notebook's flow with :mod:`jupyter_metaflow.assembly` from the freshest cell
   texts (:mod:`jupyter_metaflow.notebook_source`);
2. builds the ``FlowSpec`` subclass from the cells (:mod:`jupyter_metaflow.flowbuild`);
   Metaflow's ``FlowGraph`` and lint then check it, errors naming cell and line;
3. picks the run: ``start`` always opens a new run; another step runs in the current run when
   its parents ran there and it did not, else in a new run that clones the current run's tasks
   outside the step's descendants (as ``resume`` does); after a kernel restart the latest
   notebook run in the datastore is re-attached;
4. runs the tasks :func:`jupyter_metaflow.planning.task_specs` plans (every foreach split in
   order, one join task per split group) in this process through ``_metaflow.run_task``, the
   remaining ones in worker processes when :mod:`jupyter_metaflow.parallel`'s measured rule says
   that is faster, or the step under Metaflow's runtime when its decorators need it
   (:mod:`jupyter_metaflow.native_runtime`).

For frontends and later features: :attr:`NotebookSession.current_run`,
:attr:`NotebookSession.last_step`, :meth:`NotebookSession.client_run` and
:meth:`NotebookSession.add_listener` (called with a :class:`~jupyter_metaflow.events.StepEvent`
for every task status change). :func:`set_notebook_cells` is what the comm handler calls with
the live notebook.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _metaflow as mf
from . import cards, injected_parameters, native_runtime, parallel, planning, switches, workers
from . import cells as cellrules
from .assembly import FlowModel
from .errors import (
    DatastoreError,
    FlowDefinitionError,
    RunOrderError,
    StepCouldNotRun,
    StepFailed,
    StepInterrupted,
    damaged_datastore,
)
from .events import Listener, StepEvent, emit
from .flowbuild import (
    CELL_FILE_PREFIX,
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
from .task_errors import event_message, step_failed, transition_error

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
        return None if pathspec is None else Run(pathspec, _namespace_check=False)

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

        with storage_state(built) as storage:
            backend = self._backend_for(built.cls, storage)
            record = self._load_run(
                backend, Run(f"{backend.flow_name}/{run_id}", _namespace_check=False)
            )
        if record is not None:
            self.run = record
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
        values = self._parameter_values(built)
        shown = ", ".join(f"{k}={_shown_value(v)}" for k, v in values.items())
        summary = f"Flow {built.cls.__name__}" + (f" with parameters {shown}" if shown else "")
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
        declared = {
            attr: param.name
            for attr, param in built.cls._get_parameters()
            if not param.IS_CONFIG_PARAMETER
        }
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
        from metaflow._vendor import click

        prog = f"%%flow {built.cls.__name__}"
        try:
            return mf.parameter_values(built.cls, self.run_parameter_args(built), prog)
        except click.UsageError as exc:
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
            reason = _environment_reason(exc)
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
        with storage_state(built) as storage:
            backend = self._backend_for(built.cls, storage)
            backend.install_globals()
            self.last_step = name
            script = _script_name(self.notebook_path(), built.cls.__name__)
            if any(d.name == "card" for d in built.cls._graph[name].decorators):
                # @card renders in a subprocess running `python <sys.argv[0]> card create`
                script = str(
                    native_runtime.generated_flow_file(
                        self.notebook.last_cells,
                        self.notebook_path(),
                        built.cls.__name__,
                        os.getcwd(),
                    )
                )
            if name == built.cls._graph.start_step:
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
            self._execute(backend, built, run, name, specs, script, undefined)
            if cards.has_card(built.cls._graph, name):
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
        with storage_state(built) as storage:
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
                self._execute(
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
        path = self.notebook_path()
        return f"jupyter-metaflow-notebook:{os.path.basename(path)}" if path else None

    def _new_run(self, backend: mf.Backend, built: BuiltFlow, debug: bool = False) -> str:
        try:
            return mf.new_run(backend, built.cls, self._notebook_tag(), debug)
        except Exception as exc:  # a flow decorator's own check (@project's name, ...)
            if mf.storage_problem(exc):
                raise
            cause = _os_error_behind(exc)
            if cause is not None:  # the datastore, not the flow (Metaflow may raise another error)
                raise DatastoreError.from_os_error(cause, backend.datastore_root) from None
            where = built.flow_ref.where(None) if built.flow_ref else "the %%flow cell"
            raise FlowDefinitionError(
                f"A flow decorator in {where} failed: {type(exc).__name__}: {exc} No run was "
                "started."
            ) from None

    def _start_run(self, backend: mf.Backend, built: BuiltFlow, script: str) -> RunRecord:
        self._chosen_run = None
        values = self._parameter_values(built)
        run_id = self._new_run(backend, built)
        saved_argv0 = sys.argv[0]
        sys.argv[0] = script
        try:
            params_task = mf.persist_parameters(
                backend, built.cls, run_id, values, built.config_options
            )
        except Exception as exc:
            if mf.storage_problem(exc):
                raise
            if isinstance(exc, OSError):
                raise DatastoreError.from_os_error(exc, backend.datastore_root) from None
            raise FlowDefinitionError(
                f"The flow's parameters could not be set: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            sys.argv[0] = saved_argv0
        return RunRecord(run_id, params_task)

    def _attached_run(self, backend: mf.Backend, built: BuiltFlow, step: str) -> RunRecord:
        if self.run is None:
            self.run = self._latest_notebook_run(backend)
        if self.run is None:
            start = built.model.step(built.cls._graph.start_step)
            named = ""
            if built.model.name_source == "notebook":
                named = (
                    f" The flow is named after the notebook ({built.cls.__name__}): runs made "
                    "while the notebook had another name belong to that name's flow; a "
                    "%%flow NAME cell keeps one name across renames."
                )
            raise RunOrderError(
                f"Step {step!r} needs a run of the flow first: execute the start step "
                f"(cell {start.cell_index + 1}, %%step {start.name}) first.{named}"
            )
        return self.run

    def _latest_notebook_run(self, backend: mf.Backend) -> RunRecord | None:
        """Re-attach after a kernel restart: the notebook's newest run of the flow."""
        try:
            run = self.latest_notebook_client_run(backend.flow_name)
            return None if run is None else self._load_run(backend, run)
        except OSError as exc:  # an unreadable run folder
            if mf.storage_problem(exc):  # S3 or the metadata service: run_step words it
                raise
            raise DatastoreError.from_os_error(exc, backend.datastore_root) from None
        except ValueError as exc:  # a damaged metadata file (not JSON)
            raise damaged_datastore(exc, backend.datastore_root, backend.flow_name) from None

    def latest_notebook_client_run(self, flow_name: str) -> Any:
        """The newest run (Client ``Run``) this notebook made of ``flow_name``: in the kernel
        (our system tags), or by Metaflow's runtime from the generated ``<notebook>.nbflow.py``
        (``%mf_run``, ``%mf_resume``, runtime-path steps); never a ``%mf_split`` debug run."""
        from metaflow import Flow, Run, Step
        from metaflow.exception import MetaflowNotFound

        if self._chosen_run is not None and self._chosen_run.split("/")[0] == flow_name:
            try:
                return Run(self._chosen_run, _namespace_check=False)
            except MetaflowNotFound:  # deleted since: back to the notebook's latest run
                self._chosen_run = None
        wanted = self._notebook_tag()
        path = self.notebook_path()
        generated = (
            os.path.splitext(os.path.basename(path))[0] + native_runtime.GENERATED_SUFFIX
            if path
            else None
        )
        try:
            runs = list(Flow(flow_name, _namespace_check=False))
        except MetaflowNotFound:
            return None
        for run in runs:
            tags = run.system_tags
            if mf.DEBUG_SYS_TAG in tags:
                continue
            if mf.NOTEBOOK_SYS_TAG in tags:
                if wanted is None or wanted in tags:
                    return run
                continue
            try:
                params = Step(f"{run.pathspec}/_parameters", _namespace_check=False).task
            except MetaflowNotFound:
                continue
            if (
                generated
                and params is not None
                and params.metadata_dict.get("script-name") == generated
            ):
                return run
        return None

    @staticmethod
    def _load_run(backend: mf.Backend, run: Any) -> RunRecord | None:
        params = backend.flow_datastore.get_task_datastores(run_id=run.id, steps=["_parameters"])
        if not params:
            return None
        record = RunRecord(run.id, params[0].task_id)
        for step in run:
            for task in step:
                state = mf.read_task_state(backend, run.id, step.id, task)
                if state is None or not state.ok:  # never finished (kernel died) or failed
                    record.failed.add(step.id)
                else:
                    record.tasks.setdefault(step.id, []).append(state)
        for states in record.tasks.values():
            states.sort(
                key=lambda s: (s.foreach_stack, int(s.task_id) if s.task_id.isdigit() else 0)
            )
        backend.attach(run.id)
        return record

    def _clone_run(
        self, backend: mf.Backend, built: BuiltFlow, run: RunRecord, step: str, debug: bool = False
    ) -> RunRecord:
        """A new run holding clones of every finished task of ``run`` that does not depend on
        ``step`` (``step`` and its descendants are left to run again)."""
        try:
            return self._clone_tasks(backend, built, run, step, debug)
        except OSError as exc:  # a full or unwritable datastore while copying the run
            if mf.storage_problem(exc):  # S3 or the metadata service: run_step words it
                raise
            raise DatastoreError.from_os_error(exc, backend.datastore_root) from None

    def _clone_tasks(
        self, backend: mf.Backend, built: BuiltFlow, run: RunRecord, step: str, debug: bool
    ) -> RunRecord:
        stale = planning.descendants(built.cls._graph, step)
        new_id = self._new_run(backend, built, debug)
        params = mf.clone_task(backend, run.run_id, "_parameters", run.params_task, new_id)
        record = RunRecord(new_id, params)
        for name, states in run.tasks.items():
            if name in stale:
                continue
            for state in states:
                task_id = mf.clone_task(backend, run.run_id, name, state.task_id, new_id)
                clone = mf.TaskState(**{**state.__dict__, "task_id": task_id})
                record.tasks.setdefault(name, []).append(clone)
        return record

    def _emit(self, event: StepEvent) -> None:
        emit(self._listeners, event)

    def _execute(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        run: RunRecord,
        step: str,
        specs: list[TaskSpec],
        script: str,
        undefined: list[NameProblem] | None = None,
    ) -> None:
        """Run the step's tasks: in the kernel, one after another, or the remaining ones in
        worker processes when :mod:`.parallel`'s rule says that finishes sooner (``undefined``:
        the export guard's findings for the notebook, when already computed)."""
        cell = built.steps[step].cell
        source = next(
            (c.source for c in self.notebook.last_cells if c.index == cell.cell_index), None
        )
        base: dict[str, Any] = dict(
            step=step,
            flow=backend.flow_name,
            run_id=run.run_id,
            source=source,
            cell_id=cell.cell_id,
        )
        # a nested foreach body runs the splits of every outer split at once: its events then
        # number the tasks of this execution (progress over all of them), not the inner splits
        nested = (
            sum(s.split_index is not None for s in specs) > (specs[0].num_splits or 0)
            if specs
            else False
        )
        number = {id(s): i for i, s in enumerate(specs)}  # a recursive switch's iterations share it
        initial = len(specs)
        recursive = switches.is_recursive(built.cls._graph, step)

        def splits(spec: TaskSpec) -> dict[str, Any]:
            if nested:
                return {"split_index": number[id(spec)], "num_splits": initial}
            return {"split_index": spec.split_index, "num_splits": spec.num_splits}

        def header(spec: TaskSpec) -> str | None:
            what = (
                [f"split {spec.split_index + 1} of {spec.num_splits}"]
                if spec.split_index is not None
                else []
            )
            if nested or (not what and initial > 1):
                what.append(f"task {number[id(spec)] + 1} of {initial}")
            if recursive:
                what.append(f"iteration {spec.iteration + 1}")
            return f"── {step} · {' · '.join(what)} ──" if what else None

        began = time.perf_counter()

        def finished(
            spec: TaskSpec, state: mf.TaskState, error: BaseException | None, event: StepEvent
        ) -> TaskSpec | None:
            """Record a finished task; the recursive switch's next iteration, if any."""
            if initial > 1:
                event.elapsed = time.perf_counter() - began
            if error is not None:
                run.failed.add(step)
                self._emit(event)
                return None
            run.tasks.setdefault(step, []).append(state)
            if built.cls._graph[step].type == "split-switch":  # "3 → odd, 2 → even" in a foreach
                event.switch_counts = dict(
                    Counter(t.next_steps[0] for t in run.tasks[step] if t.next_steps)
                )
            self._emit(event)
            if recursive and state.next_steps == [step]:
                path = f"{run.run_id}/{step}/{state.task_id}"
                follow = TaskSpec(
                    [path],
                    spec.split_index,
                    spec.num_splits,
                    spec.iteration + 1,
                    spec.split_position,
                )
                number[id(follow)] = number[id(spec)]
                return follow
            return None

        for spec in specs:
            self._emit(StepEvent("queued", **splits(spec), **base))
        run.tasks.pop(step, None)
        run.failed.discard(step)
        planner = self._planner(built, backend, step, specs, undefined)
        pending = list(specs)
        while pending:
            if planner is not None and planner.hand_off(len(pending)):
                pending = self._execute_in_workers(
                    backend,
                    built,
                    run,
                    step,
                    pending,
                    script,
                    planner,
                    splits,
                    header,
                    finished,
                    base,
                )
                continue
            spec = pending.pop(0)
            label = header(spec)
            if label:
                print(label, flush=True)
            self._emit(StepEvent("running", **splits(spec), **base))
            started = time.perf_counter()
            try:
                outcome = mf.run_task(
                    backend,
                    built.cls,
                    run.run_id,
                    step,
                    spec.input_paths,
                    None if spec.iteration else spec.split_index,
                    script,
                )
            except Exception as exc:  # the task's id, writes, logs or artifact index failed
                run.failed.add(
                    step
                )  # executing the step again starts a new run, as after a failure
                if mf.storage_problem(exc) or not isinstance(exc, OSError):
                    raise  # S3 or the metadata service: run_step words it
                self._emit(
                    StepEvent(
                        "failed", **splits(spec), message=f"{type(exc).__name__}: {exc}", **base
                    )
                )
                raise DatastoreError.from_os_error(exc, backend.datastore_root) from None
            if planner is not None:
                planner.kernel_task(time.perf_counter() - started)
            error = transition_error(built, step, outcome)
            event = StepEvent(
                "done" if error is None else "failed",
                task_id=outcome.state.task_id,
                **splits(spec),
                duration=outcome.duration,
                artifact_count=outcome.artifact_count,
                **base,
            )
            if error is not None and mf.storage_problem(error):
                run.failed.add(step)
                raise error  # the step's code is not at fault: one line, see run_step
            if error is not None:
                event.message = event_message(error)
            follow = finished(spec, outcome.state, error, event)
            if error is not None:
                for rest in pending:
                    self._emit(
                        StepEvent(
                            "skipped", **splits(rest), message="an earlier task failed", **base
                        )
                    )
                if isinstance(error, OSError) and not _raised_in_cell(error):
                    # Metaflow's own saving of the task (artifacts, logs) failed
                    raise DatastoreError.from_os_error(error, backend.datastore_root) from None
                raise step_failed(
                    built, step, f"{backend.flow_name}/{run.run_id}", error
                ) from error
            if outcome.interrupted_after:
                if follow is not None:
                    pending.insert(0, follow)
                if pending:  # the step is not complete: it runs again as a whole
                    run.failed.add(step)
                for other in pending:
                    self._emit(StepEvent("skipped", **splits(other), message="interrupted", **base))
                where = built.steps[step].ref.where(None)
                left = f" ({len(pending)} of its tasks did not run)" if pending else ""
                raise StepInterrupted(
                    f"Interrupted after step {step!r} in {where} finished a task in run "
                    f"{run.run_id}: "
                    f"the task is kept{left}.",
                    "",
                )
            if follow is not None:
                pending.insert(0, follow)
        if planner is not None:
            planner.done()

    def _planner(
        self,
        built: BuiltFlow,
        backend: mf.Backend,
        step: str,
        specs: list[TaskSpec],
        undefined: list[NameProblem] | None,
    ) -> parallel.Planner | None:
        """Whether (and how widely) this step's tasks may go to worker processes; None when
        they all run in the kernel anyway (one task, or one worker allowed)."""
        if len(specs) < 2:
            return None
        max_workers, source = parallel.max_workers_limit(
            built.max_workers, self.max_workers_setting
        )
        if max_workers < 2:
            return None
        if undefined is None:
            undefined = find_undefined_names(built.model, self.notebook.last_cells)
        names = sorted({p.name for p in undefined if p.where == f"step {step!r}"})
        blocked = (
            f"it reads {', '.join(names)}, which the module cells do not define (the exported "
            "flow would not either)"
            if names
            else None
        )
        return parallel.Planner(
            (backend.flow_name, step),
            len(specs),
            max_workers,
            blocked,
            self._build_spec(),
            self._kernel_build_seconds,
            limit_source=source,
        )

    def _build_spec(self) -> tuple[str, dict[str, Any]]:
        """What a worker builds the flow from (the cells this execution used), and its key."""
        path = self.notebook_path()
        spec = {
            "cells": [
                (c.index, c.id, c.cell_type, c.source, list(c.tags))
                for c in self.notebook.last_cells
            ],
            "path": path,
            "file": os.path.abspath(path) if path else None,
        }
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest(), spec

    def _execute_in_workers(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        run: RunRecord,
        step: str,
        pending: list[TaskSpec],
        script: str,
        planner: parallel.Planner,
        splits: Callable,
        header: Callable,
        finished: Callable,
        base: dict[str, Any],
    ) -> list[TaskSpec]:
        """Run tasks in worker processes (see :mod:`.parallel`); raises as the kernel path does.
        Returns the tasks left to the kernel when workers cannot be used."""
        root = backend.datastore_root
        failures: list[tuple[Any, TaskSpec, dict[str, Any]]] = []
        order = {id(s): i for i, s in enumerate(pending)}

        def job(spec: TaskSpec, index: tuple) -> parallel.Job:
            return parallel.Job(
                index,
                header(spec),
                {
                    "run_id": run.run_id,
                    "step": step,
                    "input_paths": spec.input_paths,
                    "split_index": None if spec.iteration else spec.split_index,
                    "script": script,
                    "root": root,
                    "storage": built.storage_options,
                },
                spec,
            )

        def start(item: parallel.Job) -> str:
            self._emit(StepEvent("running", **splits(item.spec), **base))
            return backend.new_task_id(run.run_id, step)

        def finish(item: parallel.Job, result: dict[str, Any]) -> list[parallel.Job]:
            spec, failure = item.spec, result.get("failure")
            state = mf.TaskState(**result["state"])
            if "wall" in result:
                planner.worker_task(result["wall"])
            event = StepEvent(
                "done" if failure is None else "failed",
                task_id=state.task_id,
                **splits(spec),
                duration=result.get("duration"),
                artifact_count=result.get("artifact_count"),
                **base,
            )
            if failure is not None:
                event.message = failure["event"]
                failures.append((item.index, spec, failure))
            follow = finished(
                spec, state, None if failure is None else StepFailed(failure["message"], ""), event
            )
            return [] if follow is None else [job(follow, (item.index[0], spec.iteration + 1))]

        def skip(item: parallel.Job) -> None:
            self._emit(
                StepEvent("skipped", **splits(item.spec), message="an earlier task failed", **base)
            )

        key, spec = self._build_spec()
        what = "splits" if all(s.split_index is not None for s in pending) else "tasks"
        print(
            f"[{len(pending)} {what} of {step!r} in {min(planner.max_workers, len(pending))} "
            f"worker processes; at most {planner.max_workers}: {planner.limit_source}]",
            flush=True,
        )
        outcome = parallel.run_in_workers(
            workers.get_pool(),
            [job(s, (order[id(s)], s.iteration)) for s in pending],
            planner.max_workers,
            key,
            spec,
            start,
            finish,
            skip,
            planner.keep_going,
        )
        if outcome.unrun:
            if outcome.fallback is not None:
                print(
                    f"Note: the tasks of {step!r} run in the kernel: {outcome.fallback}.",
                    file=sys.stderr,
                    flush=True,
                )
                planner.blocked = outcome.fallback
            return [item.spec for item in outcome.unrun]
        if outcome.interrupted:
            raise StepInterrupted(
                f"Step {step!r} in {built.steps[step].ref.where(None)} was interrupted in run "
                f"{backend.flow_name}/{run.run_id}; every worker stopped. Earlier runs and their "
                "artifacts are unchanged.",
                "",
            )
        if failures:
            failures.sort(key=lambda f: f[0])
            _, failed_spec, failure = failures[0]
            message = failure["message"]
            if (
                failed_spec.split_position
                and built.cls._graph[step].in_funcs
                and any(
                    built.cls._graph[p].type == "foreach" for p in built.cls._graph[step].in_funcs
                )
            ):
                message += (
                    f" The split ran in a worker process: to debug it with %debug, re-run it "
                    f"in the kernel with %mf_split {step} "
                    f"{' '.join(map(str, failed_spec.split_position))}."
                )
            others = len(failures) - 1
            if others:
                message += f" {others} other task(s) of the step failed too."
            cls = StepInterrupted if failure["interrupted"] else StepFailed
            raise cls(message, failure["user_traceback"])
        return []

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


def _environment_reason(exc: Exception) -> str:
    """One line for a failure of Metaflow or the environment, as ``python flow.py run``
    words it (Metaflow's headline and message), with the fix when there is a known one."""
    from metaflow.exception import MetaflowException, MetaflowUnknownUser

    problem = mf.storage_problem(exc)
    if problem is not None:
        return problem
    if isinstance(exc, MetaflowUnknownUser):
        return (
            f"{exc.headline}: {exc.message}. Run %env USER=<your name> in the notebook, or "
            "set METAFLOW_USER in the environment Jupyter starts in, then execute the step "
            "again."
        )
    if isinstance(exc, MetaflowException):
        return f"{exc.headline}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _os_error_behind(error: BaseException) -> OSError | None:
    """``error`` if it is an ``OSError``, else the first one in its causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _raised_in_cell(error: BaseException) -> bool:
    """Whether ``error``'s traceback passes through a notebook cell's code."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(CELL_FILE_PREFIX):
            return True
        tb = tb.tb_next
    return False


def storage_state(built: BuiltFlow) -> Any:
    """:func:`_metaflow.metaflow_state` for the flow's storage (the ``%%flow`` line's
    ``--datastore``/``--datastore-root``/``--metadata``, else Metaflow's configuration); a
    storage that cannot be chosen or reached is an error naming the setting to fix."""
    try:
        storage = mf.resolve_storage(**built.storage_options)
    except mf.StorageError as exc:
        where = built.flow_ref.where(1) if built.flow_ref else "the Metaflow configuration"
        raise FlowDefinitionError(
            f"Where the flow's runs live cannot be chosen ({where}): {exc}\nFix the %%flow line's "
            "--datastore / --datastore-root / --metadata options or the Metaflow configuration "
            "(METAFLOW_PROFILE, ~/.metaflowconfig, METAFLOW_DEFAULT_DATASTORE, "
            "METAFLOW_DATASTORE_SYSROOT_S3...). No run was started."
        ) from None
    unreachable = mf.unreachable_storage(storage)
    if unreachable is not None:
        raise StepCouldNotRun(f"Metaflow cannot store the run: {unreachable}")
    return mf.metaflow_state(**built.storage_options)


RUNTIME_ONLY_DECORATORS = frozenset({"retry"})
"""Step decorators that still run in the kernel but act only under Metaflow's runtime
(``@retry(times=0)``; decorators that need the runtime go through :mod:`.native_runtime`)."""


def _warn_runtime_decorators(built: BuiltFlow, step: str) -> None:
    names = [d.name for d in built.cls._graph[step].decorators if d.name in RUNTIME_ONLY_DECORATORS]
    if names:
        shown = ", ".join(f"@{n}" for n in names)
        print(
            f"Note: {shown} on step {step!r} takes effect under Metaflow's runtime "
            "(`python flow.py run`); in the kernel the step runs once, here, without it.",
            file=sys.stderr,
        )


def _converts(built: BuiltFlow, prog: str) -> bool:
    """Do the %%flow line's own options convert (so a failure is papermill's values')?"""
    from metaflow._vendor import click

    try:
        mf.parameter_values(built.cls, built.param_args, prog)
    except click.UsageError:
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

"""Running one step's tasks: in the kernel one after another, or the remaining ones in worker
processes when :mod:`.parallel`'s measured rule says that finishes sooner.

The session (:mod:`.session`) picks the run and plans the tasks
(:func:`.planning.task_specs`); this module runs them, reports every task's status as a
:class:`~.events.StepEvent` and raises in the step's cell as a failed task deserves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _metaflow as mf
from . import cells as cellrules
from . import parallel, switches, workers
from .errors import DatastoreError, StepFailed, StepInterrupted
from .events import Listener, StepEvent, emit
from .flowbuild import BuiltFlow
from .foreach import split_label
from .nameguard import (
    NameProblem,
    find_undefined_names,
    global_refs,
    imported_names,
    rebinding_names,
    strip_magics,
)
from .notebook_source import NotebookSource
from .planning import RunRecord, TaskSpec
from .task_errors import event_message, raised_in_cell, step_failed, transition_error

__all__ = ["StepTaskRunner"]


@dataclass
class _WorkerJobs:
    """A step execution's tasks as worker jobs, and the callbacks
    :func:`.parallel.run_in_workers` reports them through (see
    :meth:`StepTaskRunner._worker_jobs`)."""

    planner: parallel.Planner
    run_id: str
    job: Callable[[TaskSpec], parallel.Job]
    start: Callable[[parallel.Job], str]
    began: Callable[[parallel.Job], None]
    finish: Callable[[parallel.Job, dict[str, Any]], list[parallel.Job]]
    skip: Callable[[parallel.Job], None]
    marker: Callable[[str], str | None]
    """The folder deciding whether the kernel or a worker runs a task (a head start's)."""
    failures: list[tuple[Any, TaskSpec, dict[str, Any]]]
    """Failed worker tasks: (job index, task, the worker's failure)."""


class StepTaskRunner:
    """Runs a step's tasks for the session, with what it needs of the notebook and settings."""

    def __init__(
        self,
        cells: list[cellrules.CellInput],
        notebook_path: str | None,
        listeners: list[Listener],
        max_workers_setting: int | None,
        kernel_build_seconds: float,
        notebook: NotebookSource,
    ) -> None:
        self.cells = cells
        """The notebook cells the flow was built from (a worker builds it from them too)."""
        self.notebook_path = notebook_path
        self.listeners = listeners
        self.max_workers_setting = max_workers_setting
        """The frontend's setting Maximum workers, if set."""
        self.kernel_build_seconds = kernel_build_seconds
        """How long building the flow took in the kernel (a worker's build takes about as long)."""
        self.notebook = notebook
        """Which cells this kernel executed, when, and with what text."""

    def _emit(self, event: StepEvent) -> None:
        emit(self.listeners, event)

    def execute(
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
        source = next((c.source for c in self.cells if c.index == cell.cell_index), None)
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
        recursive = switches.is_recursive(built.graph, step)

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
            if built.graph[step].type == "split-switch":  # "3 → odd, 2 → even" in a foreach
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
        jobs = (
            None
            if planner is None
            else self._worker_jobs(
                backend, built, run, step, script, planner, splits, header, finished, base, number
            )
        )
        pending = list(specs)
        ahead: list[parallel.HeadStart] = []
        """The next tasks, sent to workers while the kernel runs its first one."""
        while pending or ahead:
            if ahead:  # the kernel's first task ended
                assert jobs is not None
                begun = [h for h in ahead if not h.take_back()]
                # the ones no worker began go back to the kernel's list, in their order
                pending = sorted(
                    pending + [h.job.spec for h in ahead if h not in begun],
                    key=lambda s: number[id(s)],
                )
                ahead = []
                if begun:  # they run beside the kernel's task: the tasks are worth workers
                    jobs.planner.adopt_head_start()
                    pending = self._execute_in_workers(backend, built, step, pending, jobs, begun)
                    continue
            if planner is not None and planner.hand_off(len(pending)):
                assert jobs is not None
                pending = self._execute_in_workers(backend, built, step, pending, jobs)
                continue
            spec = pending.pop(0)
            claimed: tuple[str, bool] | None = None
            if planner is not None and backend.claims_task_ids and not recursive:
                assert jobs is not None
                heads = planner.head_start_workers()[: len(pending)]
                if heads:  # the kernel's task id first: ids follow the splits' order
                    claimed = backend.claim_task_id(run.run_id, step)
                for worker, wait in heads:
                    ahead.append(
                        parallel.HeadStart.send(
                            workers.get_pool(),
                            worker,
                            jobs.job(pending.pop(0)),
                            jobs.planner.build_key,
                            jobs.planner.build_spec,
                            jobs.start,
                            jobs.marker,
                            wait,
                        )
                    )
            try:
                self._kernel_task(
                    backend,
                    built,
                    run,
                    step,
                    spec,
                    script,
                    planner,
                    pending,
                    splits,
                    header,
                    finished,
                    base,
                    claimed,
                )
            except BaseException as exc:
                if ahead:
                    assert jobs is not None
                    self._settle_head_start(
                        backend, built, run, step, jobs, ahead, isinstance(exc, KeyboardInterrupt)
                    )
                raise
        if planner is not None:
            planner.done()

    def _settle_head_start(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        run: RunRecord,
        step: str,
        jobs: _WorkerJobs,
        ahead: list[parallel.HeadStart],
        interrupted: bool,
    ) -> None:
        """The kernel's task failed (or was interrupted): its head starts do not begin, or,
        begun, finish as a failing step's other tasks do (interrupted with it), their results
        recorded; the kernel's error is the step's."""
        begun = [h for h in ahead if not h.take_back()]
        for head_start in ahead:
            if head_start not in begun:
                run.failed.add(step)  # a task did not run: the step runs again as a whole
                jobs.skip(head_start.job)
        for head_start in begun if interrupted else []:
            head_start.worker.interrupt()
        if begun:
            with contextlib.suppress(StepFailed):  # StepInterrupted too
                self._execute_in_workers(backend, built, step, [], jobs, begun)

    def _kernel_task(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        run: RunRecord,
        step: str,
        spec: TaskSpec,
        script: str,
        planner: parallel.Planner | None,
        pending: list[TaskSpec],
        splits: Callable,
        header: Callable,
        finished: Callable,
        base: dict[str, Any],
        claimed: tuple[str, bool] | None = None,
    ) -> None:
        """Run one task in the kernel (``claimed``: its task id, claimed already, and whether
        it is registered); a recursive switch's next iteration goes to the front of
        ``pending``. Raises in the step's cell as a failed task deserves."""
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
                task_id=None if claimed is None else claimed[0],
                claimed=claimed is not None and not claimed[1],
            )
        except Exception as exc:  # the task's id, writes, logs or artifact index failed
            run.failed.add(step)  # executing the step again starts a new run, as after a failure
            if mf.storage_problem(exc) or not isinstance(exc, OSError):
                raise  # S3 or the metadata service: run_step words it
            self._emit(
                StepEvent("failed", **splits(spec), message=f"{type(exc).__name__}: {exc}", **base)
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
                    StepEvent("skipped", **splits(rest), message="an earlier task failed", **base)
                )
            if isinstance(error, OSError) and not raised_in_cell(error):
                # Metaflow's own saving of the task (artifacts, logs) failed
                raise DatastoreError.from_os_error(error, backend.datastore_root) from None
            raise step_failed(built, step, f"{backend.flow_name}/{run.run_id}", error) from error
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
            undefined = find_undefined_names(built.model, self.cells)
        names = sorted({p.name for p in undefined if p.where == f"step {step!r}"})
        edited = [c.index + 1 for c in self.notebook.edited_since_run(built.model.module_cells)]
        rebound = self._rebound_names(built, step)
        blocked = None
        if names:
            blocked = (
                f"it reads {', '.join(names)}, which the module cells do not define (the "
                "exported flow would not either)"
            )
        elif rebound:  # a worker has only what the module cells define
            blocked = "; ".join(
                f"it reads {name}, which scratch cell {number} set again after the module "
                f"cells (a worker has only the module cells' {name})"
                for name, number in sorted(rebound.items())
            )
        elif edited:  # a worker builds the cells' text, the kernel holds what they ran
            which = ", ".join(map(str, edited))
            blocked = (
                f"cell {which} changed since it ran (a worker would build the new text, the "
                f"kernel has what ran); run cell {which} to use the change"
                if len(edited) == 1
                else f"cells {which} changed since they ran (a worker would build the new "
                f"text, the kernel has what ran); run them to use the change"
            )
        return parallel.Planner(
            (backend.flow_name, step),
            len(specs),
            max_workers,
            blocked,
            self._build_spec(built),
            self.kernel_build_seconds,
            limit_source=source,
        )

    def _rebound_names(self, built: BuiltFlow, step: str) -> dict[str, int]:
        """Names the step reads that a scratch cell bound after the module cell defining them
        last ran in this kernel (name -> that scratch cell's number): the kernel's value is not
        the one a worker builds. Importing what a module cell imports under that name again is
        no change."""
        model = built.model
        node = next(s for s in model.steps if s.name == step)
        args = "self, inputs" if model.is_join(step) else "self"
        reads = set(global_refs(node.body, f"def _step({args}):") or ())
        module_ran: dict[str, float] = {}  # name -> when a module cell defining it last ran
        module_value: dict[str, set[str | None]] = {}  # name -> its imports (None: not one)
        for cell in model.module_cells:
            defined_at = self.notebook.ran_at(cell) or 0.0
            source = strip_magics(cell.source)
            imports = imported_names(source)
            for name in (rebinding_names(source) | imports.keys()) & reads:
                module_ran[name] = max(module_ran.get(name, 0.0), defined_at)
                module_value.setdefault(name, set()).add(imports.get(name))
        rebound: dict[str, int] = {}
        for cell in model.scratch_cells:
            set_at = self.notebook.ran_at(cell)
            source = strip_magics(cell.source)
            imports = imported_names(source)
            for name in (rebinding_names(source) | imports.keys()) & module_ran.keys():
                same = name in imports and module_value[name] == {imports[name]}
                if not same and set_at is not None and set_at > module_ran[name]:
                    rebound[name] = cell.index + 1
        return rebound

    def _build_spec(self, built: BuiltFlow) -> tuple[str, dict[str, Any]]:
        """What a worker builds the flow from (the cells this execution used), and its key.
        A scratch cell goes with an empty text (it stays a scratch cell in its place): the
        worker never runs it, and editing one does not make the workers run the module
        cells again."""
        path = self.notebook_path
        scratch = {c.index for c in built.model.scratch_cells}
        spec = {
            "cells": [
                (c.index, c.id, c.cell_type, "" if c.index in scratch else c.source, list(c.tags))
                for c in self.cells
            ],
            "path": path,
            "file": os.path.abspath(path) if path else None,
        }
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest(), spec

    def _worker_jobs(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        run: RunRecord,
        step: str,
        script: str,
        planner: parallel.Planner,
        splits: Callable,
        header: Callable,
        finished: Callable,
        base: dict[str, Any],
        number: dict[int, int],
    ) -> _WorkerJobs:
        """The step's tasks as worker jobs, and the callbacks :func:`.parallel.run_in_workers`
        reports them through."""
        failures: list[tuple[Any, TaskSpec, dict[str, Any]]] = []
        root = backend.datastore_root

        def job(spec: TaskSpec) -> parallel.Job:
            return parallel.Job(
                (number[id(spec)], spec.iteration),
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
            task_id, registered = backend.claim_task_id(run.run_id, step)
            item.payload["claimed"] = not registered
            return task_id

        def began(item: parallel.Job) -> None:
            self._emit(StepEvent("running", **splits(item.spec), **base))

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
            return [] if follow is None else [job(follow)]

        def skip(item: parallel.Job) -> None:
            self._emit(
                StepEvent("skipped", **splits(item.spec), message="an earlier task failed", **base)
            )

        return _WorkerJobs(
            planner,
            run.run_id,
            job,
            start,
            began,
            finish,
            skip,
            lambda task_id: backend.contest_marker(run.run_id, task_id),
            failures,
        )

    def _execute_in_workers(
        self,
        backend: mf.Backend,
        built: BuiltFlow,
        step: str,
        pending: list[TaskSpec],
        jobs: _WorkerJobs,
        adopted: list[parallel.HeadStart] | None = None,
    ) -> list[TaskSpec]:
        """Run tasks in worker processes (see :mod:`.parallel`), with ``adopted`` the head
        starts workers began; raises as the kernel path does. Returns the tasks left to the
        kernel when workers cannot be used."""
        planner = jobs.planner
        adopted = adopted or []
        specs = [*pending, *(h.job.spec for h in adopted)]
        count = len(specs)
        what = "split" if all(s.split_index is not None for s in specs) else "task"
        used = min(planner.max_workers, count)
        print(
            f"[{count} {what}{'s' * (count != 1)} of {step!r} in {used} "
            f"worker process{'es' * (used != 1)}; at most {planner.max_workers}: "
            f"{planner.limit_source}]",
            flush=True,
        )
        outcome = parallel.run_in_workers(
            workers.get_pool(),
            [jobs.job(s) for s in pending],
            planner.max_workers,
            planner.build_key,
            planner.build_spec,
            jobs.start,
            jobs.began,
            jobs.finish,
            jobs.skip,
            planner.keep_going,
            prefetch=backend.claims_task_ids,
            adopted=adopted,
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
                f"{backend.flow_name}/{jobs.run_id}; every worker stopped. "
                "Earlier runs and their artifacts are unchanged.",
                "",
            )
        failures = jobs.failures
        if failures:
            failures.sort(key=lambda f: f[0])
            _, failed_spec, failure = failures[0]
            message = failure["message"]
            if (
                failed_spec.split_position
                and built.graph[step].in_funcs
                and any(built.graph[p].type == "foreach" for p in built.graph[step].in_funcs)
            ):
                position = failed_spec.split_position
                message += (
                    f" The split ran in a worker process: to debug it with %debug, re-run it "
                    f"in the kernel with %mf_split {step} {' '.join(map(str, position))} "
                    f"(its index {split_label(position)}; the output's labels count from 1)."
                )
            others = len(failures) - 1
            if others:
                message += f" {others} other task(s) of the step failed too."
            cls = StepInterrupted if failure["interrupted"] else StepFailed
            raise cls(message, failure["user_traceback"])
        return []

"""The notebook's runs: where they live, starting one, re-attaching to the notebook's newest
after a kernel restart, cloning one for a re-execution (as ``resume`` does).

A run made in the kernel carries the system tag ``jupyter-metaflow-notebook:<file>`` (see
:func:`notebook_tag`), so the next kernel of the same notebook finds it; runs Metaflow's
runtime made from the generated ``<notebook>.nbflow.py`` are found by their script name. The
session (:mod:`.session`) keeps which run is current; this module reads and writes runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from . import _metaflow as mf
from . import native_runtime, planning
from .errors import (
    DatastoreError,
    FlowDefinitionError,
    RunOrderError,
    StepCouldNotRun,
    damaged_datastore,
)
from .flowbuild import BuiltFlow
from .planning import RunRecord
from .task_errors import os_error_behind

__all__ = [
    "clone_run",
    "latest_notebook_client_run",
    "latest_notebook_run",
    "load_run",
    "new_run",
    "no_run_yet",
    "notebook_tag",
    "start_run",
    "storage_state",
]


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


def notebook_tag(notebook_path: str | None) -> str | None:
    """The system tag of the runs a kernel makes for the notebook at ``notebook_path``."""
    return f"jupyter-metaflow-notebook:{os.path.basename(notebook_path)}" if notebook_path else None


def new_run(backend: mf.Backend, built: BuiltFlow, tag: str | None, debug: bool = False) -> str:
    """A new run id of the flow, tagged ``tag``; a flow decorator's failing check is the
    ``%%flow`` cell's error, a datastore's is the datastore's."""
    try:
        return mf.new_run(backend, built.cls, tag, debug)
    except Exception as exc:  # a flow decorator's own check (@project's name, ...)
        if mf.storage_problem(exc):
            raise
        cause = os_error_behind(exc)
        if cause is not None:  # the datastore, not the flow (Metaflow may raise another error)
            raise DatastoreError.from_os_error(cause, backend.datastore_root) from None
        where = built.flow_ref.where(None) if built.flow_ref else "the %%flow cell"
        raise FlowDefinitionError(
            f"A flow decorator in {where} failed: {type(exc).__name__}: {exc} No run was started."
        ) from None


def start_run(
    backend: mf.Backend,
    built: BuiltFlow,
    script: str,
    values: dict[str, Any],
    tag: str | None,
) -> RunRecord:
    """A new run with its ``_parameters`` task holding the parameter ``values``."""
    run_id = new_run(backend, built, tag)
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


def no_run_yet(built: BuiltFlow, step: str) -> RunOrderError:
    """The error of a step executed before any run of the flow exists."""
    start = built.model.step(built.graph.start_step)
    named = ""
    if built.model.name_source == "notebook":
        named = (
            f" The flow is named after the notebook ({built.cls.__name__}): runs made "
            "while the notebook had another name belong to that name's flow; a "
            "%%flow NAME cell keeps one name across renames."
        )
    return RunOrderError(
        f"Step {step!r} needs a run of the flow first: execute the start step "
        f"(cell {start.cell_index + 1}, %%step {start.name}) first.{named}"
    )


def latest_notebook_run(backend: mf.Backend, find: Callable[[str], Any]) -> RunRecord | None:
    """Re-attach after a kernel restart: the run ``find(flow_name)`` names (the notebook's
    newest run of the flow), loaded; an unreadable or damaged datastore is its error."""
    try:
        run = find(backend.flow_name)
        return None if run is None else load_run(backend, run)
    except OSError as exc:  # an unreadable run folder
        if mf.storage_problem(exc):  # S3 or the metadata service: run_step words it
            raise
        raise DatastoreError.from_os_error(exc, backend.datastore_root) from None
    except ValueError as exc:  # a damaged metadata file (not JSON)
        raise damaged_datastore(exc, backend.datastore_root, backend.flow_name) from None


def latest_notebook_client_run(flow_name: str, notebook_path: str | None) -> Any:
    """The newest run (Client ``Run``) the notebook at ``notebook_path`` made of ``flow_name``:
    in the kernel (our system tags), or by Metaflow's runtime from the generated
    ``<notebook>.nbflow.py`` (``%mf_run``, ``%mf_resume``, runtime-path steps); never a
    ``%mf_split`` debug run."""
    from metaflow import Flow, Step
    from metaflow.exception import MetaflowNotFound

    wanted = notebook_tag(notebook_path)
    generated = (
        os.path.splitext(os.path.basename(notebook_path))[0] + native_runtime.GENERATED_SUFFIX
        if notebook_path
        else None
    )
    try:
        runs = list(mf.in_any_namespace(Flow, flow_name))
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
            params = mf.in_any_namespace(Step, f"{run.pathspec}/_parameters").task
        except MetaflowNotFound:
            continue
        if (
            generated
            and params is not None
            and params.metadata_dict.get("script-name") == generated
        ):
            return run
    return None


def load_run(backend: mf.Backend, run: Any) -> RunRecord | None:
    """The finished and failed tasks of the Client ``run``, with ``backend`` attached to it."""
    params_task = mf.parameters_task_id(backend, run.id)
    if params_task is None:
        return None
    record = RunRecord(run.id, params_task)
    for step in run:
        for task in step:
            state = mf.read_task_state(backend, run.id, step.id, task)
            if state is None or not state.ok:  # never finished (kernel died) or failed
                record.failed.add(step.id)
            else:
                record.tasks.setdefault(step.id, []).append(state)
    for states in record.tasks.values():
        states.sort(key=lambda s: (s.foreach_stack, int(s.task_id) if s.task_id.isdigit() else 0))
    backend.attach(run.id)
    return record


def clone_run(
    backend: mf.Backend,
    built: BuiltFlow,
    run: RunRecord,
    step: str,
    tag: str | None,
    debug: bool = False,
) -> RunRecord:
    """A new run holding clones of every finished task of ``run`` that does not depend on
    ``step`` (``step`` and its descendants are left to run again)."""
    try:
        return _clone_tasks(backend, built, run, step, tag, debug)
    except OSError as exc:  # a full or unwritable datastore while copying the run
        if mf.storage_problem(exc):  # S3 or the metadata service: run_step words it
            raise
        raise DatastoreError.from_os_error(exc, backend.datastore_root) from None


def _clone_tasks(
    backend: mf.Backend,
    built: BuiltFlow,
    run: RunRecord,
    step: str,
    tag: str | None,
    debug: bool,
) -> RunRecord:
    stale = planning.descendants(built.graph, step)
    new_id = new_run(backend, built, tag, debug)
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

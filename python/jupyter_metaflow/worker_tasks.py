"""What a worker process does (see :mod:`.workers`): build the flow from the notebook's cells
as the exported flow file does, and run tasks of it with Metaflow's task code.

Imported by the worker before it reports ready, so Metaflow and the flow builder are loaded
ahead of the first task.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from . import _metaflow as mf
from . import cells as cellrules
from .assembly import assemble
from .errors import FlowDefinitionError
from .flowbuild import CELL_FILE_PREFIX, BuiltFlow, CellRef, build_flow, register_source
from .nameguard import strip_magics
from .task_errors import event_message, step_failed, transition_error

__all__ = ["BuildError", "TaskRunner", "module_cell_file"]


class BuildError(Exception):
    """The flow cannot be built from the module and step cells alone (what the exported file
    would hit too); the message names the cell."""


def module_cell_file(cell: cellrules.CellInput) -> str:
    """The pseudo-file a module cell runs as in a worker (tracebacks name the cell)."""
    return f"{CELL_FILE_PREFIX}{cell.index + 1}-module>"


class TaskRunner:
    """A worker's flow (rebuilt when the kernel sends another notebook version) and its tasks."""

    def __init__(self) -> None:
        main = sys.modules["__main__"]
        self._main = main
        self._pristine = dict(main.__dict__)
        self.build_key: str | None = None
        self.built: BuiltFlow | None = None
        self._backends: dict[tuple[str, mf.Storage], mf.Backend] = {}

    def build(self, key: str, spec: dict[str, Any]) -> float:
        """Run the module cells in a fresh ``__main__`` and build the flow class; seconds taken.
        Raises :class:`BuildError`."""
        started = time.perf_counter()
        self.build_key = self.built = None
        namespace = self._main.__dict__
        namespace.clear()
        namespace.update(self._pristine)
        if spec.get("file"):
            namespace["__file__"] = spec["file"]
        cells = [
            cellrules.CellInput(index=i, id=cid, cell_type=kind, source=source, tags=tuple(tags))
            for i, cid, kind, source, tags in spec["cells"]
        ]
        model = assemble(cells, spec.get("path"))
        for cell in model.module_cells:
            filename = module_cell_file(cell)
            code = strip_magics(cell.source)
            register_source(filename, code, CellRef(cell.index, cell.id, "module cell"))
            try:
                exec(compile(code, filename, "exec"), namespace)
            except BaseException as exc:
                raise BuildError(
                    f"module cell {cell.index + 1} raised {type(exc).__name__}: {exc}"
                ) from None
        try:
            built = build_flow(model, namespace)
        except FlowDefinitionError as exc:
            raise BuildError(str(exc)) from None
        except Exception as exc:
            raise BuildError(f"{type(exc).__name__}: {exc}") from None
        self.build_key, self.built = key, built
        return time.perf_counter() - started

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one task; the result the kernel turns into the task's event (never raises but
        ``KeyboardInterrupt`` outside the task)."""
        built = self.built
        assert built is not None and job["build_key"] == self.build_key
        started = time.perf_counter()
        try:
            # the %%flow line's --datastore/--datastore-root/--metadata, as in the kernel
            with mf.metaflow_state(**job["storage"]) as storage:
                root = storage.root
                if root != job["root"]:
                    return _failed(
                        job,
                        "datastore mismatch",
                        f"The worker found the datastore at {root}, the kernel at {job['root']}.",
                    )
                key = (built.cls.__name__, storage)
                backend = self._backends.get(key)
                if backend is None:
                    backend = self._backends[key] = mf.Backend(built.cls, storage)
                backend.install_globals()
                outcome = mf.run_task(
                    backend,
                    built.cls,
                    job["run_id"],
                    job["step"],
                    job["input_paths"],
                    job["split_index"],
                    job["script"],
                    task_id=job["task_id"],
                    claimed=job.get("claimed", False),
                )
        except Exception as exc:  # Metaflow's bookkeeping of the task (ids, logs) failed
            return _failed(
                job,
                event_message(exc),
                f"The worker could not run the task: {type(exc).__name__}: {exc}",
            )
        wall = time.perf_counter() - started
        error = transition_error(built, job["step"], outcome)
        result: dict[str, Any] = {
            "state": dict(outcome.state.__dict__),
            "duration": outcome.duration,
            "artifact_count": outcome.artifact_count,
            "wall": wall,
            "failure": None,
        }
        if error is not None:
            failed = step_failed(built, job["step"], f"{backend.flow_name}/{job['run_id']}", error)
            result["failure"] = {
                "interrupted": isinstance(failed, KeyboardInterrupt),
                "event": event_message(error),
                "message": str(failed),
                "user_traceback": failed.user_traceback,
            }
        return result

    def interrupted(self, job: dict[str, Any]) -> dict[str, Any]:
        """The result of a task whose interrupt arrived after Metaflow's task code returned."""
        result = _failed(job, "KeyboardInterrupt", f"Step {job['step']!r} was interrupted.")
        result["failure"]["interrupted"] = True
        return result


def _failed(job: dict[str, Any], event: str, message: str) -> dict[str, Any]:
    """The result of a task that failed outside the step's own code."""
    return {
        "state": {"step": job["step"], "task_id": job["task_id"], "ok": False},
        "duration": None,
        "artifact_count": None,
        "failure": {"interrupted": False, "event": event, "message": message, "user_traceback": ""},
    }

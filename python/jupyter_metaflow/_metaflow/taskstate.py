"""A finished task read back: what planning the next step needs (:class:`TaskState`) and
whether it succeeded, following clones to the task that ran (:func:`task_outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from metaflow.datastore.exceptions import DataException

from .backend import Backend
from .client import in_any_namespace


@dataclass
class TaskState:
    """What scheduling the next steps needs to know about one finished task."""

    step: str
    task_id: str
    ok: bool
    next_steps: list[str] = field(default_factory=list)
    foreach_var: str | None = None
    num_splits: int | None = None
    foreach_stack: tuple[tuple[str, int], ...] = ()
    """``(step, index)`` of each enclosing foreach frame, outermost first."""


def stack_key(stack: Any) -> tuple[tuple[str, int], ...]:
    return tuple((frame.step, frame.index) for frame in (stack or []))


def read_task_state(backend: Backend, run_id: str, step: str, task: Any) -> TaskState | None:
    """A finished task's outcome and, when it succeeded, its transition and foreach state
    (``None`` if it never finished). The outcome comes from metadata (:func:`task_outcome`),
    never from unpickling ``_task_ok``; a successful task's ``_transition`` and foreach
    artifacts are read from its datastore, which happens only when the user runs a step."""
    ok = task_outcome(task).ok
    if ok is None:
        return None
    if not ok:
        return TaskState(step=step, task_id=task.id, ok=False)
    try:
        ds = backend.flow_datastore.get_task_datastore(run_id, step, task.id, mode="r")
    except DataException:  # no DONE marker: the task never finished
        return None
    transition = ds.get("_transition", None)
    next_steps, foreach_var = (list(transition[0]), transition[1]) if transition else ([], None)
    return TaskState(
        step=step,
        task_id=task.id,
        ok=True,
        next_steps=next_steps,
        foreach_var=foreach_var,
        num_splits=ds.get("_foreach_num_splits", None) if foreach_var else None,
        foreach_stack=stack_key(ds.get("_foreach_stack", None)),
    )


class RecordedOutcome(NamedTuple):
    """How a task ended, from metadata: ``ok`` (False: its code raised; None: it never
    finished), how long it took (``duration_ms``) and when it ended (``ended_ms``, epoch ms;
    None when it never finished)."""

    ok: bool | None
    duration_ms: float
    ended_ms: float | None


def task_outcome(task: Any, _clone_hops: int = 3) -> RecordedOutcome:
    """How a Client ``Task`` ended, from Metaflow's metadata alone (the ``attempt_ok`` record
    Metaflow's task code and its clones write, the names of its artifacts). Artifacts are
    never loaded: a datastore found beside a notebook is untrusted input until the user runs
    something, and loading an artifact unpickles it. A clone (re-execution, resume) took no
    time of its own: its times are its origin's (followed up to ``_clone_hops`` clones back)."""
    records = sorted(task.metadata, key=lambda m: m.created_at)
    outcome = [m for m in records if m.name == "attempt_ok"]
    if not outcome:
        return RecordedOutcome(None, 0.0, None)
    origin = {m.name: m.value for m in records if m.name in ("origin-run-id", "origin-task-id")}
    if outcome[-1].value == "True" and "origin-task-id" in origin and _clone_hops > 0:
        from metaflow.client import Task

        flow, _run, step, _task = task.path_components
        pathspec = f"{flow}/{origin['origin-run-id']}/{step}/{origin['origin-task-id']}"
        try:
            original = task_outcome(in_any_namespace(Task, pathspec), _clone_hops - 1)
            return original._replace(ok=True)
        except Exception:  # the origin is gone: the clone's own time
            pass
    # the records of the last attempt: a clone also holds records its origin's run wrote
    attempts = [m for m in records if m.name == "attempt"]
    started = (attempts[-1] if attempts else records[0]).created_at
    ended = float(outcome[-1].created_at)
    duration = float(max(ended - started, 0))
    if outcome[-1].value == "True":
        return RecordedOutcome(True, duration, ended)
    # ``attempt_ok`` is False after an exception (Metaflow then records ``_exception``, which
    # iterating a Client ``Task`` leaves out) and after an interrupt, which stops the task
    # before it finished
    raised = "_exception" in task
    return RecordedOutcome(False if raised else None, duration, ended)

"""Which tasks a step runs in the notebook's current run: planning, apart from running.

From the finished tasks of a run (:class:`RunRecord`) and the flow's graph, :func:`task_specs`
gives the tasks a step needs (one per input: every foreach split, one join task per split
group, the cases a switch took), or says why it cannot run yet (a parent failed or has not
run, a foreach incomplete, a transition that changed) or at all (:class:`StepNotOnPath`).
:func:`descendants` is what a re-execution leaves to run again. Nothing here touches Metaflow:
the graph and the task states are read as plain objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import switches
from .errors import FlowDefinitionError, RunOrderError

if TYPE_CHECKING:
    from ._metaflow import TaskState
    from .flowbuild import BuiltFlow

__all__ = ["RunRecord", "StepNotOnPath", "TaskSpec", "descendants", "task_specs"]


class StepNotOnPath(FlowDefinitionError):
    """The step is not on the path a switch took in the current run."""


@dataclass
class RunRecord:
    """What this session knows about one run: its ``_parameters`` task and, per step, the
    finished tasks (successful ones in ``tasks``, steps with a failed task in ``failed``)."""

    run_id: str
    params_task: str
    tasks: dict[str, list[TaskState]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@dataclass
class TaskSpec:
    """One task to run: its inputs (``run/step/task``), split index and foreach position."""

    input_paths: list[str]
    split_index: int | None = None
    num_splits: int | None = None
    iteration: int = 0
    """0, or the iteration of a recursive switch (its input is the previous iteration)."""
    split_position: tuple[int, ...] = ()
    """A foreach body's task: one index per enclosing foreach, outermost first (the last is
    ``split_index``), as the split is labelled (``[1][2]``)."""


def task_specs(built: BuiltFlow, run: RunRecord, step: str) -> list[TaskSpec]:
    """The tasks ``step`` needs in ``run``, from its parents' finished tasks."""
    graph = built.graph
    node = graph[step]
    parents = list(node.in_funcs)

    def cell_of(name: str) -> str:
        cell = built.steps[name].cell
        return f"cell {cell.cell_index + 1} (%%step {name})"

    def routed(parent: str) -> list[TaskState]:
        return [t for t in run.tasks.get(parent, []) if step in t.next_steps]

    failed = [p for p in parents if p in run.failed]
    if failed:
        raise RunOrderError(
            f"Step {step!r} needs {', '.join(repr(p) for p in failed)}, which failed in the "
            f"current run: fix and execute {', '.join(cell_of(p) for p in failed)} again first."
        )
    missing = [p for p in parents if not run.tasks.get(p)]
    if missing:
        reason = switches.not_taken(graph, run.tasks, step)
        if reason is not None:
            raise StepNotOnPath(
                f"Step {step!r} is not on this run's path: {reason}; nothing to run."
            )
    if node.type == "join":
        # a parent on a switch arm the run did not take sends the join nothing
        needed = [p for p in missing if switches.not_taken(graph, run.tasks, p) is None]
        if needed:
            raise RunOrderError(
                f"Join step {step!r} needs {', '.join(repr(p) for p in needed)} in the "
                f"current run: execute {', '.join(cell_of(p) for p in needed)} first."
            )
        _check_routed(built, run, step, parents, routed)
        split = graph[node.split_parents[-1]]
        groups: dict[tuple, list[TaskState]] = {}
        if split.type == "foreach":
            for parent in parents:
                for state in routed(parent):
                    groups.setdefault(state.foreach_stack[:-1], []).append(state)
            specs = []
            for key in sorted(groups):
                members = sorted(groups[key], key=lambda s: s.foreach_stack[-1][1])
                specs.append(TaskSpec([f"{run.run_id}/{m.step}/{m.task_id}" for m in members]))
            _check_foreach_complete(built, run, step, split.name, groups)
            return specs
        for parent in parents:
            for state in routed(parent):
                groups.setdefault(state.foreach_stack, []).append(state)
        return [
            TaskSpec([f"{run.run_id}/{m.step}/{m.task_id}" for m in groups[key]])
            for key in sorted(groups)
        ]
    if len(missing) == len(parents):
        raise RunOrderError(
            f"Step {step!r} needs {' or '.join(repr(p) for p in parents)} to have run in the "
            f"current run: execute {' or '.join(cell_of(p) for p in parents)} first."
        )
    _check_routed(built, run, step, parents, routed)
    specs = []
    for parent in parents:
        for state in routed(parent):
            path = f"{run.run_id}/{state.step}/{state.task_id}"
            if state.foreach_var is not None:
                outer = tuple(index for _, index in state.foreach_stack)
                specs.extend(
                    TaskSpec([path], i, state.num_splits, split_position=(*outer, i))
                    for i in range(state.num_splits or 0)
                )
            else:
                specs.append(TaskSpec([path]))
    return specs


def _check_routed(
    built: BuiltFlow, run: RunRecord, step: str, parents: list[str], routed: Callable
) -> None:
    """A parent whose tasks went elsewhere: a switch not taken, or a stale transition."""
    graph = built.graph
    if any(routed(p) for p in parents):
        return
    reason = switches.not_taken(graph, run.tasks, step)
    if reason is not None:
        raise StepNotOnPath(f"Step {step!r} is not on this run's path: {reason}; nothing to run.")
    went = {p: run.tasks[p][0].next_steps for p in parents if run.tasks.get(p)}
    parent = next(iter(went))
    cell = built.steps[parent].cell
    raise RunOrderError(
        f"In the current run step {parent!r} went to {went[parent]}, not {step!r} (its cell "
        f"changed since): execute cell {cell.cell_index + 1} (%%step {parent}) again first."
    )


def _check_foreach_complete(
    built: BuiltFlow, run: RunRecord, step: str, split: str, groups: dict
) -> None:
    split_tasks = run.tasks.get(split, [])
    expected = {s.foreach_stack: s.num_splits for s in split_tasks}
    for key, members in groups.items():
        want = expected.get(key)
        if want is not None and len(members) != want:
            body = members[0].step
            cell = built.steps[body].cell
            raise RunOrderError(
                f"Join step {step!r} needs all {want} foreach splits of {body!r}, but the "
                f"current run has {len(members)}: execute cell {cell.cell_index + 1} "
                f"(%%step {body}) first."
            )


def descendants(graph: Any, step: str) -> set[str]:
    """``step`` and every step after it in ``graph`` (what a re-execution of it runs again)."""
    found = {step}
    todo = [step]
    while todo:
        for child in graph[todo.pop()].out_funcs:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found

"""Metaflow's switch (``self.next({...}, condition="attr")``) in a notebook run.

The executor asks two questions of a run's finished tasks (``step -> [TaskState]``):

* :func:`not_taken`: did a switch upstream rule a step out of the run (the step itself was
  not chosen, or none of its ancestors on any path was)? Then executing its cell prints a
  one-line note and runs nothing. A parent that simply has not run yet is not ruled out.
* :func:`is_recursive`: is the step a recursive switch (one of its cases is itself)? Its cell
  then runs iteration after iteration, each a task fed by the previous one, as
  ``NativeRuntime._queue_task_switch`` schedules them, until a case leaves the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["choice_text", "is_recursive", "not_taken"]


def is_recursive(graph: Any, step: str) -> bool:
    """True for a switch step that can choose itself again."""
    node = graph[step]
    return node.type == "split-switch" and step in node.out_funcs


def choice_text(graph: Any, switch: str, chosen: Sequence[str]) -> str:
    """``'b' (mode == 'b')``: the step a switch chose and the case that selected it."""
    node = graph[switch]
    names = ", ".join(repr(c) for c in chosen)
    cases = [k for k, v in (node.switch_cases or {}).items() if v in chosen]
    if node.condition and cases:
        return f"{names} ({node.condition} == {cases[0]!r})"
    return names


def not_taken(graph: Any, tasks: Mapping[str, Sequence[Any]], step: str) -> str | None:
    """Why ``step`` cannot run in this run because of a switch upstream, else None.

    ``tasks`` maps each step to its finished tasks (objects with ``next_steps``). A step is
    ruled out when every parent is: a switch that ran and chose only other steps in all its
    tasks, or a step that did not run and is itself ruled out. The reason names the switch
    nearest to ``step`` and its choice.
    """
    return _not_taken(graph, tasks, step, {})


def _not_taken(
    graph: Any, tasks: Mapping[str, Sequence[Any]], step: str, memo: dict[str, str | None]
) -> str | None:
    """:func:`not_taken` with the answers found so far (a step reached again on another path,
    the two branches of a split inside a switch arm, gets the same answer; a loop back to a
    step still being decided is no reason)."""
    if step in memo:
        return memo[step]
    memo[step] = None
    reasons = []
    for parent in graph[step].in_funcs:
        if parent == step:
            continue
        ran = tasks.get(parent) or []
        if ran:
            if graph[parent].type != "split-switch" or any(step in t.next_steps for t in ran):
                return None
            chosen = sorted({s for t in ran for s in t.next_steps})
            reasons.append(f"the switch in {parent!r} chose {choice_text(graph, parent, chosen)}")
            continue
        upstream = _not_taken(graph, tasks, parent, memo)
        if upstream is None:
            return None
        reasons.append(upstream)
    memo[step] = reasons[0] if reasons else None
    return memo[step]

"""``%mf_inputs STEP [SPLIT...]``: a step's inputs at hand, to write its body in scratch cells.

It puts in the notebook a ``self`` that reads what ``STEP`` would receive in the current run:
its parent task's artifacts (loaded on first use), ``self.input`` and ``self.index`` for a
foreach split, and ``inputs`` (one such object per parent task) for a join — as Kedro's
``%load_node`` does for a node. Nothing set on these objects is stored: they are not a task.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class

from ._metaflow import in_any_namespace, is_user_artifact
from .browse import next_step
from .errors import RunOrderError
from .foreach import split_label

__all__ = ["InputsMagics", "StepInputs", "step_inputs"]

_UNSET = object()


class StepInputs:
    """``self`` as step ``step`` sees it: artifacts of ``task`` (a Client task, None for a
    join's ``self``) read on first use; attributes you set stay on this object only."""

    def __init__(
        self, step: str, task: Any, value: Any = _UNSET, index: int | None = None, where: str = ""
    ) -> None:
        state = {
            "_step": step,
            "_task": task,
            "_value": value,
            "_index": index,
            "_where": where,
            "_loaded": {},
        }
        self.__dict__.update(state)

    @property
    def input(self) -> Any:
        """The foreach value this split receives (``self.input`` in the step)."""
        if self._value is _UNSET:
            raise AttributeError(
                f"step {self._step!r} is not a foreach split: it has no self.input"
            )
        return self._value

    @property
    def index(self) -> int:
        """The split's index in its foreach (``self.index`` in the step)."""
        if self._index is None:
            raise AttributeError(
                f"step {self._step!r} is not a foreach split: it has no self.index"
            )
        return self._index

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        loaded = self.__dict__["_loaded"]
        if name in loaded:
            return loaded[name]
        task = self.__dict__["_task"]
        if task is None:
            raise AttributeError(
                f"a join's self holds nothing until self.merge_artifacts(inputs) or your own "
                f"assignments: read {name!r} from inputs (e.g. inputs[0].{name})"
            )
        if name not in task:
            names = ", ".join(self.artifact_names()) or "none"
            raise AttributeError(f"{task.pathspec} has no artifact {name!r} (it has: {names})")
        loaded[name] = task[name].data
        return loaded[name]

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__["_loaded"][name] = value  # never an artifact: kept here only

    def artifact_names(self) -> list[str]:
        """The parent task's artifacts this object reads."""
        task = self._task
        return [] if task is None else sorted(a.id for a in task if is_user_artifact(a.id))

    def next(self, *args: Any, **kwargs: Any) -> None:
        """``self.next(...)`` does nothing here: the step cell's own run moves the flow on."""

    def merge_artifacts(
        self, inputs: list[StepInputs], exclude: Any = (), include: Any = ()
    ) -> None:
        """Like Metaflow's: the artifacts all inputs agree on become readable from ``self``."""
        names = set.intersection(*(set(i.artifact_names()) for i in inputs)) if inputs else set()
        for name in sorted(names):
            if (include and name not in include) or name in exclude:
                continue
            values = [getattr(i, name) for i in inputs]
            if all(_same(values[0], v) for v in values[1:]):
                self.__dict__["_loaded"][name] = values[0]

    def __repr__(self) -> str:
        where = f" {self._where}" if self._where else ""
        return f"<inputs of step {self._step!r}{where}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.artifact_names()) | set(self._loaded))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and frames compare elementwise
        return a is b


def step_inputs(
    step: str, split: tuple[int, ...]
) -> tuple[StepInputs, list[StepInputs] | None, str]:
    """``self`` (and ``inputs`` for a join) for ``step`` in the notebook's current run, with a
    one-line summary of what they read."""
    from metaflow import Step

    from .session import get_session
    from .show.address import position

    session = get_session()
    steps = {s["name"]: s for s in session.notebook_model().to_json()["steps"]}
    node = steps.get(step)
    if node is None:
        names = ", ".join(steps) or "none"
        raise UsageError(f"The notebook has no step {step!r} (its steps: {names}).")
    run = session.restorable_run()
    if run is None:
        raise RunOrderError(
            f"No run of the flow yet: execute the steps up to {step!r}'s parents "
            "first, then %mf_inputs again."
        )
    parents = node["parents"] or ["_parameters"]

    def tasks_of(parent: str) -> list[Any]:
        try:
            found = sorted(in_any_namespace(Step, f"{run}/{parent}"), key=position)
        except Exception:
            found = []
        if not found:
            raise RunOrderError(
                f"Step {step!r} needs {parent!r}, which has not run in {run}: "
                f"execute its cell first."
            )
        return found

    if node["is_join"]:
        tasks = [
            t
            for p in parents
            for t in tasks_of(p)
            if not split or position(t)[: len(split)] == split
        ]
        joined = [StepInputs(step, t, where=f"from {t.pathspec}") for t in tasks]
        what = f"a join: inputs holds {len(joined)} parent tasks ({', '.join(parents)})"
        return StepInputs(step, None, where=f"in {run}"), joined, f"{what} in {run}"
    parent = parents[0]
    tasks = tasks_of(parent)
    transition = (steps.get(parent) or {}).get("transition") or {}
    switch = transition.get("kind") == "switch"
    if switch:  # only the parent's tasks whose case chose step
        went = {t.pathspec: next_step(t) for t in tasks}
        tasks = [t for t in tasks if went[t.pathspec] == step]
        if not tasks:
            chosen = sorted({str(w) for w in went.values() if w is not None})
            raise RunOrderError(
                f"In {run}, the switch in {parent!r} did not go to {step!r}"
                + (f" (it went to {', '.join(repr(c) for c in chosen)})" if chosen else "")
                + f": {step!r} receives nothing in this run. Execute {parent!r} with a value "
                f"that chooses {step!r}, then %mf_inputs again."
            )
    foreach = transition.get("kind") == "foreach"
    if foreach:
        outer, index = (split[:-1], split[-1]) if split else ((), 0)
        task = next((t for t in tasks if position(t) == outer), None)
        if task is None:
            raise UsageError(f"{parent!r} has no task at split {split_label(outer)} in {run}.")
        values = task[task["_foreach_var"].data].data
        if not 0 <= index < len(values):
            raise UsageError(
                f"Step {step!r} has splits 0 to {len(values) - 1} in {run}; "
                f"{index} is not one of them."
            )
        label = split_label((*outer, index))
        me = StepInputs(step, task, values[index], index, where=f"split {label} in {run}")
        return (
            me,
            None,
            (
                f"split {label} of {len(values)}: self.input = {values[index]!r:.60}, "
                f"self.index = {index}; artifacts of {task.pathspec}"
            ),
        )
    task = next((t for t in tasks if not split or position(t) == split), None)
    if task is None:
        labels = ", ".join(split_label(position(t)) for t in tasks)
        which = f"the splits whose switch went to {step!r}" if switch else "its splits"
        raise UsageError(
            f"{parent!r} has no task at split {split_label(split)} in {run} going to {step!r} "
            f"({which}: {labels})."
        )
    inner = position(task)
    last = inner[-1] if inner else None
    if switch and inner:
        note = f" (split {split_label(inner)}; {len(tasks)} went to {step!r})"
    else:
        note = f" (split {split_label(inner)} of {len(tasks)})" if len(tasks) > 1 else ""
    return (
        StepInputs(step, task, _enclosing_input(task), last, where=f"in {run}"),
        None,
        f"artifacts of {task.pathspec}{note}",
    )


def _enclosing_input(task: Any) -> Any:
    """``self.input`` of a step inside a foreach that is not its body, read as Metaflow reads
    it: the foreach's artifact at the task's index (unset outside a foreach, or where the
    artifact is gone, as after an inner join)."""
    from .show.address import foreach_frame

    frame = foreach_frame(task)
    if frame is None or frame.var not in task:
        return _UNSET
    values = task[frame.var].data
    try:
        return values[frame.index]
    except TypeError:  # no __getitem__: Metaflow falls back to iterating
        return next(islice(values, frame.index, frame.index + 1))


@magics_class
class InputsMagics(Magics):
    """``%mf_inputs``."""

    shell: InteractiveShell  # registered with a shell, never without one

    @line_magic
    def mf_inputs(self, line: str) -> None:
        """%mf_inputs STEP [SPLIT...]: set ``self`` (and ``inputs`` for a join) to what STEP
        receives in the current run, to develop its body in scratch cells; SPLIT picks a
        foreach split (one index per enclosing foreach, default 0)."""
        words = line.split()
        if not words:
            raise UsageError("Usage: %mf_inputs STEP [SPLIT...] (e.g. %mf_inputs train 2)")
        try:
            split = tuple(int(w) for w in words[1:])
        except ValueError:
            raise UsageError(f"Split indices are whole numbers: %mf_inputs {line}") from None
        me, joined, summary = step_inputs(words[0], split)
        self.shell.user_ns["self"] = me
        names = "self"
        if joined is not None:
            self.shell.user_ns["inputs"] = joined
            names = "self and inputs"
        print(
            f"{names} now read what step {words[0]!r} receives: {summary}. Nothing set on "
            "them is stored."
        )

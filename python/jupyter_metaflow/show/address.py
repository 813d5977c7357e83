"""Parse ``%mf_show`` addresses and resolve them through Metaflow's public Client API.

Forms (``STEP`` may carry a foreach split index, ``train[3]``, or, inside a nested foreach,
one per foreach, outermost first, ``cell[1][2]``; fewer indices match the innermost ones):

* ``""``                      the notebook's current run
* ``self.NAME``               artifact NAME as the most recently executed step left it (the
  last iteration of a recursive step, in each foreach split)
* ``STEP`` / ``STEP.NAME``    a step (or one artifact of it) of the notebook's current run
* ``Flow/Run``, ``Flow/Run/STEP``, ``Flow/Run/STEP.NAME``, ``Flow/Run/STEP/NAME``,
  ``Flow/Run/STEP/TASK``, ``Flow/Run/STEP/TASK/NAME``   any past run, by pathspec

Every lookup runs in ``namespace(None)``: a pathspec names one object, whoever created it.
Errors are :class:`ShowError` and name what exists instead.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import metaflow
from metaflow.exception import MetaflowNamespaceMismatch, MetaflowNotFound

from ..foreach import split_label

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LOCAL = re.compile(rf"^(?P<step>{_IDENT})(?P<index>(?:\[\d+\])+)?(?:\.(?P<artifact>{_IDENT}))?$")
_SELF = re.compile(rf"^self\.(?P<artifact>{_IDENT})$")
_ARTIFACT = re.compile(rf"^{_IDENT}$")

MAX_LISTED = 12
"""How many alternatives an error message lists."""


class ShowError(Exception):
    """An address that cannot be parsed or resolved; the message says what exists."""


@dataclass(frozen=True)
class Address:
    """A parsed address. ``flow``/``run`` are None for the notebook's own run."""

    text: str
    flow: str | None = None
    run: str | None = None
    step: str | None = None
    index: tuple[int, ...] | None = None
    """``[1][2]`` -> ``(1, 2)``: the split's foreach position, or its innermost part."""
    task: str | None = None
    artifact: str | None = None
    last_step: bool = False
    """``self.NAME``: the most recently executed step of the notebook's run."""


@dataclass(frozen=True)
class NotebookRun:
    """What the notebook's executor knows: its current run and its last executed step."""

    run_pathspec: str | None = None
    last_step: str | None = None


@dataclass
class Target:
    """A resolved address: the Client objects ``%mf_show`` renders.

    ``kind`` is ``run``, ``step``, ``task``, ``artifact`` (one task's artifact) or
    ``splits`` (one artifact across the tasks of a step: foreach splits, iterations of a
    recursive step).
    """

    kind: str
    run: Any
    step: Any = None
    task: Any = None
    tasks: list[Any] = field(default_factory=list)
    artifact: str | None = None


def parse(text: str) -> Address:
    """Parse one address (see the module docstring); raise :class:`ShowError` if malformed."""
    text = text.strip()
    if not text:
        return Address(text="")
    match = _SELF.match(text)
    if match:
        return Address(text=text, artifact=match["artifact"], last_step=True)
    if "/" not in text:
        local = _parse_local(text, text)
        return Address(
            text=text, step=local["step"], index=local["index"], artifact=local["artifact"]
        )
    parts = text.split("/")
    if len(parts) < 2 or len(parts) > 5 or not all(parts):
        raise ShowError(
            f"cannot read {text!r} as a pathspec: use Flow/Run, Flow/Run/step, "
            "Flow/Run/step/artifact, Flow/Run/step/task or Flow/Run/step/task/artifact"
        )
    flow, run = parts[0], parts[1]
    if len(parts) == 2:
        return Address(text=text, flow=flow, run=run)
    local = _parse_local(parts[2], text)
    rest = parts[3:]
    if rest and (local["index"] is not None or local["artifact"] is not None):
        raise ShowError(f"cannot read {text!r}: 'step[i].artifact' must be the last part")
    task = artifact = None
    if len(rest) >= 1:
        if rest[0].isdigit():
            task = rest[0]
        elif len(rest) == 1 and _ARTIFACT.match(rest[0]):
            artifact = rest[0]
        else:
            raise ShowError(
                f"cannot read {text!r}: {rest[0]!r} is neither a task id nor an artifact name"
            )
    if len(rest) == 2:
        if task is None or not _ARTIFACT.match(rest[1]):
            raise ShowError(f"cannot read {text!r}: expected Flow/Run/step/task/artifact")
        artifact = rest[1]
    return Address(
        text=text,
        flow=flow,
        run=run,
        step=local["step"],
        index=local["index"],
        task=task,
        artifact=artifact or local["artifact"],
    )


def _parse_local(part: str, text: str) -> dict[str, Any]:
    match = _LOCAL.match(part)
    if not match:
        raise ShowError(
            f"cannot read {text!r}: expected 'step', 'step.artifact', 'step[i].artifact', "
            "'self.artifact' or a pathspec such as MyFlow/1234/train/model"
        )
    index = match["index"]
    return {
        "step": match["step"],
        "index": tuple(int(i) for i in re.findall(r"\d+", index)) if index else None,
        "artifact": match["artifact"],
    }


@contextlib.contextmanager
def any_namespace() -> Iterator[None]:
    """Look objects up in ``namespace(None)``, restoring the caller's namespace after."""
    previous = metaflow.get_namespace()
    metaflow.namespace(None)
    try:
        yield
    finally:
        metaflow.namespace(previous)


def resolve(address: Address, notebook: NotebookRun | None = None) -> Target:
    """Turn ``address`` into Client objects; raise :class:`ShowError` naming alternatives."""
    notebook = notebook or NotebookRun()
    with any_namespace():
        as_left = address.last_step
        if address.last_step:
            if not notebook.last_step:
                raise ShowError(
                    f"{address.text}: no step has run in this notebook yet; run a %%step "
                    "cell first, or name a step (train.model) or a pathspec "
                    "(MyFlow/1234/train/model)"
                )
            address = Address(text=address.text, step=notebook.last_step, artifact=address.artifact)
        run = _run(address, notebook)
        if address.step is None:
            return Target("run", run=run)
        step = _step(run, address.step)
        tasks = _tasks(step, address)
        if as_left:
            tasks = final_tasks(tasks)
        if address.artifact is None:
            if len(tasks) == 1:
                return Target(
                    "task" if address.task or address.index is not None else "step",
                    run=run,
                    step=step,
                    task=tasks[0],
                    tasks=tasks,
                )
            return Target("step", run=run, step=step, tasks=tasks)
        if len(tasks) == 1:
            return Target(
                "artifact",
                run=run,
                step=step,
                task=tasks[0],
                tasks=tasks,
                artifact=_check_artifact(tasks[0], address.artifact),
            )
        if not any(address.artifact in task for task in tasks):
            _check_artifact(tasks[0], address.artifact)  # raises, naming what exists
        return Target("splits", run=run, step=step, tasks=tasks, artifact=address.artifact)


def resolve_run(text: str, notebook: NotebookRun | None = None) -> Any:
    """A run for ``--diff``: ``Flow/Run``, or a bare run id of the notebook's flow."""
    notebook = notebook or NotebookRun()
    text = text.strip()
    if "/" in text:
        address = parse(text)
        if address.step is not None:
            raise ShowError(f"--diff takes runs (Flow/Run or a run id), not {text!r}")
    else:
        if not notebook.run_pathspec:
            raise ShowError(
                f"--diff {text}: give the run as Flow/{text}; this notebook has "
                "no run yet to take the flow name from"
            )
        flow = notebook.run_pathspec.split("/")[0]
        address = Address(text=text, flow=flow, run=text)
    with any_namespace():
        return _run(address, notebook)


def _run(address: Address, notebook: NotebookRun) -> Any:
    if address.flow is None:
        if not notebook.run_pathspec:
            raise ShowError(
                f"{address.text + ': ' if address.text else ''}this notebook has no run yet; run a "
                "%%step "
                "cell first, or give a pathspec such as MyFlow/1234 or MyFlow/1234/train/model"
            )
        return metaflow.Run(notebook.run_pathspec)
    try:
        flow = metaflow.Flow(address.flow)
    except (MetaflowNotFound, MetaflowNamespaceMismatch):
        names = [f.id for f in metaflow.Metaflow().flows]
        raise ShowError(
            f"no flow {address.flow!r}; {_alternatives('flows', address.flow, names)}"
        ) from None
    assert address.run is not None  # set whenever the flow is
    try:
        return flow[address.run]
    except (KeyError, MetaflowNotFound, MetaflowNamespaceMismatch):
        runs = [r.id for _, r in zip(range(MAX_LISTED), flow.runs())]
        listed = ", ".join(runs) if runs else "none"
        raise ShowError(
            f"flow {address.flow} has no run {address.run!r}; latest runs: {listed}"
        ) from None


def _step(run: Any, name: str) -> Any:
    try:
        return run[name]
    except (KeyError, MetaflowNotFound):
        steps = [s.id for s in run]
        raise ShowError(
            f"run {run.pathspec} has no step {name!r}; "
            f"{_alternatives('steps', name, list(reversed(steps)))}"
        ) from None


def _tasks(step: Any, address: Address) -> list[Any]:
    """The tasks ``address`` selects in ``step``: by task id, by split index, or all."""
    if address.task is not None:
        try:
            return [step[address.task]]
        except (KeyError, MetaflowNotFound):
            ids = sorted((t.id for t in step), key=_numeric)
            raise ShowError(
                f"step {step.pathspec} has no task {address.task!r}; tasks: {_listing(ids)}"
            ) from None
    tasks = sorted(step, key=lambda t: _numeric(t.id))
    if not tasks:
        raise ShowError(f"step {step.pathspec} has no tasks yet")
    if len(tasks) > 1 or address.index is not None:
        tasks = sorted(tasks, key=lambda t: (position(t), _numeric(t.id)))
    if address.index is None:
        return tasks
    depth = len(address.index)
    chosen = [t for t in tasks if position(t)[-depth:] == address.index]
    if not chosen:
        labels = list(dict.fromkeys(split_label(position(t)) for t in tasks if position(t)))
        if not labels:
            raise ShowError(
                f"step {step.id} is not a foreach split; use {step.id}.NAME without [index]"
            )
        raise ShowError(
            f"step {step.id} has no split {split_label(address.index)}; splits: {_listing(labels)}"
        )
    return chosen


_frames: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()
"""Client task -> its foreach frames (Metaflow's ``ForeachFrame``): read once per task object
(sorting, labels, inputs and the final iteration all ask)."""


def _foreach_frames(task: Any) -> tuple[Any, ...]:
    if task not in _frames:
        try:
            _frames[task] = tuple(task["_foreach_stack"].data)
        except KeyError:
            _frames[task] = ()
    return _frames[task]


def position(task: Any) -> tuple[int, ...]:
    """Where a task sits in the foreach splits around its step: one index per enclosing
    foreach, outermost first (``()`` outside any foreach)."""
    return tuple(frame.index for frame in _foreach_frames(task))


def foreach_frame(task: Any) -> Any | None:
    """The task's innermost foreach frame (Metaflow's ``ForeachFrame``: ``var``, ``index``,
    ...), None outside any foreach."""
    frames = _foreach_frames(task)
    return frames[-1] if frames else None


def split_input(task: Any) -> dict[str, str] | None:
    """What the task's innermost foreach gave it: ``{"var": "c_values", "value": "0.01"}``
    (Metaflow stores the value as text, cut to ``MAXIMUM_FOREACH_VALUE_CHARS``); None outside a
    foreach or for a task whose frame has no value (``num_parallel``)."""
    frames = _foreach_frames(task)
    if not frames or getattr(frames[-1], "value", None) is None:
        return None
    return {"var": str(frames[-1].var), "value": str(frames[-1].value)}


def split_index(task: Any) -> int | None:
    """The task's index in its innermost foreach (``Task.index``), None outside any."""
    where = position(task)
    return where[-1] if where else None


def final_tasks(tasks: Sequence[Any]) -> list[Any]:
    """The last task at each foreach position: a recursive step's final iterations (the
    tasks the steps after it read); other steps' tasks unchanged. Keeps the order given."""
    last: dict[tuple[int, ...], Any] = {}
    for task in tasks:
        key = position(task)
        if key not in last or _numeric(task.id) > _numeric(last[key].id):
            last[key] = task
    kept = {id(t) for t in last.values()}
    return [t for t in tasks if id(t) in kept]


def task_labels(tasks: Sequence[Any]) -> list[str]:
    """How to name each of a step's tasks: its foreach position (``[2]``, ``[1][0]``) and,
    when a recursive step ran several times there, the iteration (``iteration 3``)."""
    where = [position(t) for t in tasks]
    counts: dict[tuple[int, ...], int] = {}
    for key in where:
        counts[key] = counts.get(key, 0) + 1
    order = sorted(range(len(tasks)), key=lambda i: _numeric(tasks[i].id))
    seen: dict[tuple[int, ...], int] = {}
    iteration: dict[int, int] = {}
    for i in order:
        seen[where[i]] = seen.get(where[i], 0) + 1
        iteration[i] = seen[where[i]]
    labels = []
    for i, key in enumerate(where):
        parts = [split_label(key)] if key else []
        if counts[key] > 1:
            parts.append(f"iteration {iteration[i]}")
        labels.append(" ".join(parts) or f"task {tasks[i].id}")
    return labels


def _check_artifact(task: Any, name: str | None) -> str:
    assert name is not None
    if name in task:
        return name
    names = sorted(a.id for a in task)
    failed = "" if task.successful else " (the task did not finish successfully)"
    raise ShowError(
        f"task {task.pathspec} has no artifact {name!r}{failed}; "
        f"{_alternatives('artifacts', name, names)}"
    )


def _alternatives(what: str, wanted: str, names: Sequence[str]) -> str:
    if not names:
        return f"there are no {what}"
    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}{what}: {_listing(names)}"


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 62, text)

"""One MIME bundle per ``%mf_show``: the custom JSON type plus HTML and text fallbacks.

``application/vnd.jupyter-metaflow.artifact+json`` holds ``{version, kind, header, ...}``
(see ``src/mime/types.ts`` for the frontend's copy of the shape). Every bundle is kept
under ``max_bytes`` (JSON + HTML + text, UTF-8): views are rebuilt with halved
:class:`~.views.Limits` until they fit, and as a last resort only the header is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._metaflow import is_user_artifact
from ..foreach import split_label
from . import artifacts, fallbacks
from .address import ShowError, Target, final_tasks, position, split_index, split_input, task_labels
from .views import Limits, array_stats, brief, safe_repr, type_name, view

MIME_TYPE = "application/vnd.jupyter-metaflow.artifact+json"
BUNDLE_VERSION = 1
DEFAULT_MAX_BYTES = 100 * 1024
PREVIEW_MAX_BYTES = 1 << 20
"""Step and run tables load an artifact for its type and preview only below this size."""
SPLIT_LOAD_MAX_BYTES = 16 << 20
"""A foreach artifact shown across splits is loaded per split only below this size."""
DIFF_VALUE_MAX_BYTES = 64 * 1024
"""Changed artifacts up to this stored size are shown side by side in a diff."""
DIFF_SUMMARY_MAX_BYTES = 64 << 20
"""Larger ones get summary deltas up to this size when the diff covers a whole run."""
SHRINK_ROUNDS = 6


def build(target: Target, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The MIME bundle for a resolved address."""
    if target.kind == "artifact":
        return fit(_artifact_data(target), max_bytes)
    builders: dict[str, Callable[[Target, Limits], dict[str, Any]]] = {
        "splits": _splits_data,
        "step": _step_data,
        "task": _step_data,
        "run": _run_data,
    }
    make = builders[target.kind]
    return fit(lambda limits: make(target, limits), max_bytes)


def fit(make: Callable[[Limits], dict[str, Any]], max_bytes: int) -> dict[str, Any]:
    """Build with ever smaller limits until the whole bundle is under ``max_bytes``."""
    limits = Limits()
    data = make(limits)
    for _ in range(SHRINK_ROUNDS):
        bundle = _bundle(data)
        if bundle_size(bundle) <= max_bytes:
            return bundle
        limits = limits.halved()
        data = make(limits)
        data.setdefault("notes", []).append(
            f"shortened to fit the {max_bytes // 1024} KB output limit"
        )
    bundle = _bundle(data)
    if bundle_size(bundle) <= max_bytes:
        return bundle
    header = {
        k: (safe_repr(v, 200) if isinstance(v, str) and len(v) > 200 else v)
        for k, v in data["header"].items()
    }
    return _bundle(
        {
            "version": BUNDLE_VERSION,
            "kind": "omitted",
            "header": header,
            "notes": [
                f"the view does not fit the {max_bytes // 1024} KB output limit; "
                "raise it with --max-kb"
            ],
        }
    )


def bundle_size(bundle: dict[str, Any]) -> int:
    """Bytes of a bundle as it is stored in the notebook."""
    return sum(
        len((v if isinstance(v, str) else json.dumps(v)).encode("utf-8")) for v in bundle.values()
    )


def _bundle(data: dict[str, Any]) -> dict[str, Any]:
    return {MIME_TYPE: data, "text/html": fallbacks.html(data), "text/plain": fallbacks.text(data)}


# -- one artifact ----------------------------------------------------------------------------
def _artifact_data(target: Target) -> Callable[[Limits], dict[str, Any]]:
    task, name = target.task, target.artifact
    artifact = task[name]
    value = artifacts.load(artifact)
    header = {
        "title": name,
        "name": name,
        "type": type_name(value),
        "size": artifacts.size(artifact),
        "flow": target.run.parent.id,
        "run": target.run.id,
        "step": target.step.id,
        "task": task.id,
        "index": _index(target),
        "pathspec": artifact.pathspec,
    }

    unfinished = _unfinished_note([task])

    def make(limits: Limits) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": BUNDLE_VERSION,
            "kind": "artifact",
            "header": dict(header),
            "view": view(value, limits),
        }
        if data["view"]["kind"] == "dataframe":
            data["page"] = {"pathspec": task.pathspec, "artifact": name}
        if unfinished:
            data["notes"] = [unfinished]
        return data

    return make


def _index(target: Target) -> int | None:
    return split_index(target.task)


# -- one artifact across foreach splits ------------------------------------------------------
def _splits_data(target: Target, limits: Limits) -> dict[str, Any]:
    name = target.artifact
    shown = target.tasks[: limits.items]
    splits = []
    for task, label in zip(shown, task_labels(shown)):
        if name not in task:  # set in some splits only (an if in the step)
            splits.append(
                {
                    "index": split_index(task),
                    "label": label,
                    "task": task.id,
                    "input": split_input(task),
                    "pathspec": task.pathspec,
                    "size": None,
                    "type": "not set",
                    "view": {"kind": "repr", "text": f"this task did not set {name!r}"},
                }
            )
            continue
        artifact = task[name]
        stored = artifacts.size(artifact)
        split = {
            "index": split_index(task),
            "label": label,
            "task": task.id,
            "input": split_input(task),
            "pathspec": artifact.pathspec,
            "size": stored,
        }
        if stored is not None and stored > SPLIT_LOAD_MAX_BYTES:
            split.update(
                type="?",
                view={
                    "kind": "repr",
                    "text": (f"large ({stored:,} bytes stored): show it with {artifact.pathspec}"),
                },
            )
        else:
            value = artifacts.load(artifact)
            split.update(type=type_name(value), view=view(value, limits.halved().halved()))
            if split["view"]["kind"] == "dataframe":  # the renderer's pager asks the kernel
                split["page"] = {"pathspec": task.pathspec, "artifact": name}
        splits.append(split)
    types = {s["type"] for s in splits}
    inputs = {s["input"]["var"] for s in splits if s["input"]}
    # the title names the step: the header's pathspec is the run's, said once
    header = {
        "title": f"{target.step.id}.{name}",
        "name": name,
        "flow": target.run.parent.id,
        "run": target.run.id,
        "step": target.step.id,
        "pathspec": target.run.pathspec,
        "splits": len(target.tasks),
    }
    if len(types) == 1:
        header["type"] = types.pop()
    if len(inputs) == 1:
        header["over"] = inputs.pop()
    data = {
        "version": BUNDLE_VERSION,
        "kind": "splits",
        "header": header,
        "splits": splits,
        "omitted": len(target.tasks) - len(shown),
    }
    unfinished = _unfinished_note(shown)
    if unfinished:
        data["notes"] = [unfinished]
    return data


def _unfinished_note(tasks: list[Any]) -> str | None:
    """A warning when values come from tasks that did not finish successfully (a failed step
    keeps what it stored before failing; the last good values are in an earlier run)."""
    bad = [t for t in tasks if not t.successful]
    if not bad:
        return None
    which = (
        "this task"
        if len(tasks) == 1
        else f"{len(bad)} of these tasks ({', '.join(t.id for t in bad)})"
    )
    return (
        f"{which} did not finish successfully (failed or still running): the values are what "
        "it stored before stopping; earlier runs keep the last successful ones"
    )


# -- a step or a task: its artifacts ---------------------------------------------------------
def _step_data(target: Target, limits: Limits) -> dict[str, Any]:
    tasks = target.tasks or [target.task]
    task = target.task or final_tasks(tasks)[0]
    shown = tasks[: limits.items]
    rows = [_task_row(t, label) for t, label in zip(shown, task_labels(shown))]
    own = sorted((a for a in task if is_user_artifact(a.id)), key=lambda a: a.id)
    listing = [_artifact_row(a, limits) for a in own]
    title = target.step.id if target.kind == "step" else f"{target.step.id}/{task.id}"
    return {
        "version": BUNDLE_VERSION,
        "kind": target.kind,
        "header": {
            "title": title,
            "flow": target.run.parent.id,
            "run": target.run.id,
            "step": target.step.id,
            "task": task.id if target.kind == "task" else None,
            "pathspec": task.pathspec if target.kind == "task" else target.step.pathspec,
            "tasks": len(tasks),
        },
        "tasks": rows,
        "tasks_omitted": len(tasks) - len(rows),
        "artifacts_of": task.pathspec,
        "artifacts": listing[: limits.items * 2],
        "artifacts_omitted": max(0, len(listing) - limits.items * 2),
    }


def _task_row(task: Any, label: str) -> dict[str, Any]:
    return {
        "task": task.id,
        "index": split_index(task),
        "label": label,
        "input": split_input(task),
        "pathspec": task.pathspec,
        "finished": bool(task.finished),
        "successful": bool(task.successful),
    }


def _artifact_row(artifact: Any, limits: Limits) -> dict[str, Any]:
    stored = artifacts.size(artifact)
    row: dict[str, Any] = {"name": artifact.id, "size": stored, "type": None, "preview": None}
    if stored is not None and stored <= PREVIEW_MAX_BYTES:
        try:
            value = artifacts.load(artifact)
        except ShowError as exc:
            row["preview"] = str(exc)
            return row
        row["type"] = type_name(value)
        row["preview"] = brief(value, limits.cell_chars)
    else:
        row["preview"] = "(large: not loaded; show it by name)"
    return row


# -- the whole run ---------------------------------------------------------------------------
def _run_data(target: Target, limits: Limits) -> dict[str, Any]:
    run = target.run
    steps = []
    for step in reversed(list(run)):
        tasks = list(step)
        first = tasks[0] if tasks else None
        names = sorted(a.id for a in first if is_user_artifact(a.id)) if first is not None else []
        steps.append(
            {
                "step": step.id,
                "pathspec": step.pathspec,
                "tasks": len(tasks),
                "status": _status(tasks),
                "artifacts": names[: limits.items],
                "artifacts_omitted": max(0, len(names) - limits.items),
            }
        )
    return {
        "version": BUNDLE_VERSION,
        "kind": "run",
        "header": {
            "title": run.pathspec,
            "flow": run.parent.id,
            "run": run.id,
            "pathspec": run.pathspec,
            "status": _run_status(run),
            "created_at": _time(run.created_at),
            "finished_at": _time(run.finished_at),
        },
        "steps": steps,
    }


def _status(tasks: list[Any]) -> str:
    if not tasks:
        return "no tasks"
    if all(t.successful for t in tasks):
        return "ok"
    return "failed" if all(t.finished for t in tasks) else "running or failed"


def _run_status(run: Any) -> str:
    if run.successful:
        return "successful"
    return "failed" if run.finished else "not finished"


def _time(value: Any) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else None


# -- run comparison --------------------------------------------------------------------------
def diff(
    run_a: Any,
    run_b: Any,
    step: str | None,
    artifact: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Which artifacts differ between two runs (by content hash), with values or deltas."""
    steps_a = {s.id: s for s in run_a}
    steps_b = {s.id: s for s in run_b}
    if step is not None:
        for run, steps in ((run_a, steps_a), (run_b, steps_b)):
            if step not in steps:
                raise ShowError(
                    f"run {run.pathspec} has no step {step!r}; steps: "
                    f"{', '.join(reversed(list(steps)))}"
                )
        names = [step]
    else:
        order = list(reversed(list(steps_a))) + [
            s for s in reversed(list(steps_b)) if s not in steps_a
        ]
        names = order
    pairs = []
    for name in names:
        pairs.extend(_task_pairs(name, steps_a.get(name), steps_b.get(name)))
    detailed = step is not None
    compared = []
    for name, split, task_a, task_b in pairs:
        arts_a = {a.id: a for a in task_a} if task_a is not None else {}
        arts_b = {a.id: a for a in task_b} if task_b is not None else {}
        keys = [artifact] if artifact else sorted(set(arts_a) | set(arts_b))
        for key in keys:
            compared.append((name, split, key, arts_a.get(key), arts_b.get(key)))
    if artifact and not any(a or b for *_, a, b in compared):
        raise ShowError(f"neither run has an artifact {artifact!r} in step {step!r}")
    header = {
        "title": f"{run_a.pathspec} \u2192 {run_b.pathspec}",
        "run_a": run_a.pathspec,
        "run_b": run_b.pathspec,
        "pathspec": run_b.pathspec,
        "scope": ".".join(p for p in (step, artifact) if p) or "all steps",
    }
    return fit(lambda limits: _diff_data(header, compared, detailed, limits), max_bytes)


def _task_pairs(name: str, step_a: Any, step_b: Any) -> list[tuple[str, str | None, Any, Any]]:
    """Tasks of one step in both runs, matched by foreach position (``[1][2]``; None for a
    step outside any foreach); a recursive step by its last iteration, which later steps read."""

    def by_position(step: Any) -> dict[tuple[int, ...], Any]:
        return {position(t): t for t in final_tasks(list(step))} if step is not None else {}

    tasks_a, tasks_b = by_position(step_a), by_position(step_b)
    return [
        (name, split_label(key) or None, tasks_a.get(key), tasks_b.get(key))
        for key in sorted(set(tasks_a) | set(tasks_b))
    ]


def _diff_data(
    header: dict[str, Any], compared: list[tuple], detailed: bool, limits: Limits
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    same = 0
    for step, split, _name, art_a, art_b in compared:
        if art_a is not None and art_b is not None and art_a.sha == art_b.sha:
            same += 1
            continue
        row: dict[str, Any] = {
            "step": step,
            "split": split,
            "artifact": (art_a or art_b).id,
            "status": "added" if art_a is None else "removed" if art_b is None else "changed",
            "size_a": artifacts.size(art_a) if art_a else None,
            "size_b": artifacts.size(art_b) if art_b else None,
        }
        if len(rows) < limits.items * 2:
            _diff_values(row, art_a, art_b, detailed, limits)
        rows.append(row)
    shown = rows[: limits.items * 2]
    return {
        "version": BUNDLE_VERSION,
        "kind": "diff",
        "header": dict(header),
        "rows": shown,
        "rows_omitted": len(rows) - len(shown),
        "unchanged": same,
    }


def _diff_values(
    row: dict[str, Any], art_a: Any, art_b: Any, detailed: bool, limits: Limits
) -> None:
    """Values or summary deltas of a changed row; a value that cannot be loaded here becomes
    the row's note (the rest of the diff still shows)."""
    try:
        _load_diff_values(row, art_a, art_b, detailed, limits)
    except ShowError as exc:
        row["note"] = str(exc)


def _load_diff_values(
    row: dict[str, Any], art_a: Any, art_b: Any, detailed: bool, limits: Limits
) -> None:
    sizes = [s for s in (row["size_a"], row["size_b"]) if s is not None]
    biggest = max(sizes) if sizes else 0
    if biggest <= DIFF_VALUE_MAX_BYTES:
        for side, art in (("a", art_a), ("b", art_b)):
            if art is not None:
                value = artifacts.load(art)
                row[f"type_{side}"] = type_name(value)
                row[f"value_{side}"] = safe_repr(value, limits.repr_chars)
        return
    if not detailed and biggest > DIFF_SUMMARY_MAX_BYTES:
        row["note"] = "large: name the step and artifact to compare summaries"
        return
    summaries = [_summary(artifacts.load(a)) if a is not None else {} for a in (art_a, art_b)]
    keys = list(dict.fromkeys([*summaries[0], *summaries[1]]))
    row["changes"] = [
        [k, summaries[0].get(k, "\u2014"), summaries[1].get(k, "\u2014")]
        for k in keys
        if summaries[0].get(k) != summaries[1].get(k)
    ]


def _summary(value: Any) -> dict[str, str]:
    """Comparable text facts about a large value: type, shape, dtype(s), statistics (as far
    as the value lets them be read: a failure is itself a fact)."""
    out = {"type": type_name(value)}
    try:
        _facts(value, out)
    except Exception as exc:
        out["facts"] = f"unreadable: {safe_repr(exc, 200)}"
    return out


def _facts(value: Any, out: dict[str, str]) -> None:
    """Adds ``value``'s shape or length, dtype(s) and statistics to ``out``."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        out["shape"] = repr(tuple(int(n) for n in shape))
    elif hasattr(value, "__len__"):
        try:
            out["length"] = f"{len(value):,}"
        except TypeError:
            pass
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        out["dtype"] = str(dtype)
    dtypes = getattr(value, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items") and not isinstance(value, type):
        for column, kind in list(dtypes.items())[:20]:
            out[f"dtype[{safe_repr(column, 40)}]"] = str(kind)
        numeric = value.select_dtypes("number") if hasattr(value, "select_dtypes") else None
        if numeric is not None:
            for i, column in enumerate(list(numeric.columns)[:20]):
                mean = numeric.iloc[:, i].mean()  # by position: column names may repeat
                out[f"mean[{safe_repr(column, 40)}]"] = (
                    f"{mean:.6g}" if isinstance(mean, (int, float, complex)) else str(mean)
                )
    elif type(value).__name__ == "ndarray":
        stats = array_stats(value) or {}
        for key in ("min", "max", "mean", "std", "nan"):
            if key in stats:
                out[key] = f"{stats[key]:.6g}"

"""What step statuses say beyond each step's own state: stale steps, the case a switch took and
a foreach step's progress.

The frontend computes the same rules in ``src/runsummary.ts`` (and folds statuses in
``src/model.ts``); the shared vectors in ``python/tests/vectors/runsummary.json`` check both.
Everything works on the JSON the comm carries (``FlowModel.to_json()``, ``step_status``
payloads); nothing here imports Metaflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def downstream(model: Mapping[str, Any], steps: Iterable[str]) -> set[str]:
    """The steps reachable from ``steps`` through the model's transitions (``steps`` excluded
    unless a loop leads back to them)."""
    children = {
        s["name"]: list((s.get("transition") or {}).get("targets", []))
        for s in model.get("steps", [])
    }
    seen: set[str] = set()
    todo = [c for s in steps for c in children.get(s, [])]
    while todo:
        step = todo.pop()
        if step not in seen and step in children:
            seen.add(step)
            todo.extend(children[step])
    return seen


@dataclass(frozen=True)
class RanStep:
    """What a step's last run recorded, for the stale rule: the cell source it used and the
    cell's id (None when unknown), and whether it is stale for a reason only the kernel knows
    (it ran with another flow cell, or a step upstream of it ran again since)."""

    source: str | None
    cell_id: str | None
    stale: bool = False


def stale_steps(
    model: Mapping[str, Any],
    ran: Mapping[str, RanStep],
    source_of_cell: Callable[[int], str | None],
) -> set[str]:
    """The steps that ran but would not run the same way again: a step whose cell now differs
    from the source its run used (or that ``ran`` marks stale), and every step downstream of
    it, or of a cell that ran under another step name, that ran too. A step's cell is the model
    step cell with the id its run recorded, else the step cell of the same name."""
    steps = model.get("steps", [])
    by_cell_id = {s["cell_id"]: s for s in steps if s.get("cell_id") is not None}
    by_name = {s["name"]: s for s in steps}
    edited = set()
    renamed = set()
    for name, record in ran.items():
        cell = by_cell_id.get(record.cell_id) or by_name.get(name)
        current = None if cell is None else source_of_cell(cell["cell_index"])
        changed = record.source is not None and current is not None and current != record.source
        if record.stale or changed:
            edited.add(name)
        # a renamed step (its cell last ran under another name) changed what follows it
        if cell is not None and cell["name"] != name:
            renamed.add(cell["name"])
    return edited | (downstream(model, edited | renamed) & set(ran))


def switch_choice(
    step: str, cases: Mapping[str, str] | None, runs: Mapping[str, str | None]
) -> str | None:
    """The case switch ``step`` took: the first case whose target (other than the step itself,
    for a recursive switch) ran in the switch's run. ``runs`` maps each step that ran to the
    run id of its last task; None when the switch did not run or no case target ran."""
    if step not in runs or not cases:
        return None
    for case, target in cases.items():
        if target != step and target in runs and runs[target] == runs[step]:
            return case
    return None


@dataclass
class _Splits:
    run_id: str | None
    done: dict[int, float] = field(default_factory=dict)  # split index -> its duration (ms)
    snapshot_ms: float | None = None  # a snapshot's wall time, when the splits are not known
    elapsed_ms: float | None = None  # the execution's wall time at its latest finished split
    failed: dict[int, str | None] = field(default_factory=dict)  # split index -> its error


class ForeachProgress:
    """Folds ``step_status`` payloads, as the kernel sends them, into each foreach step's
    progress: which splits finished, in which run, and the step's wall time (the splits may
    have run side by side: their total would overstate what the user waited)."""

    def __init__(self) -> None:
        self._steps: dict[str, _Splits] = {}

    def apply(self, status: Mapping[str, Any]) -> None:
        """Record one status (of a split, of a whole step, or a snapshot's ``done_splits``)."""
        step, index = status["step"], status.get("split_index")
        splits = self._steps.get(step)
        if (
            splits is None
            or splits.run_id != status.get("run_id")
            or (status["state"] == "queued" and index is None)
        ):
            splits = self._steps[step] = _Splits(status.get("run_id"))
        if index is None and status.get("done_splits") is not None:
            splits.done = {i: 0.0 for i in status["done_splits"]}
            splits.snapshot_ms = status.get("duration_ms")
        elif index is not None and status["state"] == "done":
            splits.done[index] = status.get("duration_ms", 0.0)
        elif index is not None and status["state"] == "failed":
            splits.failed.setdefault(index, status.get("error"))
        if index is not None and status.get("elapsed_ms") is not None:
            splits.elapsed_ms = status["elapsed_ms"]  # the execution's wall time so far

    def restore(
        self, step: str, run_id: str | None, done: Mapping[int, float], wall_ms: float | None
    ) -> None:
        """Progress read back from a stored run: ``done`` maps split index -> duration (ms),
        ``wall_ms`` is the step's wall time as the run recorded it."""
        self._steps[step] = _Splits(run_id, dict(done), snapshot_ms=wall_ms)

    def done(self, step: str) -> list[int]:
        """The indices of the step's finished splits, in order."""
        splits = self._steps.get(step)
        return sorted(splits.done) if splits else []

    def whole(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """A foreach step's last status as the step's as a whole: ``done_splits`` and the
        step's wall time instead of the last split's, ``running`` until every split is done,
        and ``failed`` (with the error of the first split that failed) once one failed, even
        when other splits of the failing step end after it. Other steps' statuses come back as
        they are."""
        if "num_splits" not in status:
            return dict(status)
        splits = self._steps.get(status["step"])
        whole = {k: v for k, v in status.items() if k != "split_index"}
        whole["done_splits"] = self.done(status["step"])
        whole.pop("elapsed_ms", None)
        if splits is not None and splits.elapsed_ms is not None:
            whole["duration_ms"] = splits.elapsed_ms
        elif splits is not None and splits.snapshot_ms is not None:
            whole["duration_ms"] = splits.snapshot_ms
        elif splits is not None and splits.done:
            whole["duration_ms"] = round(sum(splits.done.values()), 1)
        if whole["state"] == "done" and len(whole["done_splits"]) < whole["num_splits"]:
            whole["state"] = "running"
        failed = splits.failed if splits is not None else {}
        if failed and whole["state"] in ("running", "done", "skipped"):
            whole["state"] = "failed"
            error = failed[min(failed)]
            if error is not None:
                whole["error"] = error
        return whole

"""A run's step statuses read from Metaflow's metadata alone, in ``step_status`` shape: what
the DAG panel's run browser shows for any run and what a kernel restores after a restart.
Never loads an artifact (a datastore beside a notebook is untrusted until the user runs
something)."""

from __future__ import annotations

from typing import Any

from .events import StepEvent

__all__ = ["run_statuses", "run_statuses_and_splits", "switch_targets"]


def run_statuses(
    run: Any, switches: dict[str, list[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """step -> its status in ``run`` (``step_status`` shape; a foreach step as a whole with
    ``num_splits``/``done_splits``, a switch step with ``switch_counts``), from metadata only
    (see :func:`run_statuses_and_splits`). A step's ``duration_ms`` is its wall time."""
    return run_statuses_and_splits(run, switches)[0]


def run_statuses_and_splits(
    run: Any, switches: dict[str, list[str]] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[int, float]]]:
    """:func:`run_statuses`, and foreach step -> split index -> duration (ms) of its finished
    splits. Read from Metaflow's metadata alone, never loading an artifact (a datastore beside
    a notebook is untrusted until the user runs something): a task's outcome from
    ``attempt_ok``, a switch's choices from how many tasks each of its cases ran
    (``switches``: switch step -> the cases only it leads to, see :func:`switch_targets`)."""
    from ._metaflow import task_outcome

    flow = run.parent.id
    events: dict[str, StepEvent] = {}
    splits: dict[str, dict[int, float]] = {}
    tasks_of: dict[str, int] = {}
    for step in run:
        if step.id.startswith("_"):
            continue
        outcomes = [task_outcome(t) for t in step]
        tasks_of[step.id] = len(outcomes)
        if any(o.ok is False for o in outcomes):
            state = "failed"
        elif all(o.ok for o in outcomes):
            state = "done"
        else:
            state = "running"
        event = StepEvent(
            status=state, step=step.id, flow=flow, run_id=run.id, duration=_wall_ms(outcomes) / 1000
        )
        if state == "failed":
            event.message = "a task raised an exception (select the step for its error and logs)"
        if len(outcomes) > 1:
            event.num_splits = len(outcomes)
            event.done_splits = [i for i, o in enumerate(outcomes) if o.ok]
            splits[step.id] = {i: o.duration_ms for i, o in enumerate(outcomes) if o.ok}
        events[step.id] = event
    for switch, targets in (switches or {}).items():
        switch_event = events.get(switch)
        if switch_event is None or switch_event.status != "done":
            continue
        counts = {t: tasks_of.get(t, 0) for t in targets if t != switch}
        if switch in targets:  # a recursive switch: every task that did not leave chose itself
            counts[switch] = tasks_of[switch] - sum(counts.values())
        counts = {t: n for t, n in counts.items() if n > 0}
        if counts:
            switch_event.switch_counts = counts
    return {step: event.to_json() for step, event in events.items()}, splits


def _wall_ms(outcomes: list[Any]) -> float:
    """A step's time from its first task's start to its last task's end (its tasks may have
    run side by side), from their recorded outcomes."""
    ended = [(o.ended_ms, o.duration_ms) for o in outcomes if o.ended_ms is not None]
    if not ended:
        return 0.0
    return max(end for end, _ in ended) - min(end - ms for end, ms in ended)


def switch_targets(model: dict[str, Any]) -> dict[str, list[str]]:
    """Switch step -> its cases, in a ``FlowModel.to_json()``, for the switches whose cases
    are reached from that switch only (their task counts are its choices); a switch with a
    case reached from elsewhere too is left out (its choices cannot be told from counts)."""
    steps = model.get("steps", [])
    parents = {s["name"]: set(s.get("parents", [])) for s in steps}
    out: dict[str, list[str]] = {}
    for s in steps:
        t = s.get("transition") or {}
        if t.get("kind") != "switch":
            continue
        targets = list(dict.fromkeys(t.get("targets", [])))
        if all(parents.get(target, set()) <= {s["name"], target} for target in targets):
            out[s["name"]] = targets
    return out

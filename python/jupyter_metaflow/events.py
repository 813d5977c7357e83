"""Task status events: what the session and Metaflow's runtime path report for every task,
and the one encoding of an event as the protocol's ``step_status`` payload."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Listener", "StepEvent", "emit"]


@dataclass
class StepEvent:
    """One task's status change, as listeners receive it.

    ``status``: ``queued`` | ``running`` | ``done`` | ``failed`` | ``skipped``.
    ``split_index``/``num_splits`` are set for foreach splits; ``duration`` (seconds) and
    ``artifact_count`` once the task finished; ``message`` explains ``failed``/``skipped``;
    ``source``/``cell_id`` are the step cell's text and id the run used; ``switch_counts``, for
    a switch step, how many of its tasks in the run so far chose each target; ``done_splits``,
    for a whole foreach step read back from a run, the indices of its finished splits;
    ``elapsed`` (seconds), for a task of a step with several tasks, the time from the start of
    the step's execution to this task's end: the step's wall time once its last task ends
    (its splits may have run side by side).
    """

    status: str
    step: str
    flow: str
    run_id: str | None
    task_id: str | None = None
    split_index: int | None = None
    num_splits: int | None = None
    duration: float | None = None
    artifact_count: int | None = None
    message: str | None = None
    source: str | None = None
    cell_id: str | None = None
    switch_counts: dict[str, int] | None = None
    done_splits: list[int] | None = None
    elapsed: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The protocol's ``step_status`` payload (optional fields only when set)."""
        payload: dict[str, Any] = {
            "flow": self.flow,
            "run_id": self.run_id,
            "step": self.step,
            "state": self.status,
        }
        failed = self.status in ("failed", "skipped")
        optional = {
            "split_index": self.split_index,
            "num_splits": self.num_splits,
            "duration_ms": None if self.duration is None else round(self.duration * 1000, 1),
            "artifact_count": self.artifact_count,
            "error": self.message if failed and self.message else None,
            "source": self.source,
            "cell_id": self.cell_id,
            "switch_counts": self.switch_counts,
            "done_splits": self.done_splits,
            "elapsed_ms": None if self.elapsed is None else round(self.elapsed * 1000, 1),
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        return payload


Listener = Callable[[StepEvent], None]


def emit(listeners: Iterable[Listener], event: StepEvent) -> None:
    """Call every listener with ``event``; a broken listener must not break the step."""
    for listener in list(listeners):
        try:
            listener(event)
        except Exception:
            traceback.print_exc()

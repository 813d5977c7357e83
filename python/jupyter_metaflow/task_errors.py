"""How a failed task is reported: the error its cell raises and its ``step_status`` message.

One implementation for tasks run in the kernel (:mod:`.step_tasks`) and in worker processes
(:mod:`.worker_tasks`, which sends the text back); also the one line for a step that could
not run at all (Metaflow or the environment refused, :func:`environment_reason`).
"""

from __future__ import annotations

from . import _metaflow as mf
from .errors import StepFailed, StepInterrupted
from .flowbuild import CELL_FILE_PREFIX, BuiltFlow, user_traceback
from .nameguard import defined_names

__all__ = [
    "UNKNOWN_USER_FIX",
    "NoTransition",
    "environment_reason",
    "event_message",
    "os_error_behind",
    "raised_in_cell",
    "step_failed",
    "transition_error",
]


UNKNOWN_USER_FIX = (
    "Run %env USER=<your name> in the notebook, or set METAFLOW_USER in the environment Jupyter "
    "starts in"
)
"""What to do when Metaflow cannot tell who runs it (no ``$USER`` in a container, a service)."""


class NoTransition(Exception):
    """A step other than end finished without calling ``self.next``."""


def transition_error(built: BuiltFlow, step: str, outcome: mf.TaskOutcome) -> BaseException | None:
    """The task's error: what its code raised, or :class:`NoTransition` when a step other than
    end ended without calling ``self.next`` (Metaflow's runtime fails such a task too)."""
    if outcome.error is None and not outcome.state.next_steps and built.graph[step].type != "end":
        return NoTransition("the step ended without calling self.next(...)")
    return outcome.error


def event_message(error: BaseException) -> str:
    """A failed task's ``step_status`` message: the exception's type and text."""
    name, text = type(error).__name__, str(error)
    return f"{name}: {text}" if text else name  # KeyboardInterrupt has no text


def step_failed(built: BuiltFlow, step: str, run: str, error: BaseException) -> StepFailed:
    """The error a failed task of ``step`` in ``run`` (``Flow/run_id``) raises in its cell."""
    where = built.steps[step].ref.where(None)
    kept = "Earlier runs and their artifacts are unchanged."
    pickling = mf.unpicklable_artifact(error)
    if pickling is not None:
        name, cause = pickling
        return StepFailed(
            f"Step {step!r} in {where} failed in run {run}: artifact self.{name} cannot be pickled "
            f"({type(cause).__name__}: {cause}). Artifacts must be picklable: keep such objects in "
            f"local variables, or store what they hold instead. {kept}",
            "",
        )
    if isinstance(error, NoTransition):  # Metaflow's runtime fails such a task too
        return StepFailed(
            f"Step {step!r} in {where} failed in run {run}: it ended without calling "
            "self.next(...) (a return before it, or a yield in the cell, which makes the step a "
            f"generator that never runs). Every step but end must reach its self.next(...). {kept}",
            "",
        )
    if isinstance(error, KeyboardInterrupt):
        return StepInterrupted(
            f"Step {step!r} in {where} was interrupted in run {run}. {kept}", user_traceback(error)
        )
    return StepFailed(
        f"Step {step!r} in {where} failed in run {run}.{_unrun_module_cell(built, error)} {kept}",
        user_traceback(error),
    )


def _unrun_module_cell(built: BuiltFlow, error: BaseException) -> str:
    """For a ``NameError`` of a name a module cell defines (the kernel restarted and the
    user executed a step cell first): which cell to run."""
    name = getattr(error, "name", None) if isinstance(error, NameError) else None
    if not name:
        return ""
    for cell in built.model.module_cells:
        if name in (defined_names(cell.source) or ()):
            return (
                f" {name!r} is defined by cell {cell.index + 1} (a module cell), which has not "
                "run in this kernel: run it (Run Step and Run to Here run the module cells "
                "first), then execute this step again."
            )
    return ""


def environment_reason(exc: Exception) -> str:
    """One line for a failure of Metaflow or the environment, as ``python flow.py run``
    words it (Metaflow's headline and message), with the fix when there is a known one."""
    from metaflow.exception import MetaflowException, MetaflowUnknownUser

    problem = mf.storage_problem(exc)
    if problem is not None:
        return problem
    if isinstance(exc, MetaflowUnknownUser):
        return f"{exc.headline}: {exc.message}. {UNKNOWN_USER_FIX}, then execute the step again."
    if isinstance(exc, MetaflowException):
        return f"{exc.headline}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def os_error_behind(error: BaseException) -> OSError | None:
    """``error`` if it is an ``OSError``, else the first one in its causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def raised_in_cell(error: BaseException) -> bool:
    """Whether ``error``'s traceback passes through a notebook cell's code."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(CELL_FILE_PREFIX):
            return True
        tb = tb.tb_next
    return False

"""The errors a user sees from the kernel and the exporter. Each message names the cell (or
the file), the line when there is one, and the fix; none carries frames of this package."""

from __future__ import annotations

from typing import Iterable

from .cells import CellError

__all__ = [
    "ExportError",
    "FlowDefinitionError",
    "NotebookFileError",
    "RunOrderError",
    "StepCouldNotRun",
    "StepFailed",
    "StepInterrupted",
]


class FlowDefinitionError(Exception):
    """The notebook's flow cannot run as written; the message names cells, lines and fixes."""


class RunOrderError(Exception):
    """The flow is fine but the step cannot run yet in the current run: a parent failed, has
    not run, or went elsewhere; the message names the cells to execute first."""


class StepFailed(Exception):
    """A step's code raised (or its artifacts did not persist); :attr:`user_traceback` is the
    traceback trimmed to the step's own frames, with the cell's line numbers."""

    def __init__(self, message: str, user_traceback: str) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class StepCouldNotRun(StepFailed):
    """Metaflow or the environment refused the step before or around its code (no user name,
    an unwritable datastore, ...): one line saying why, no traceback (the frames would be
    Metaflow's and this package's, not the user's)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "")


class StepInterrupted(StepFailed, KeyboardInterrupt):
    """The step was interrupted (Interrupt Kernel, Ctrl-C): still a ``KeyboardInterrupt``, shown
    like :class:`StepFailed` (the step's own frames, not the executor's)."""


class ExportError(Exception):
    """The notebook (or a file) cannot be exported; ``errors`` locate each problem."""

    def __init__(self, message: str, errors: Iterable[CellError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class NotebookFileError(ExportError):
    """The file is not a notebook that can be read (missing, not JSON, not upgradable)."""

"""The errors a user sees from the kernel and the exporter. Each message names the cell (or
the file), the line when there is one, and the fix; none carries frames of this package."""

from __future__ import annotations

import errno
from collections.abc import Iterable

from .cells import CellError

__all__ = [
    "DatastoreError",
    "ExportError",
    "FlowDefinitionError",
    "NotebookFileError",
    "RunOrderError",
    "StepCouldNotRun",
    "StepFailed",
    "StepInterrupted",
    "damaged_datastore",
]


class FlowDefinitionError(Exception):
    """The notebook's flow cannot run as written; the message names cells, lines and fixes."""


class RunOrderError(Exception):
    """The flow is fine but the step cannot run yet in the current run: a parent failed, has
    not run, or went elsewhere; the message names the cells to execute first."""


class DatastoreError(FlowDefinitionError):
    """The Metaflow datastore cannot be written or read (unwritable, full, damaged); the
    message names the folder, the system's reason and the fix. Earlier runs are unchanged."""

    @classmethod
    def from_os_error(cls, exc: OSError, root: str | None) -> DatastoreError:
        """The error for ``exc``, raised while Metaflow wrote or read the datastore at ``root``."""
        where = f"The Metaflow datastore in {root}" if root else "The Metaflow datastore"
        reason = exc.strerror or type(exc).__name__
        path = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            fix = (
                "Free some space there, or point METAFLOW_DATASTORE_SYSROOT_LOCAL at a folder on "
                "another disk, then run the cell again."
            )
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = (
                "Make the folder writable, or point METAFLOW_DATASTORE_SYSROOT_LOCAL at a writable "
                "folder, then run the cell again."
            )
        else:
            fix = (
                "Check the folder (a file where Metaflow expects a folder, a damaged run), or "
                "point "
                "METAFLOW_DATASTORE_SYSROOT_LOCAL at another folder, then run the cell again."
            )
        return cls(f"{where} cannot be used: {reason}{path}. {fix} Earlier runs are unchanged.")


def damaged_datastore(exc: Exception, root: str | None, flow: str) -> DatastoreError:
    """The error for a run of ``flow`` Metaflow cannot read (a damaged metadata file)."""
    where = f"The Metaflow datastore in {root}" if root else "The Metaflow datastore"
    return DatastoreError(
        f"{where} holds a damaged run of {flow} ({type(exc).__name__}: {exc}). Move the damaged "
        f"run's folder (under {flow}/) out of the datastore, or point "
        "METAFLOW_DATASTORE_SYSROOT_LOCAL "
        "at another folder, then run the cell again. The other runs are unchanged."
    )


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

"""Helpers for tests that run step cells in an in-process IPython shell (the ``ip`` fixture)."""

from __future__ import annotations

from jupyter_metaflow import session as notebook_session
from jupyter_metaflow.cells import CellInput


def set_notebook(*sources: str, path: str) -> list[str]:
    """Tell the session the notebook's cells (as the frontend's live model would)."""
    notebook_session.set_notebook_cells(
        [CellInput(i, f"cell{i}", "code", s) for i, s in enumerate(sources)], path
    )
    return list(sources)


def ok(shell, source: str):
    """Run one cell and assert it succeeded."""
    result = shell.run_cell(source)
    assert result.success, f"{source!r} failed: {result.error_in_exec}"
    return result

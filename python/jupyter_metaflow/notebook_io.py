"""Reading notebook files, for the exporter and the kernel alike: a notebook the CLI exports
is a notebook the kernel reads (a UTF-8 BOM, older nbformat versions upgraded to 4), and a file
that is not one gets the same message naming the file and the fix."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .cells import CellInput
from .errors import NotebookFileError

__all__ = ["NotebookFileError", "read_notebook"]


def read_notebook(path: str | os.PathLike[str]) -> list[CellInput]:
    """The cells of a notebook file (upgraded to nbformat 4). Raises
    :class:`NotebookFileError` when the file cannot be read, is not JSON or has an nbformat
    version that cannot be upgraded."""
    import nbformat

    path = Path(path)
    try:
        text = path.read_text(
            encoding="utf-8-sig"
        )  # a BOM (some Windows editors write one) is not JSON
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookFileError(f"Cannot read the notebook {path}: {exc}.") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookFileError(
            f"{path} is not a notebook: not valid JSON ({exc}). Open it in Jupyter and save it "
            "again, "
            "or pass the right file."
        ) from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise NotebookFileError(f"{path} is not a notebook: it has no 'nbformat' field.")
    try:
        with warnings.catch_warnings():  # nbformat's warnings about the file (cells without
            warnings.simplefilter("ignore")  # ids...) would land in the executing cell's output
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if raw.get("nbformat") == 4:
            raise NotebookFileError(
                f"{path} is not a valid notebook ({reason}). Open it in Jupyter and save it again."
            ) from None
        raise NotebookFileError(
            "{} has nbformat version {}, which cannot be upgraded to version 4 ({}). "
            "Open and save it with a current Jupyter first.".format(
                path, raw.get("nbformat"), reason
            )
        ) from None
    cells = []
    for index, cell in enumerate(nb.cells):
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if not isinstance(source, (str, list)) or (
            isinstance(source, list) and not all(isinstance(s, str) for s in source)
        ):
            raise NotebookFileError(
                f"{path} is not a valid notebook: cell {index + 1} has no text source. Open it in "
                "Jupyter and save it again."
            )
        cells.append(CellInput.from_nbformat(index, cell))
    return cells

"""Where the kernel's notebook cells come from, freshest first: the executing cell, the
frontend's live notebook (the comm), the notebook file (its path from the frontend,
``JPY_SESSION_NAME``, VS Code, or, headless, the file holding the executed cells: see
:mod:`jupyter_metaflow.notebook_search`), and the cells this kernel executed.
:class:`NotebookSource` merges them into the cells :func:`jupyter_metaflow.assembly.assemble`
reads.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import cells as cellrules
from . import injected_parameters, notebook_search
from .assembly import FlowModel, assemble
from .errors import FlowDefinitionError
from .notebook_io import NotebookFileError, read_notebook

__all__ = ["MAX_REMEMBERED_CELLS", "NotebookSource"]

MAX_REMEMBERED_CELLS = 1000
"""Executed cells kept as a source of the notebook's text (oldest forgotten first)."""


class NotebookSource:
    """One kernel's view of its notebook's cells (the session holds one)."""

    def __init__(self) -> None:
        self._live_cells: list[cellrules.CellInput] | None = None
        self._live_path: str | None = None
        self._executed: dict[str, tuple[float, str, str | None]] = {}
        self._last_cells: list[cellrules.CellInput] = []
        self._found_path: str | None = None
        """The notebook file a headless kernel found (see :meth:`find_notebook`)."""
        self._injected: tuple[dict[str, Any], str] | None = None
        """papermill's injected parameter values and its cell's text, once that cell ran."""
        self._file: str | None = None
        """The ``__file__`` given to the notebook's namespace (see :meth:`provide_file`)."""
        self._assembled: tuple[tuple, FlowModel] | None = None
        """The last assembly and what it was made of (cells, path): every step cell assembles
        the notebook again, mostly unchanged."""

    @property
    def last_cells(self) -> list[cellrules.CellInput]:
        """The notebook cells the last assembly used (what the exporter needs)."""
        return list(self._last_cells)

    def sees_notebook(self) -> bool:
        """Whether the kernel knows the whole notebook (live cells or a readable file), not
        only the cells it executed."""
        return self._live_cells is not None or bool(_file_cells(self.notebook_path())[0])

    def file_problem(self) -> str | None:
        """Why the notebook file (which exists) cannot be read, when it cannot."""
        path = self.notebook_path()
        if not path or not os.path.isfile(path):
            return None
        _file_cells(path)
        problem = _unreadable_files.get(path)
        return problem[1] if problem is not None and problem[0] == os.path.getmtime(path) else None

    def set_notebook_cells(self, cells: list[cellrules.CellInput], path: str | None) -> None:
        """The frontend's live notebook (freshest source after the executing cell)."""
        self._live_cells = list(cells)
        self._live_path = path

    def notebook_path(self) -> str | None:
        """The notebook's path: from the frontend, else as jupyter_server (``JPY_SESSION_NAME``)
        or VS Code (``__vsc_ipynb_file__`` in the user namespace) tell the kernel."""
        if self._live_path or os.environ.get("JPY_SESSION_NAME"):
            return self._live_path or os.environ["JPY_SESSION_NAME"]
        from IPython import get_ipython

        shell = get_ipython()
        path = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
        if isinstance(path, str) and path:
            return path
        return self._found_path if self._live_cells is None else None

    def find_notebook(self) -> str | None:
        """Headless (no frontend, no path from the server): the notebook file holding every
        cell this kernel executed, kept while it still holds them. Raises
        :class:`FlowDefinitionError` when two notebooks hold them."""
        if self._live_cells is not None or os.environ.get("JPY_SESSION_NAME"):
            return None
        executed = [text for _, text, _ in self._executed.values()]
        held = self._found_path is not None and {t.strip() for t in executed} <= {
            text.strip() for text in _code_sources(self._found_path)
        }
        if not held:
            try:
                self._found_path = notebook_search.find_notebook(executed, _code_sources)
            except notebook_search.AmbiguousNotebook as exc:
                raise FlowDefinitionError(str(exc)) from None
        return self._found_path

    def injected_values(self) -> dict[str, Any] | None:
        """papermill's parameter values: the executed cell that reads as its injected cell,
        unless the notebook shows that cell without papermill's tag (a cell of the user's)."""
        if self._injected is None:
            return None
        values, text = self._injected
        if self._live_cells is not None:
            held = [(c.source, c.tags) for c in self._live_cells]
        else:
            held = [(c[1], c[2]) for c in _file_cells(self.notebook_path())[0]]
        tags = [cell_tags for source, cell_tags in held if source.strip() == text.strip()]
        if tags and not any(cellrules.INJECTED_PARAMETERS_TAG in t for t in tags):
            return None
        return values

    def provide_file(self, user_ns: dict[str, Any]) -> None:
        """Give the notebook's namespace a ``__file__``, the notebook's path, so code written
        for a flow file (Metaflow's tutorials: ``os.path.dirname(__file__)``) finds the files
        beside it, as the exported flow beside the notebook does. Follows renames; a value
        the user set is left alone."""
        path = self.notebook_path()
        if path and user_ns.get("__file__", self._file) == self._file:
            self._file = user_ns["__file__"] = os.path.abspath(path)

    def record_executed(self, source: str, cell_id: str | None) -> None:
        """Remember a cell this kernel executed (source 4, and fresher than an older file).
        The dict keeps first-execution order: the kernel's guess at the notebook's order, which
        re-executing a cell must not change (implied transitions follow it)."""
        key = self._cell_key(source, cell_id)
        self._executed[key] = (time.time(), source, cell_id)
        values = injected_parameters.parse_injected_cell(source)
        if values is not None:
            self._injected = (values, source)
        if len(self._executed) > MAX_REMEMBERED_CELLS:
            del self._executed[next(iter(self._executed))]

    def ran_at(self, cell: cellrules.CellInput) -> float | None:
        """When this kernel last executed ``cell`` (by its id, else its text); None if never."""
        ran = self._executed.get(self._cell_key(cell.source, cell.id))
        return None if ran is None else ran[0]

    def edited_since_run(self, cells: list[cellrules.CellInput]) -> list[cellrules.CellInput]:
        """The cells among ``cells`` that this kernel executed (known by their id) and whose
        text changed since: the kernel holds what they defined then, not what they say now."""
        edited = []
        for cell in cells:
            ran = self._executed.get(self._cell_key(cell.source, cell.id)) if cell.id else None
            if ran is not None and ran[1].strip() != cell.source.strip():
                edited.append(cell)
        return edited

    def recall_injected(self, history: list[str]) -> None:
        """papermill's injected cell among the cells run before the kernel side loaded:
        without a cell tagged ``parameters`` papermill puts it at the top of the notebook,
        above ``%load_ext``, where :meth:`record_executed` never sees it."""
        if self._injected is not None:
            return
        for source in reversed(history):
            values = injected_parameters.parse_injected_cell(source)
            if values is not None:
                self._injected = (values, source)
                return

    @staticmethod
    def _cell_key(source: str, cell_id: str | None) -> str:
        """How an executed cell is matched to a notebook cell: by id, else a flow cell to the
        flow cell, a step cell to the step cell named on its magic line, any other cell by its
        text."""
        if cell_id:
            return "id:" + cell_id
        first = source.lstrip().split("\n", 1)[0].split()
        if first and first[0] == "%%flow":
            return "flow"
        if first and first[0] == "%%step" and len(first) > 1:
            return "step:" + first[1]
        return "text:" + source

    def notebook_model(self, source: str | None = None, cell_id: str | None = None) -> FlowModel:
        """Assemble the flow from the freshest cell texts; ``source`` is the executing cell
        (headless, the notebook file holding the executed cells is looked for then)."""
        if source is not None:
            self.find_notebook()
        path = self.notebook_path()
        if self._live_cells is not None:
            base = [(c.id, c.source, c.tags, c.cell_type) for c in self._live_cells]
            overlay = {}
        else:
            base, mtime = _file_cells(path)
            overlay = {k: v for k, v in self._executed.items() if v[0] > mtime}
        if source is not None:
            overlay[self._cell_key(source, cell_id)] = (time.time(), source, cell_id)
        merged = []
        used = set()
        for bid, bsource, tags, ctype in base:
            key = self._cell_key(bsource, bid) if ctype == "code" else None
            alt = self._cell_key(bsource, None) if ctype == "code" else None
            for k in (key, alt):
                if k in overlay and k not in used:
                    bsource = overlay[k][1]
                    used.add(k)
                    break
            merged.append((bid, bsource, tags, ctype))
        for k, (_, osource, oid) in overlay.items():
            if k not in used:
                merged.append((oid, osource, (), "code"))
        cells = [
            cellrules.CellInput(index=i, id=cid, cell_type=ctype, source=src, tags=tuple(tags))
            for i, (cid, src, tags, ctype) in enumerate(merged)
        ]
        self._last_cells = cells
        made_of = (tuple(cells), path)
        if self._assembled is None or self._assembled[0] != made_of:
            self._assembled = (made_of, assemble(cells, path))
        return self._assembled[1]


_notebook_files: dict[str, tuple[float, list[tuple]]] = {}
"""Path -> (mtime, cells) of notebook files already read (outputs make them slow to parse)."""

_unreadable_files: dict[str, tuple[float, str]] = {}
"""Path -> (mtime, why) of notebook files that could not be read."""


def _file_cells(path: str | None) -> tuple[list[tuple], float]:
    """``[(id, source, tags, cell_type)]`` of the notebook file and its mtime (or ``[]``, 0),
    read as the exporter reads it (:func:`jupyter_metaflow.notebook_io.read_notebook`)."""
    if not path or not os.path.isfile(path):
        return [], 0.0
    mtime = os.path.getmtime(path)
    cached = _notebook_files.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1], mtime
    try:
        cells = [(c.id, c.source, c.tags, c.cell_type) for c in read_notebook(path)]
    except NotebookFileError as exc:  # kept: the user is told why, not that the file is absent
        _unreadable_files[path] = (mtime, str(exc))
        return [], 0.0
    _unreadable_files.pop(path, None)
    _notebook_files[path] = (mtime, cells)
    return cells, mtime


def _code_sources(path: str) -> list[str]:
    """The code cells' texts of a notebook file (``[]`` when unreadable)."""
    return [source for _, source, _, cell_type in _file_cells(path)[0] if cell_type == "code"]

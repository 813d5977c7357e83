"""Which notebook file a kernel runs when no frontend tells it: headless runners.

``jupyter nbconvert --execute``, ``jupyter execute``, papermill and nbclient send the kernel
each cell's code and nothing else (no notebook path, no cell ids, no tags). The notebook the
kernel runs is the one whose code cells hold every cell it executed. Looked for, in order:

1. the ``.ipynb`` files on the command line of the process that started the kernel (its
   ``JPY_PARENT_PID``; nbconvert, ``jupyter execute`` and papermill name the notebook there,
   papermill also its output, which holds the injected parameters cell), relative to that
   process's working directory;
2. the notebooks in the kernel's working directory and in that process's working directory
   (nbconvert and ``jupyter execute`` start the kernel in the notebook's folder; nbclient in
   its resources' ``path`` or its own working directory).

The first group with a match wins; inside it, the notebook holding the most executed cells
(papermill's output, which names its input in its metadata, gives way to that input).
Two different notebooks holding them equally well cannot be told apart: :class:`AmbiguousNotebook`.
Nothing found (a notebook object never saved) leaves the kernel with the cells it executed.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["AmbiguousNotebook", "candidate_groups", "find_notebook"]

MAX_CANDIDATES = 200
"""Notebooks read at most per search (a folder of thousands of notebooks is not searched whole)."""
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class AmbiguousNotebook(Exception):
    """Several notebooks hold the executed cells; ``paths`` lists them."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        shown = ", ".join(self.paths)
        super().__init__(
            f"This kernel runs without JupyterLab and cannot tell which notebook it executes: "
            f"{shown} all hold the cells it executed so far. Keep one of them in this folder "
            "(move or rename the copies, e.g. write executed copies elsewhere), then run again."
        )


def _parent_process() -> tuple[list[str], str | None]:
    """The command line and working directory of the process that started this kernel
    (nothing outside a kernel a Jupyter client started)."""
    pid = os.environ.get("JPY_PARENT_PID")
    if not pid:
        return [], None
    try:
        import psutil

        process = psutil.Process(int(pid))
        return process.cmdline(), process.cwd()
    except Exception:  # no psutil, or the process is gone or not ours
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
        return args, os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return [], None


def _notebook_args(args: Iterable[str], cwd: str | None) -> list[str]:
    """``.ipynb`` paths among command-line words (``--output=x.ipynb`` too); a program given
    with ``python -c`` is searched for quoted ``.ipynb`` strings."""
    found = []
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        values = (
            [value]
            if value.endswith(".ipynb") and "\n" not in value
            else [m.group(2) for m in _QUOTED_NOTEBOOK.finditer(arg)]
        )
        for value in values:
            found.append(
                os.path.normpath(os.path.join(cwd or os.getcwd(), os.path.expanduser(value)))
            )
    return found


_QUOTED_NOTEBOOK = re.compile(r"""(["'])([^"'\n]+?\.ipynb)\1""")


def _folder_notebooks(folder: str | None) -> list[str]:
    if not folder:
        return []
    return sorted(glob.glob(os.path.join(glob.escape(folder), "*.ipynb")))


def candidate_groups(kernel_cwd: str | None = None) -> list[list[str]]:
    """The notebooks to look at, by group (see the module docstring), each path once."""
    args, parent_cwd = _parent_process()
    kernel_cwd = kernel_cwd or os.getcwd()
    groups = [
        _notebook_args(args[1:], parent_cwd),
        _folder_notebooks(kernel_cwd) + _folder_notebooks(parent_cwd),
    ]
    seen: set[str] = set()
    out = []
    for group in groups:
        kept = []
        for path in group:
            real = os.path.realpath(path)
            if real in seen or not os.path.isfile(path):
                continue
            seen.add(real)
            kept.append(path)
        out.append(kept[:MAX_CANDIDATES])
    return out


def _normal(source: str) -> str:
    return source.strip()


def find_notebook(
    executed: Sequence[str],
    read_sources: Callable[[str], list[str]],
    groups: list[list[str]] | None = None,
) -> str | None:
    """The notebook whose code cells hold every executed cell text in ``executed`` (texts of
    cells the notebook does not hold, papermill's injected cell for one, leave out first).

    ``read_sources(path)`` gives a notebook's code cell texts (``[]`` when unreadable).
    Raises :class:`AmbiguousNotebook` when the best match is not unique."""
    wanted = {_normal(s) for s in executed if s.strip()}
    if not wanted:
        return None
    for group in candidate_groups() if groups is None else groups:
        matches: dict[str, int] = {}
        for path in group:
            try:
                if os.path.getsize(path) > MAX_NOTEBOOK_BYTES:
                    continue
            except OSError:
                continue
            held = {_normal(s) for s in read_sources(path)}
            if not held:
                continue
            score = len(wanted & held)
            if score == len(wanted) or _only_injected_missing(wanted - held):
                matches[path] = score
        if matches:
            kept = _originals(list(matches))
            top = max(matches[p] for p in kept)
            best = [p for p in kept if matches[p] == top]
            if len(best) > 1:
                raise AmbiguousNotebook(best)
            return best[0]
    return None


def _originals(paths: list[str]) -> list[str]:
    """``paths`` without papermill's outputs of another of them: the notebook papermill
    executes is its input (the output is written as the run goes)."""
    if len(paths) < 2:
        return paths
    real = {os.path.realpath(p) for p in paths}
    _, parent_cwd = _parent_process()
    kept = []
    for path in paths:
        source = _papermill_input(path)
        folders = [parent_cwd, os.path.dirname(path), os.getcwd()]
        if source and any(os.path.realpath(os.path.join(f or "", source)) in real for f in folders):
            continue
        kept.append(path)
    return kept or paths


def _papermill_input(path: str) -> str | None:
    """The input path papermill recorded in a notebook it wrote (``metadata.papermill``)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            metadata = json.load(handle).get("metadata") or {}
    except (OSError, ValueError, AttributeError):
        return None
    source = (metadata.get("papermill") or {}).get("input_path")
    return source if isinstance(source, str) else None


def _only_injected_missing(missing: set[str]) -> bool:
    """Are the executed cells a notebook lacks only cells a runner inserted (papermill's
    parameters cell)?"""
    from .injected_parameters import is_injected_cell

    return all(is_injected_cell(text) for text in missing)

"""``%%flow`` and ``%%step``: the cell magics of the notebook contract.

``%%flow [NAME] [--param value ...]`` checks the flow cell (its body runs like the body of
``class NAME(FlowSpec):``; the options are converted the way ``python flow.py run`` converts
them). ``%%step NAME`` runs step ``NAME`` in the kernel as part of the notebook's current
Metaflow run (see :mod:`jupyter_metaflow.session`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .errors import FlowDefinitionError, RunOrderError, StepFailed
from .native_runtime import RuntimeRunFailed
from .session import get_session

__all__ = ["NotebookFlowMagics", "register", "unregister"]


@magics_class
class NotebookFlowMagics(Magics):
    """The cell magics; one instance per shell, sharing the kernel's notebook session."""

    shell: InteractiveShell  # registered with a shell, never without one

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._cell_id: str | None = None
        self._raw_cell: str | None = None

    @property
    def session(self) -> Any:
        return get_session()

    def pre_run_cell(self, info: Any) -> None:
        """Remember the executing cell's id and text (the notebook's source of last resort)."""
        self._cell_id = getattr(info, "cell_id", None)
        self._raw_cell = getattr(info, "raw_cell", None)
        if self._raw_cell:
            self.session.record_executed(self._raw_cell, self._cell_id)

    def _source(self, magic: str, line: str, cell: str) -> str:
        """The cell's exact text: IPython hands the magic its body with a newline appended
        (and a cell of the magic line alone the ``pass`` of :func:`complete_empty_body`)."""
        rebuilt = f"%%{magic} {line}\n{cell}"
        raw = self._raw_cell
        if raw is not None:
            completed = "".join(complete_empty_body(raw.splitlines(True)))
            if rebuilt.strip("\n") in (raw.strip("\n"), completed.strip("\n")):
                return raw
        return rebuilt

    @magic_arguments()
    @argument("name", nargs="?", help="flow class name (default: from the notebook's file name)")
    @argument(
        "options",
        nargs=argparse.REMAINDER,
        help="--param value ..., converted as `python flow.py run --param value` would",
    )
    @cell_magic
    def flow(self, line: str, cell: str) -> None:
        """Flow cell: flow decorators, then Parameters and class constants of the flow."""
        try:
            tokens = shlex.split(line)
        except ValueError:  # define_flow reports the unreadable line with the cell and the fix
            tokens = []
        if tokens and not tokens[0].startswith("-"):
            parse_argstring(self.flow, line)
        source = self._source("flow", line, cell)
        self.session.show_flow(source, self.shell.user_ns, self._cell_id)

    @magic_arguments()
    @argument("name", help="the step's name (start, end, or any lowercase identifier)")
    @cell_magic
    def step(self, line: str, cell: str) -> None:
        """Step cell: decorators, then the step's body ending with its ``self.next(...)``."""
        source = self._source("step", line, cell)
        if len(line.split()) != 1:  # the notebook's check names the cell, the line and the fix
            self.session.run_step("", source, self.shell.user_ns, self._cell_id)
        args = parse_argstring(self.step, line)
        self.session.run_step(args.name, source, self.shell.user_ns, self._cell_id)


def complete_empty_body(lines: list[str]) -> list[str]:
    """IPython refuses a cell magic with an empty body; a ``%%flow``/``%%step`` cell with only
    its magic line is valid under the notebook contract, so give it a ``pass`` body."""
    if lines and lines[0].startswith(("%%flow", "%%step")) and not "".join(lines[1:]).strip():
        return [lines[0].rstrip("\n") + "\n", "pass\n"]
    return lines


def _show_notebook_error(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """Our errors are messages about cells, not bugs: show them without IPython's frames.

    IPython discards what a custom handler returns when user code raised, so the handler
    shows the traceback itself (an ``error`` message in a kernel)."""
    if isinstance(value, StepFailed):
        stb = [f"{value}\n\n{value.user_traceback}" if value.user_traceback else str(value)]
        cause = value.__cause__
        if cause is not None:  # %debug then opens the step's own frames
            sys.last_type, sys.last_value, sys.last_traceback = (
                type(cause),
                cause,
                cause.__traceback__,
            )
            if sys.version_info >= (3, 12):
                sys.last_exc = cause
    else:
        stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def register(shell: Any) -> NotebookFlowMagics:
    """Register the magics, the cell hook and the error display on ``shell``."""
    magics = NotebookFlowMagics(shell)
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.pre_run_cell)
    if complete_empty_body not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(complete_empty_body)
    shell.set_custom_exc(
        (FlowDefinitionError, RunOrderError, StepFailed, RuntimeRunFailed), _show_notebook_error
    )
    return magics


def unregister(shell: Any, magics: NotebookFlowMagics) -> None:
    """Undo :func:`register` (the magics themselves stay until the shell ends)."""
    shell.events.unregister("pre_run_cell", magics.pre_run_cell)
    if complete_empty_body in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(complete_empty_body)
    if shell.custom_exceptions == (
        FlowDefinitionError,
        RunOrderError,
        StepFailed,
        RuntimeRunFailed,
    ):
        shell.set_custom_exc((), None)

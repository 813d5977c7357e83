"""The notebook run session: executing a ``%%step`` cell runs that step as a real Metaflow task.

One :class:`NotebookSession` per kernel (:func:`get_session`). Executing a step cell:

1. assembles the notebook's flow with :mod:`jupyter_metaflow.cells` from the freshest cell
   texts (the executing cell, the frontend's live model, the notebook file, cells this kernel
   ran);
2. compiles every step cell into a method registered in :mod:`linecache` under
   ``<mfcell-N-step>`` (line numbers are the cell's own) and builds the ``FlowSpec`` subclass;
   Metaflow's ``FlowGraph`` and lint then check it, errors naming cell and line;
3. picks the run: ``start`` always opens a new run; another step runs in the current run when
   its parents ran there and it did not, else in a new run that clones the current run's tasks
   outside the step's descendants (as ``resume`` does); after a kernel restart the latest
   notebook run in the datastore is re-attached;
4. runs one task per input (every foreach split in order, one join task per split group) in
   this process through ``_metaflow.run_task``.

For frontends and later features: :attr:`NotebookSession.current_run`,
:attr:`NotebookSession.last_step`, :meth:`NotebookSession.client_run` and
:meth:`NotebookSession.add_listener` (called with a :class:`StepEvent` for every task status
change). :func:`set_notebook_cells` is what the comm handler calls with the live notebook.
"""

from __future__ import annotations

import ast
import io
import linecache
import os
import re
import symtable
import sys
import time
import tokenize
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import _metaflow as mf
from . import cells as cellrules
from . import cards, runtime_path, switches

__all__ = [
    "FlowDefinitionError",
    "NotebookSession",
    "StepEvent",
    "StepFailed",
    "get_session",
    "set_notebook_cells",
]

CELL_FILE_PREFIX = "<mfcell-"
MAX_REMEMBERED_CELLS = 1000
"""Executed cells kept as a source of the notebook's text (oldest forgotten first)."""


# -- errors ---------------------------------------------------------------------------------
class FlowDefinitionError(Exception):
    """The notebook's flow cannot run as written; the message names cells, lines and fixes."""


class StepFailed(Exception):
    """A step's code raised (or its artifacts did not persist); :attr:`user_traceback` is the
    traceback trimmed to the step's own frames, with the cell's line numbers."""

    def __init__(self, message: str, user_traceback: str) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class StepInterrupted(StepFailed, KeyboardInterrupt):
    """The step was interrupted (Interrupt Kernel, Ctrl-C): still a ``KeyboardInterrupt``, shown
    like :class:`StepFailed` (the step's own frames, not the executor's)."""


# -- status events --------------------------------------------------------------------------
@dataclass
class StepEvent:
    """One task's status change, as listeners receive it.

    ``status``: ``queued`` | ``running`` | ``done`` | ``failed`` | ``skipped``.
    ``split_index``/``num_splits`` are set for foreach splits; ``duration`` (seconds) and
    ``artifact_count`` once the task finished; ``message`` explains ``failed``/``skipped``;
    ``source``/``cell_id`` are the step cell's text and id the run used.
    """

    status: str
    step: str
    flow: str
    run_id: str
    task_id: str | None = None
    split_index: int | None = None
    num_splits: int | None = None
    duration: float | None = None
    artifact_count: int | None = None
    message: str | None = None
    source: str | None = None
    cell_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The protocol's ``step_status`` payload (optional fields only when set)."""
        payload: dict[str, Any] = {
            "flow": self.flow, "run_id": self.run_id, "step": self.step, "state": self.status,
        }
        optional = {
            "split_index": self.split_index, "num_splits": self.num_splits,
            "duration_ms": None if self.duration is None else self.duration * 1000.0,
            "artifact_count": self.artifact_count, "source": self.source,
            "cell_id": self.cell_id, "error": self.message if self.status == "failed" else None,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        return payload


Listener = Callable[[StepEvent], None]


# -- compiled cells -------------------------------------------------------------------------
@dataclass
class CellRef:
    """Where a pseudo-file came from: cell position/id, what it holds, and the offset between
    pseudo-file lines and cell lines (non-zero only for tag-based step cells)."""

    index: int
    cell_id: str | None
    label: str
    line_offset: int = 0

    def where(self, file_line: int | None) -> str:
        text = f"cell {self.index + 1} ({self.label})"
        if file_line is not None:
            text += f", line {file_line - self.line_offset}"
        return text


_cell_files: dict[str, CellRef] = {}
"""Pseudo-filename -> its cell, for error messages about Metaflow's lint and tracebacks."""


def _register_source(filename: str, text: str, ref: CellRef) -> None:
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    _cell_files[filename] = ref


def _continuation_lines(text: str) -> set[int]:
    """1-based lines that continue a multi-line string token (must not be re-indented)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return inside


def _indent(text: str, prefix: str) -> list[str]:
    skip = _continuation_lines(text)
    return [
        line if (no in skip or not line.strip()) else prefix + line
        for no, line in enumerate(text.splitlines(), start=1)
    ]


def _compile_at(expr: str, filename: str, line: int, mode: str = "eval") -> types.CodeType:
    tree = ast.parse(expr, filename, mode)
    ast.increment_lineno(tree, line - 1)
    return compile(tree, filename, mode)


@dataclass
class CompiledStep:
    name: str
    cell: cellrules.StepCell
    filename: str
    ref: CellRef
    code: types.CodeType
    decorators: list[types.CodeType]
    global_names: set[str]
    self_assigned: list[tuple[str, int]]
    """``(X, cell line)`` of each ``self.X = ...`` in the body."""


def compile_step(model: cellrules.FlowModel, step: cellrules.StepCell) -> CompiledStep:
    """The step cell as the method ``def NAME(self[, inputs])`` with the cell's line numbers.

    The pseudo-file holds ``def`` on the line just above the body (the magic line, or the
    last decorator line: decorators are evaluated separately and shown there as comments),
    the body indented as inside a class, and the implied ``self.next(...)`` after the body.
    """
    filename = f"{CELL_FILE_PREFIX}{step.cell_index + 1}-{step.name}>"
    offset = 1 if step.body_line == 1 else 0  # tag-based cell without a magic line
    args = "self, inputs" if model.is_join(step.name) else "self"
    implied = model.next_of(step.name).to_source() if model.is_implied(step.name) else None
    ref = CellRef(step.cell_index, step.cell_id, f"%%step {step.name}", offset)
    key = (filename, step.body, step.body_line, tuple(step.decorators),
           tuple(step.decorator_lines), args, implied)
    cached = _compiled_steps.get(key)
    if cached is None:
        lines = [""] * (step.body_line - 1 + offset)
        for deco, line in zip(step.decorators, step.decorator_lines):
            for k, text in enumerate(deco.splitlines()):
                lines[line - 1 + offset + k] = "    # " + text
        lines[step.body_line - 2 + offset] = f"    def {step.name}({args}):"
        body = _indent(step.body, " " * 8)
        if implied is not None:
            body.append("        " + implied)
        if not any(line.strip() and not line.strip().startswith("#") for line in body):
            body.append("        pass")
        text = "\n".join(lines + body) + "\n"
        _register_source(filename, text, ref)
        cached = (text, *_compile_step_text(step, filename, text, ref))
        if len(_compiled_steps) >= 512:
            _compiled_steps.clear()
        _compiled_steps[key] = cached
    text, code, decorators, global_names, self_assigned = cached
    _register_source(filename, text, ref)
    return CompiledStep(step.name, step, filename, ref, code, decorators, global_names, self_assigned)


_compiled_steps: dict[tuple, tuple] = {}
"""Compiled step cells by pseudo-file name and text (cells rarely change between steps)."""


def _compile_step_text(
    step: cellrules.StepCell, filename: str, text: str, ref: CellRef
) -> tuple[types.CodeType, list[types.CodeType], set[str], list[tuple[str, int]]]:
    """``(code, decorator codes, global names read, self.X assignments)`` of a step's file."""
    offset = ref.line_offset
    try:
        tree = ast.parse("if 1:\n" + text, filename)
    except SyntaxError as exc:
        line = (exc.lineno or 2) - 1
        raise FlowDefinitionError(
            f"Syntax error in {ref.where(line)}: {exc.msg}.\n"
            "Fix the code on that line of the cell."
        ) from None
    func = tree.body[0].body[0]
    ast.increment_lineno(func, -1)
    try:  # what only the compiler rejects: 'await' outside async, 'yield' in a comprehension, ...
        code = compile(ast.Module([func], []), filename, "exec")
    except SyntaxError as exc:
        raise FlowDefinitionError(
            f"Syntax error in {ref.where(exc.lineno)}: {exc.msg}.\n"
            "Fix the code on that line of the cell."
        ) from None
    decorators = [
        _compile_at(deco.lstrip()[1:].strip(), filename, line + offset)
        for deco, line in zip(step.decorators, step.decorator_lines)
    ]
    table = symtable.symtable("if 1:\n" + text, filename, "exec")
    return code, decorators, _global_names(table), _self_assignments(step)


def _self_assignments(step: cellrules.StepCell) -> list[tuple[str, int]]:
    """``(X, cell line)`` for every ``self.X = ...`` (also augmented/annotated) in the body."""
    found = []
    for node in ast.walk(step.body_ast) if step.body_ast is not None else ():
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for leaf in ast.walk(target):
                if (isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name)
                        and leaf.value.id == "self"):
                    found.append((leaf.attr, step.body_line + leaf.lineno - 1))
    return found


def _global_names(table: symtable.SymbolTable) -> set[str]:
    names: set[str] = set()
    for child in table.get_children():
        names.update(s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced())
        names.update(_global_names(child))
    return names


_METAFLOW_NAMES: dict[str, Any] = {}


def _metaflow_names() -> dict[str, Any]:
    """The Metaflow names cells may use without importing them."""
    import metaflow

    if not _METAFLOW_NAMES:
        _METAFLOW_NAMES.update(_public_names(metaflow))
    return _METAFLOW_NAMES


def _public_names(metaflow: types.ModuleType) -> dict[str, Any]:
    return {
        name: getattr(metaflow, name)
        for name in dir(metaflow)
        if not name.startswith("_") and not isinstance(getattr(metaflow, name), types.ModuleType)
    }


@dataclass
class BuiltFlow:
    """The flow class built from the notebook, with what error reporting needs."""

    model: cellrules.FlowModel
    cls: type
    steps: dict[str, CompiledStep]
    flow_ref: CellRef | None
    param_args: list[str]
    config_options: dict[str, Any] = field(default_factory=dict)
    """The ``Config`` values (defaults, or ``--config``/``--config-value`` on the magic line)."""


def build_flow(model: cellrules.FlowModel, user_ns: dict[str, Any]) -> BuiltFlow:
    """Compile every step cell and the flow cell into a ``FlowSpec`` subclass.

    Step and flow-cell code sees the notebook's globals (module-cell imports and helpers)
    over Metaflow's names; what it assigns stays local to it.
    """
    from metaflow import FlowSpec, step as step_decorator

    if model.errors:
        raise FlowDefinitionError(_format_cell_errors(model.errors))
    namespace = {**_metaflow_names(), **user_ns}
    attrs: dict[str, Any] = {"__module__": "__main__", "__doc__": model.flow_doc}
    flow_decorators, flow_ref, param_args = [], None, []
    if model.flow_cell is not None:
        class_body, flow_decorators, flow_ref = _exec_flow_cell(model.flow_cell, namespace)
        attrs.update(class_body)
        param_args = list(model.flow_cell.param_args)
    steps: dict[str, CompiledStep] = {}
    for cell in model.steps:
        compiled = compile_step(model, cell)
        func_ns: dict[str, Any] = {}
        exec(compiled.code, namespace, func_ns)
        func = step_decorator(func_ns[cell.name])
        try:
            for deco_code in reversed(compiled.decorators):
                func = eval(deco_code, namespace)(func)
        except Exception as exc:
            raise FlowDefinitionError(
                f"A decorator of {compiled.ref.where(None)} raised {type(exc).__name__}: {exc}\n"
                + _user_traceback(exc)
            ) from None
        attrs[cell.name] = func
        steps[cell.name] = compiled
    _check_artifact_names(steps, attrs)
    try:
        cls = mf.decorated_flow_class(type(model.name, (FlowSpec,), attrs), flow_decorators)
    except Exception as exc:
        raise FlowDefinitionError(_located_message(exc)) from None
    return _prepared(BuiltFlow(model, cls, steps, flow_ref, param_args))


def _exec_flow_cell(
    fc: cellrules.FlowCell, namespace: dict[str, Any]
) -> tuple[dict[str, Any], list[Any], CellRef]:
    """Run the flow cell's body like a class body: ``(class attributes, flow decorators, ref)``."""
    filename = f"{CELL_FILE_PREFIX}{fc.cell_index + 1}-flow>"
    ref = CellRef(fc.cell_index, fc.cell_id, "%%flow")
    text = "\n" * (fc.body_line - 1) + fc.body
    _register_source(filename, text, ref)
    class_body: dict[str, Any] = {}
    decorators = []
    try:
        for deco, line in zip(fc.decorators, fc.decorator_lines):
            decorators.append(eval(_compile_at(deco.lstrip()[1:].strip(), filename, line), namespace))
        exec(compile(text, filename, "exec"), namespace, class_body)
    except Exception as exc:
        raise FlowDefinitionError(
            f"The flow cell ({ref.where(None)}) raised {type(exc).__name__}: {exc}\n"
            + _user_traceback(exc)
        ) from None
    return class_body, decorators, ref


def flow_cell_class(model: cellrules.FlowModel, user_ns: dict[str, Any]) -> BuiltFlow:
    """A step-less ``FlowSpec`` subclass holding only the flow cell's declarations."""
    from metaflow import FlowSpec

    attrs: dict[str, Any] = {"__module__": "__main__"}
    decorators, ref, param_args = [], None, []
    if model.flow_cell is not None:
        body, decorators, ref = _exec_flow_cell(model.flow_cell, {**_metaflow_names(), **user_ns})
        attrs.update(body)
        param_args = list(model.flow_cell.param_args)
    try:
        cls = mf.decorated_flow_class(type(model.name, (FlowSpec,), attrs), decorators)
    except Exception as exc:
        raise FlowDefinitionError(f"The flow cell is not valid: {type(exc).__name__}: {exc}") from None
    return _prepared(BuiltFlow(model, cls, {}, ref, param_args))


def _prepared(built: BuiltFlow) -> BuiltFlow:
    """Resolve the flow's Parameters and ``Config`` values (from the ``%%flow`` line) once."""
    from metaflow._vendor import click

    if mf.config_parameter_names(built.cls):
        try:
            built.config_options = mf.config_options(
                built.cls, built.param_args, f"%%flow {built.cls.__name__}")
        except click.UsageError as exc:
            where = built.flow_ref.where(1) if built.flow_ref else "the %%flow cell"
            raise FlowDefinitionError(f"Bad Config option in {where}: {exc}") from None
    try:
        built.cls = mf.prepare_flow_class(built.cls, built.config_options)
    except Exception as exc:
        raise FlowDefinitionError(_located_message(exc)) from None
    return built


def _check_artifact_names(steps: dict[str, CompiledStep], attrs: dict[str, Any]) -> None:
    """``self.X = ...`` where X is FlowSpec's own attribute, a step or a flow-level constant."""
    reserved = mf.flowspec_attribute_names()
    constants = {k for k in attrs if not k.startswith("_") and k not in steps}
    problems = []
    for compiled in steps.values():
        for attr, line in compiled.self_assigned:
            where = compiled.ref.where(line + compiled.ref.line_offset)
            if attr in reserved:
                problems.append(
                    f"{where}: self.{attr} is FlowSpec's own attribute, not an "
                    f"artifact name. Rename the artifact (e.g. self.{attr}_value)."
                )
            elif attr in steps:
                problems.append(
                    f"{where}: self.{attr} is the name of step {attr!r}; an artifact of that "
                    "name would hide the step. Rename the artifact."
                )
            elif attr in constants:
                problems.append(
                    f"{where}: self.{attr} is a Parameter or constant of the flow "
                    "(set in the %%flow cell) and is read-only in steps. Use another name."
                )
    if problems:
        raise FlowDefinitionError("\n".join(problems))


def _format_cell_errors(errors: Iterable[cellrules.CellError]) -> str:
    return "The notebook's flow has problems:\n" + "\n".join(f"  - {e}" for e in errors)


def _located_message(exc: BaseException) -> str:
    """Metaflow's lint/graph message with the pseudo-file replaced by its cell and line."""
    source_file = getattr(exc, "source_file", None)
    line_no = getattr(exc, "line_no", None)
    message = str(exc)
    if isinstance(exc, mf.LintWarn):
        message = getattr(exc, "message", message)
    ref = _cell_files.get(source_file or "")
    if ref is not None:
        return f"Metaflow's flow check failed at {ref.where(line_no)}:\n{message}"
    return f"Metaflow's flow check failed:\n{message}"


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first cell frame on (Metaflow's own frames dropped)."""
    te = traceback.TracebackException.from_exception(exc)
    frames = list(te.stack)
    for i, frame in enumerate(frames):
        if frame.filename.startswith(CELL_FILE_PREFIX):
            te.stack = traceback.StackSummary.from_list(frames[i:])
            break
    return _CELL_FRAME.sub(_cell_frame_text, "".join(te.format()))


_CELL_FRAME = re.compile(r'File "(<mfcell-[^>]*>)", line (\d+)')


def _cell_frame_text(match: re.Match) -> str:
    ref = _cell_files.get(match.group(1))
    if ref is None:
        return match.group(0)
    text = ref.where(int(match.group(2)))
    return text[0].upper() + text[1:]


# -- runs -----------------------------------------------------------------------------------
@dataclass
class RunRecord:
    """What this session knows about one run: its ``_parameters`` task and, per step, the
    finished tasks (successful ones in ``tasks``, steps with a failed task in ``failed``)."""

    run_id: str
    params_task: str
    tasks: dict[str, list[mf.TaskState]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@dataclass
class TaskSpec:
    """One task to run: its inputs (``run/step/task``), split index and foreach position."""

    input_paths: list[str]
    split_index: int | None = None
    num_splits: int | None = None
    iteration: int = 0
    """0, or the iteration of a recursive switch (its input is the previous iteration)."""
    split_position: tuple[int, ...] = ()
    """A foreach body's task: one index per enclosing foreach, outermost first (the last is
    ``split_index``), as the split is labelled (``[1][2]``)."""


class NotebookSession:
    """The kernel's notebook run session (one per kernel, see :func:`get_session`)."""

    def __init__(self) -> None:
        self.flow_name: str | None = None
        self.run: RunRecord | None = None
        self.last_step: str | None = None
        """The step most recently executed (successfully or not)."""
        self._listeners: list[Listener] = []
        self._backend: mf.Backend | None = None
        self._backend_key: tuple[str, str] | None = None
        self._live_cells: list[cellrules.CellInput] | None = None
        self._live_path: str | None = None
        self._executed: dict[str, tuple[float, str, str | None]] = {}
        self._last_cells: list[cellrules.CellInput] = []
        self._file: str | None = None
        """The ``__file__`` this session gave the notebook's namespace (see :meth:`provide_file`)."""

    # -- public API for frontends and other features -------------------------------------
    @property
    def current_run(self) -> str | None:
        """Pathspec ``Flow/run_id`` of the notebook's current run, or None."""
        if self.run is None or self.flow_name is None:
            return None
        return f"{self.flow_name}/{self.run.run_id}"

    def restorable_run(self) -> str | None:
        """The current run's pathspec; after a kernel restart (no current run yet), the
        notebook's run the next step will re-attach to (None when there is none)."""
        if self.run is not None:
            return self.current_run
        run = self.latest_notebook_client_run(self.notebook_model().name)
        return None if run is None else run.pathspec

    def client_run(self) -> Any:
        """The current run as a Metaflow Client ``Run`` (None before any step ran)."""
        from metaflow import Run

        pathspec = self.current_run
        return None if pathspec is None else Run(pathspec, _namespace_check=False)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(StepEvent)`` on every task status change."""
        self._listeners.append(listener)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The registered listeners (e.g. the comm sync's, once the extension is loaded)."""
        return tuple(self._listeners)

    @property
    def last_cells(self) -> list[cellrules.CellInput]:
        """The notebook cells the last assembly used (what the exporter needs)."""
        return list(self._last_cells)

    def adopt_run(self, flow_cls: type, run_id: str) -> RunRecord | None:
        """Make a run of ``flow_cls`` that Metaflow's runtime made (``%mf_run``, a resumed
        runtime-path step) the notebook's current run."""
        from metaflow import Run

        with mf.metaflow_state() as root:
            backend = self._backend_for(flow_cls, root)
            record = self._load_run(backend, Run(f"{backend.flow_name}/{run_id}", _namespace_check=False))
        if record is not None:
            self.run = record
        return record

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def set_notebook_cells(self, cells: list[cellrules.CellInput], path: str | None) -> None:
        """The frontend's live notebook (freshest source after the executing cell)."""
        self._live_cells = list(cells)
        self._live_path = path

    # -- where the notebook comes from ------------------------------------------------------
    def notebook_path(self) -> str | None:
        """The notebook's path: from the frontend, else as jupyter_server (``JPY_SESSION_NAME``)
        or VS Code (``__vsc_ipynb_file__`` in the user namespace) tell the kernel."""
        if self._live_path or os.environ.get("JPY_SESSION_NAME"):
            return self._live_path or os.environ["JPY_SESSION_NAME"]
        from IPython import get_ipython

        shell = get_ipython()
        path = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
        return path if isinstance(path, str) and path else None

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
        if len(self._executed) > MAX_REMEMBERED_CELLS:
            del self._executed[next(iter(self._executed))]

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

    def notebook_model(self, source: str | None = None, cell_id: str | None = None) -> cellrules.FlowModel:
        """Assemble the flow from the freshest cell texts; ``source`` is the executing cell."""
        path = self.notebook_path()
        if self._live_cells is not None:
            base = [(c.id, c.source, c.tags, c.cell_type) for c in self._live_cells]
            overlay = {}
        else:
            base, mtime = _read_notebook(path)
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
        return cellrules.assemble(cells, path)

    # -- defining and running ------------------------------------------------------------
    def define_flow(self, source: str, user_ns: dict[str, Any], cell_id: str | None = None) -> str:
        """Execute a ``%%flow`` cell: check it and its parameter options; returns a summary."""
        self.provide_file(user_ns)
        self.record_executed(source, cell_id)
        model = self.notebook_model(source, cell_id)
        mine = {c.index for c in self._last_cells if c.source == source}
        errors = [e for e in model.errors if e.cell_index in mine]
        if errors:
            raise FlowDefinitionError(_format_cell_errors(errors))
        built = flow_cell_class(model, user_ns)
        values = self._parameter_values(built)
        shown = ", ".join(f"{k}={_shown_value(v)}" for k, v in values.items())
        summary = f"Flow {built.cls.__name__}" + (f" with parameters {shown}" if shown else "")
        if self.current_run is not None and self.flow_name == built.cls.__name__:
            summary += (f" (run {self.current_run} keeps the values it started with; "
                        "they apply from the next execution of the start step)")
        return summary

    @staticmethod
    def _parameter_values(built: BuiltFlow) -> dict[str, Any]:
        from metaflow._vendor import click

        prog = f"%%flow {built.cls.__name__}"
        try:
            return mf.parameter_values(built.cls, built.param_args, prog)
        except click.UsageError as exc:
            where = built.flow_ref.where(1) if built.flow_ref else "the %%flow cell"
            raise FlowDefinitionError(f"Bad parameter option in {where}: {exc}") from None

    def run_step(
        self,
        name: str,
        source: str | None,
        user_ns: dict[str, Any],
        cell_id: str | None = None,
    ) -> RunRecord:
        """Execute step ``name`` (every task it needs) as part of a notebook run."""
        self.provide_file(user_ns)
        if source is not None:
            self.record_executed(source, cell_id)
        model = self.notebook_model(source, cell_id)
        if model.errors:
            message = _format_cell_errors(model.errors)
            if self._live_cells is None and not _read_notebook(self.notebook_path())[0]:
                message += (
                    "\nThis kernel cannot see the notebook (no JupyterLab extension, no notebook "
                    "file): it knows only the cells it executed. Execute the other step cells "
                    "once (they fail until the flow is complete), then this one again."
                )
            raise FlowDefinitionError(message)
        if name not in {s.name for s in model.steps}:
            raise FlowDefinitionError(f"The notebook has no step cell for {name!r}.")
        built = build_flow(model, user_ns)
        try:
            mf.lint(built.cls)
        except mf.LintWarn as exc:
            raise FlowDefinitionError(_located_message(exc)) from None
        except Exception as exc:  # Metaflow's lint itself breaks on some invalid graphs
            raise FlowDefinitionError(
                f"Metaflow's flow check could not read the graph ({type(exc).__name__}: {exc}). "
                "Check the step cells' self.next calls: every branch of a split must end in "
                "an explicit self.next to its join."
            ) from None
        self._warn_scratch_names(built, name, user_ns)
        runtime = runtime_path.runtime_reasons(built.cls, name)
        if not runtime:
            _warn_runtime_decorators(built, name)
        with mf.metaflow_state() as root:
            backend = self._backend_for(built.cls, root)
            backend.install_globals()
            self.last_step = name
            script = _script_name(self.notebook_path(), built.cls.__name__)
            if any(d.name == "card" for d in built.cls._graph[name].decorators):
                # @card renders in a subprocess running `python <sys.argv[0]> card create`
                script = str(runtime_path.generated_flow_file(
                    self._last_cells, self.notebook_path(), built.cls.__name__, os.getcwd()))
            if name == built.cls._graph.start_step:
                if runtime:
                    return runtime_path.run_step_in_runtime(self, built, name, runtime, None, built.param_args)
                run = self._start_run(backend, built, script)
                specs = [TaskSpec([f"{run.run_id}/_parameters/{run.params_task}"])]
            else:
                run = self._attached_run(backend, built, name)
                try:
                    specs = self._task_specs(built, run, name)
                except _Skipped as exc:
                    self._emit(StepEvent("skipped", step=name, flow=backend.flow_name,
                                         run_id=run.run_id, message=str(exc)))
                    print(exc)
                    return run
                if runtime:
                    return runtime_path.run_step_in_runtime(self, built, name, runtime, run.run_id)
                if name in run.tasks or name in run.failed:
                    run = self._clone_run(backend, built, run, name)
                    specs = self._task_specs(built, run, name)
            self.run = run
            self._execute(backend, built, run, name, specs, script)
            if cards.has_card(built.cls._graph, name):
                cards.display_cards(backend.flow_name, run.run_id, name, os.path.basename(script))
        return run

    def run_split(self, name: str, position: tuple[int, ...], user_ns: dict[str, Any]) -> RunRecord:
        """Run only the split of foreach body ``name`` at ``position`` (0-based, one index per
        enclosing foreach, outermost first), for debugging.

        The task runs in a new run that clones the current run's tasks outside ``name`` and
        its descendants (as a re-execution does); the notebook's current run is unchanged, so
        executing the step's cell later still runs every split there.
        """
        model = self.notebook_model()
        if model.errors:
            raise FlowDefinitionError(_format_cell_errors(model.errors))
        built = build_flow(model, user_ns)
        if name not in built.steps:
            raise FlowDefinitionError(f"The notebook has no step cell for {name!r}.")
        with mf.metaflow_state() as root:
            backend = self._backend_for(built.cls, root)
            backend.install_globals()
            current = self._attached_run(backend, built, name)
            specs = [s for s in self._task_specs(built, current, name) if s.split_index is not None]
            if not specs:
                raise FlowDefinitionError(f"Step {name!r} is not the first step of a foreach body.")
            if position not in (s.split_position for s in specs):
                raise FlowDefinitionError(_no_such_split(name, position, [s.split_position for s in specs]))
            debug = self._clone_run(backend, built, current, name, debug=True)
            spec = next(s for s in self._task_specs(built, debug, name) if s.split_position == position)
            try:
                self._execute(backend, built, debug, name, [spec],
                              _script_name(self.notebook_path(), built.cls.__name__))
            finally:
                self.run = current
        return debug

    # -- pieces of run_step -----------------------------------------------------------------
    def _backend_for(self, cls: type, root: str) -> mf.Backend:
        key = (cls.__name__, root)
        if self._backend_key != key:  # another flow name or datastore: re-attach there
            self.run = None
            self._backend = mf.Backend(cls, root)
            self._backend_key = key
            self.flow_name = cls.__name__
        return self._backend

    def _notebook_tag(self) -> str | None:
        path = self.notebook_path()
        return f"jupyter-metaflow-notebook:{os.path.basename(path)}" if path else None

    def _new_run(self, backend: mf.Backend, built: BuiltFlow, debug: bool = False) -> str:
        try:
            return mf.new_run(backend, built.cls, self._notebook_tag(), debug)
        except Exception as exc:  # a flow decorator's own check (@project's name, ...)
            where = built.flow_ref.where(None) if built.flow_ref else "the %%flow cell"
            raise FlowDefinitionError(
                f"A flow decorator in {where} failed: {type(exc).__name__}: {exc} No run was started."
            ) from None

    def _start_run(self, backend: mf.Backend, built: BuiltFlow, script: str) -> RunRecord:
        values = self._parameter_values(built)
        run_id = self._new_run(backend, built)
        saved_argv0 = sys.argv[0]
        sys.argv[0] = script
        try:
            params_task = mf.persist_parameters(backend, built.cls, run_id, values, built.config_options)
        except Exception as exc:
            raise FlowDefinitionError(
                f"The flow's parameters could not be set: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            sys.argv[0] = saved_argv0
        return RunRecord(run_id, params_task)

    def _attached_run(self, backend: mf.Backend, built: BuiltFlow, step: str) -> RunRecord:
        if self.run is None:
            self.run = self._latest_notebook_run(backend)
        if self.run is None:
            start = built.model.step(built.cls._graph.start_step)
            raise FlowDefinitionError(
                f"Step {step!r} needs a run of the flow first: execute the start step "
                f"(cell {start.cell_index + 1}, %%step {start.name}) first."
            )
        return self.run

    def _latest_notebook_run(self, backend: mf.Backend) -> RunRecord | None:
        """Re-attach after a kernel restart: the notebook's newest run of the flow."""
        run = self.latest_notebook_client_run(backend.flow_name)
        return None if run is None else self._load_run(backend, run)

    def latest_notebook_client_run(self, flow_name: str) -> Any:
        """The newest run (Client ``Run``) this notebook made of ``flow_name``: in the kernel
        (our system tags), or by Metaflow's runtime from the generated ``<notebook>.nbflow.py``
        (``%mf_run``, ``%mf_resume``, runtime-path steps); never a ``%mf_split`` debug run."""
        from metaflow import Flow, Step
        from metaflow.exception import MetaflowNotFound

        wanted = self._notebook_tag()
        path = self.notebook_path()
        generated = os.path.splitext(os.path.basename(path))[0] + runtime_path.GENERATED_SUFFIX if path else None
        try:
            runs = list(Flow(flow_name, _namespace_check=False))
        except MetaflowNotFound:
            return None
        for run in runs:
            tags = run.system_tags
            if mf.DEBUG_SYS_TAG in tags:
                continue
            if mf.NOTEBOOK_SYS_TAG in tags:
                if wanted is None or wanted in tags:
                    return run
                continue
            try:
                params = Step(f"{run.pathspec}/_parameters", _namespace_check=False).task
            except MetaflowNotFound:
                continue
            if generated and params is not None and params.metadata_dict.get("script-name") == generated:
                return run
        return None

    @staticmethod
    def _load_run(backend: mf.Backend, run: Any) -> RunRecord | None:
        params = backend.flow_datastore.get_task_datastores(run_id=run.id, steps=["_parameters"])
        if not params:
            return None
        record = RunRecord(run.id, params[0].task_id)
        for step in run:
            for task in step:
                state = mf.read_task_state(backend, run.id, step.id, task.id)
                if state is None or not state.ok:  # never finished (kernel died) or failed
                    record.failed.add(step.id)
                else:
                    record.tasks.setdefault(step.id, []).append(state)
        for states in record.tasks.values():
            states.sort(key=lambda s: (s.foreach_stack, int(s.task_id) if s.task_id.isdigit() else 0))
        backend.attach(run.id)
        return record

    def _clone_run(self, backend: mf.Backend, built: BuiltFlow, run: RunRecord, step: str,
                   debug: bool = False) -> RunRecord:
        """A new run holding clones of every finished task of ``run`` that does not depend on
        ``step`` (``step`` and its descendants are left to run again)."""
        graph = built.cls._graph
        stale = {step}
        todo = [step]
        while todo:
            for child in graph[todo.pop()].out_funcs:
                if child not in stale:
                    stale.add(child)
                    todo.append(child)
        new_id = self._new_run(backend, built, debug)
        params = mf.clone_task(backend, run.run_id, "_parameters", run.params_task, new_id)
        record = RunRecord(new_id, params)
        for name, states in run.tasks.items():
            if name in stale:
                continue
            for state in states:
                task_id = mf.clone_task(backend, run.run_id, name, state.task_id, new_id)
                clone = mf.TaskState(**{**state.__dict__, "task_id": task_id})
                record.tasks.setdefault(name, []).append(clone)
        return record

    def _task_specs(self, built: BuiltFlow, run: RunRecord, step: str) -> list[TaskSpec]:
        """The tasks ``step`` needs in ``run``, from its parents' finished tasks."""
        graph = built.cls._graph
        node = graph[step]
        parents = list(node.in_funcs)

        def cell_of(name: str) -> str:
            cell = built.steps[name].cell
            return f"cell {cell.cell_index + 1} (%%step {name})"

        def routed(parent: str) -> list[mf.TaskState]:
            return [t for t in run.tasks.get(parent, []) if step in t.next_steps]

        failed = [p for p in parents if p in run.failed]
        if failed:
            raise FlowDefinitionError(
                f"Step {step!r} needs {', '.join(repr(p) for p in failed)}, which failed in the "
                f"current run: fix and execute {', '.join(cell_of(p) for p in failed)} again first."
            )
        missing = [p for p in parents if not run.tasks.get(p)]
        if missing:
            reason = switches.not_taken(graph, run.tasks, step)
            if reason is not None:
                raise _Skipped(f"Step {step!r} is not on this run's path: {reason}; nothing to run.")
        if node.type == "join":
            if missing:
                raise FlowDefinitionError(
                    f"Join step {step!r} needs {', '.join(repr(p) for p in missing)} in the "
                    f"current run: execute {', '.join(cell_of(p) for p in missing)} first."
                )
            self._check_routed(built, run, step, parents, routed)
            split = graph[node.split_parents[-1]]
            groups: dict[tuple, list[mf.TaskState]] = {}
            if split.type == "foreach":
                for parent in parents:
                    for state in routed(parent):
                        groups.setdefault(state.foreach_stack[:-1], []).append(state)
                specs = []
                for key in sorted(groups):
                    members = sorted(groups[key], key=lambda s: s.foreach_stack[-1][1])
                    specs.append(TaskSpec([f"{run.run_id}/{m.step}/{m.task_id}" for m in members]))
                self._check_foreach_complete(built, run, step, split.name, groups)
                return specs
            for parent in parents:
                for state in routed(parent):
                    groups.setdefault(state.foreach_stack, []).append(state)
            return [
                TaskSpec([f"{run.run_id}/{m.step}/{m.task_id}" for m in groups[key]])
                for key in sorted(groups)
            ]
        if len(missing) == len(parents):
            raise FlowDefinitionError(
                f"Step {step!r} needs {' or '.join(repr(p) for p in parents)} to have run in the "
                f"current run: execute {' or '.join(cell_of(p) for p in parents)} first."
            )
        self._check_routed(built, run, step, parents, routed)
        specs = []
        for parent in parents:
            for state in routed(parent):
                path = f"{run.run_id}/{state.step}/{state.task_id}"
                if state.foreach_var is not None:
                    outer = tuple(index for _, index in state.foreach_stack)
                    specs.extend(TaskSpec([path], i, state.num_splits, split_position=outer + (i,))
                                 for i in range(state.num_splits or 0))
                else:
                    specs.append(TaskSpec([path]))
        return specs

    @staticmethod
    def _check_routed(built: BuiltFlow, run: RunRecord, step: str, parents: list[str], routed: Callable) -> None:
        """A parent whose tasks went elsewhere: a switch not taken, or a stale transition."""
        graph = built.cls._graph
        if any(routed(p) for p in parents):
            return
        reason = switches.not_taken(graph, run.tasks, step)
        if reason is not None:
            raise _Skipped(f"Step {step!r} is not on this run's path: {reason}; nothing to run.")
        went = {p: run.tasks[p][0].next_steps for p in parents if run.tasks.get(p)}
        parent = next(iter(went))
        cell = built.steps[parent].cell
        raise FlowDefinitionError(
            f"In the current run step {parent!r} went to {went[parent]}, not {step!r} (its cell "
            f"changed since): execute cell {cell.cell_index + 1} (%%step {parent}) again first."
        )

    @staticmethod
    def _check_foreach_complete(built: BuiltFlow, run: RunRecord, step: str, split: str, groups: dict) -> None:
        split_tasks = run.tasks.get(split, [])
        expected = {s.foreach_stack: s.num_splits for s in split_tasks}
        for key, members in groups.items():
            want = expected.get(key)
            if want is not None and len(members) != want:
                body = members[0].step
                cell = built.steps[body].cell
                raise FlowDefinitionError(
                    f"Join step {step!r} needs all {want} foreach splits of {body!r}, but the "
                    f"current run has {len(members)}: execute cell {cell.cell_index + 1} "
                    f"(%%step {body}) first."
                )

    def _emit(self, event: StepEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the step
                traceback.print_exc()

    def _execute(
        self, backend: mf.Backend, built: BuiltFlow, run: RunRecord, step: str,
        specs: list[TaskSpec], script: str,
    ) -> None:
        cell = built.steps[step].cell
        source = next((c.source for c in self._last_cells if c.index == cell.cell_index), None)
        base = dict(step=step, flow=backend.flow_name, run_id=run.run_id,
                    source=source, cell_id=cell.cell_id)
        # a nested foreach body runs the splits of every outer split at once: its events then
        # number the tasks of this execution (progress over all of them), not the inner splits
        nested = sum(s.split_index is not None for s in specs) > (specs[0].num_splits or 0) if specs else False
        flat = {id(s): i for i, s in enumerate(specs)}

        def splits(spec: TaskSpec) -> dict[str, int | None]:
            if nested:
                return {"split_index": flat[id(spec)], "num_splits": len(flat)}
            return {"split_index": spec.split_index, "num_splits": spec.num_splits}

        for spec in specs:
            self._emit(StepEvent("queued", **splits(spec), **base))
        run.tasks.pop(step, None)
        run.failed.discard(step)
        recursive = switches.is_recursive(built.cls._graph, step)
        initial = len(specs)
        for position, spec in enumerate(specs):  # a recursive switch appends its iterations
            what = [f"split {spec.split_index + 1} of {spec.num_splits}"] if spec.split_index is not None else []
            if nested:
                what.append(f"task {flat[id(spec)] + 1} of {len(flat)}")
            elif not what and initial > 1:
                what.append(f"task {position + 1 - sum(s.iteration > 0 for s in specs[:position])} of {initial}")
            if recursive:
                what.append(f"iteration {spec.iteration + 1}")
            if what:
                print(f"── {step} · {' · '.join(what)} ──", flush=True)
            self._emit(StepEvent("running", **splits(spec), **base))
            outcome = mf.run_task(
                backend, built.cls, run.run_id, step, spec.input_paths,
                None if spec.iteration else spec.split_index, script,
            )
            if outcome.error is None and not outcome.state.next_steps and built.cls._graph[step].type != "end":
                outcome.error = _NoTransition("the step ended without calling self.next(...)")
            event = StepEvent(
                "done" if outcome.error is None else "failed", task_id=outcome.state.task_id, **splits(spec),
                duration=outcome.duration, artifact_count=outcome.artifact_count, **base,
            )
            if outcome.error is not None:
                run.failed.add(step)
                name, text = type(outcome.error).__name__, str(outcome.error)
                event.message = f"{name}: {text}" if text else name  # KeyboardInterrupt has no text
                self._emit(event)
                for rest in specs[position + 1:]:
                    self._emit(StepEvent("skipped", **splits(rest), message="an earlier task failed", **base))
                raise _step_failed(built, step, f"{backend.flow_name}/{run.run_id}", outcome.error) from outcome.error
            run.tasks.setdefault(step, []).append(outcome.state)
            self._emit(event)
            if recursive and outcome.state.next_steps == [step]:
                path = f"{run.run_id}/{step}/{outcome.state.task_id}"
                specs.insert(position + 1, TaskSpec([path], spec.split_index, spec.num_splits, spec.iteration + 1))
                flat[id(specs[position + 1])] = flat[id(spec)]

    def _warn_scratch_names(self, built: BuiltFlow, step: str, user_ns: dict[str, Any]) -> None:
        """The export guard, as a warning: the step reads a global only a scratch cell defines,
        or a flow-cell constant as a bare name (a NameError follows)."""
        from .export import find_undefined_names  # export imports cells only; no cycle

        for problem in find_undefined_names(built.model, self._last_cells):
            if problem.where == f"step {step!r}" and (
                    problem.scratch_cell is not None and problem.name in user_ns
                    or problem.flow_constant and problem.name not in user_ns):
                error = problem.to_error()
                print(f"Warning: {error.message} {error.fix}", file=sys.stderr)


def _step_failed(built: BuiltFlow, step: str, run: str, error: BaseException) -> StepFailed:
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
    if isinstance(error, _NoTransition):  # Metaflow's runtime fails such a task too
        return StepFailed(
            f"Step {step!r} in {where} failed in run {run}: it ended without calling "
            "self.next(...) (a return before it, or a yield in the cell, which makes the step a "
            f"generator that never runs). Every step but end must reach its self.next(...). {kept}",
            "",
        )
    if isinstance(error, KeyboardInterrupt):
        return StepInterrupted(f"Step {step!r} in {where} was interrupted in run {run}. {kept}",
                               _user_traceback(error))
    return StepFailed(f"Step {step!r} in {where} failed in run {run}. {kept}", _user_traceback(error))


def split_label(position: tuple[int, ...]) -> str:
    """``(1, 2)`` -> ``[1][2]``: a foreach split as the cells and ``%mf_show`` label it."""
    return "".join(f"[{index}]" for index in position)


def _no_such_split(step: str, position: tuple[int, ...], positions: list[tuple[int, ...]]) -> str:
    """Why ``position`` names no split of ``step`` (one of ``positions``), and what would."""
    depth = len(positions[0])
    if len(position) != depth:
        if depth == 1:
            return f"Step {step!r} is inside one foreach: give one split index."
        example = " ".join(str(i) for i in positions[-1])
        return (f"Step {step!r} is inside {depth} nested foreach steps: give one index per foreach, "
                f"outermost first (%mf_split {step} {example} runs split {split_label(positions[-1])}).")
    if depth == 1:
        return (f"Step {step!r} has splits 0 to {len(positions) - 1} in the current run; "
                f"{position[0]} is not one of them.")
    shown = [split_label(p) for p in positions]
    if len(shown) > 12:
        shown = shown[:6] + ["..."] + shown[-3:]
    return (f"Step {step!r} has no split {split_label(position)} in the current run; "
            f"its splits: {', '.join(shown)}.")


class _NoTransition(Exception):
    """A step other than end finished without calling ``self.next``."""


class _Skipped(FlowDefinitionError):
    """The step is not on the path a switch took in the current run."""


RUNTIME_ONLY_DECORATORS = frozenset({"retry"})
"""Step decorators that still run in the kernel but act only under Metaflow's runtime
(``@retry(times=0)``; decorators that need the runtime go through :mod:`.runtime_path`)."""


def _warn_runtime_decorators(built: BuiltFlow, step: str) -> None:
    names = [d.name for d in built.cls._graph[step].decorators if d.name in RUNTIME_ONLY_DECORATORS]
    if names:
        shown = ", ".join(f"@{n}" for n in names)
        print(
            f"Note: {shown} on step {step!r} takes effect under Metaflow's runtime "
            "(`python flow.py run`); in the kernel the step runs once, here, without it.",
            file=sys.stderr,
        )


def _shown_value(value: Any) -> str:
    """A parameter value for the ``%%flow`` summary (files are read when a run starts)."""
    return "<file, read when start runs>" if callable(value) else repr(value)


_notebook_files: dict[str, tuple[float, list[tuple]]] = {}
"""Path -> (mtime, cells) of notebook files already read (outputs make them slow to parse)."""


def _read_notebook(path: str | None) -> tuple[list[tuple], float]:
    """``[(id, source, tags, cell_type)]`` of the notebook file and its mtime (or ``[]``, 0)."""
    if not path or not os.path.isfile(path):
        return [], 0.0
    import nbformat

    mtime = os.path.getmtime(path)
    cached = _notebook_files.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1], mtime
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return [], 0.0
    cells = []
    for i, cell in enumerate(nb.cells):
        c = cellrules.CellInput.from_nbformat(i, cell)
        cells.append((c.id, c.source, c.tags, c.cell_type))
    _notebook_files[path] = (mtime, cells)
    return cells, mtime


def _script_name(notebook_path: str | None, flow_name: str) -> str:
    """What ``sys.argv[0]`` says during a task: the flow file the notebook exports to."""
    if notebook_path:
        return os.path.splitext(os.path.basename(notebook_path))[0] + ".py"
    return f"{flow_name}.py"


_session: NotebookSession | None = None


def get_session() -> NotebookSession:
    """This kernel's session."""
    global _session
    if _session is None:
        _session = NotebookSession()
    return _session


def set_notebook_cells(cells: list[cellrules.CellInput], path: str | None) -> None:
    """For the comm handler: the frontend's live notebook cells and path."""
    get_session().set_notebook_cells(cells, path)

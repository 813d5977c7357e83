"""Notebook cells -> a ``FlowSpec`` class, as Metaflow would load it from the exported file.

Every step cell is compiled into a method registered in :mod:`linecache` under
``<mfcell-N-step>`` with the cell's own line numbers (decorators are evaluated separately and
shown there as comments), so Metaflow's ``FlowGraph`` and lint, tracebacks and error messages
name the cell and its line (:class:`CellRef`). The flow cell runs like a class body. Step and
flow-cell code sees the notebook's globals over Metaflow's public names.
"""

from __future__ import annotations

import ast
import linecache
import re
import traceback
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import _metaflow as mf
from . import cells as cellrules
from .assembly import FlowModel
from .errors import FlowDefinitionError
from .pysource import indent_lines, metaflow_namespace

if TYPE_CHECKING:
    from metaflow import FlowSpec

__all__ = [
    "BuiltFlow",
    "CellRef",
    "CompiledStep",
    "build_flow",
    "compile_step",
    "flow_cell_class",
    "format_cell_errors",
    "located_message",
    "user_traceback",
]

CELL_FILE_PREFIX = "<mfcell-"


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


def register_source(filename: str, text: str, ref: CellRef) -> None:
    """Make ``filename`` a pseudo-file of ``ref``'s cell (tracebacks, error messages)."""
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    _cell_files[filename] = ref


def _compile_at(expr: str, filename: str, line: int, mode: str = "eval") -> types.CodeType:
    tree = cast("ast.Module | ast.Expression", ast.parse(expr, filename, mode))
    ast.increment_lineno(tree, line - 1)
    return compile(tree, filename, mode)


@dataclass
class CompiledStep:
    """A step cell compiled as its method, in its pseudo-file ``<mfcell-N-step>``."""

    name: str
    cell: cellrules.StepCell
    filename: str
    ref: CellRef
    code: types.CodeType
    decorators: list[types.CodeType]
    self_assigned: list[tuple[str, int]]
    """``(X, cell line)`` of each ``self.X = ...`` in the body."""


def compile_step(model: FlowModel, step: cellrules.StepCell) -> CompiledStep:
    """The step cell as the method ``def NAME(self[, inputs])`` with the cell's line numbers.

    The pseudo-file holds ``def`` on the line just above the body (the magic line, or the
    last decorator line: decorators are evaluated separately and shown there as comments),
    the body indented as inside a class, and the implied ``self.next(...)`` after the body.
    """
    filename = f"{CELL_FILE_PREFIX}{step.cell_index + 1}-{step.name}>"
    offset = 1 if step.body_line == 1 else 0  # tag-based cell without a magic line
    args = "self, inputs" if model.is_join(step.name) else "self"
    transition = model.next_of(step.name)
    implied = (
        transition.to_source() if transition is not None and model.is_implied(step.name) else None
    )
    ref = CellRef(step.cell_index, step.cell_id, f"%%step {step.name}", offset)
    key = (
        filename,
        step.body,
        step.body_line,
        tuple(step.decorators),
        tuple(step.decorator_lines),
        args,
        implied,
    )
    cached = _compiled_steps.get(key)
    if cached is None:
        lines = [""] * (step.body_line - 1 + offset)
        for deco, line in zip(step.decorators, step.decorator_lines):
            for k, text in enumerate(deco.splitlines()):
                lines[line - 1 + offset + k] = "    # " + text
        lines[step.body_line - 2 + offset] = f"    def {step.name}({args}):"
        body = indent_lines(step.body, " " * 8)
        if implied is not None:
            body.append("        " + implied)
        if not any(line.strip() and not line.strip().startswith("#") for line in body):
            body.append("        pass")
        text = "\n".join(lines + body) + "\n"
        register_source(filename, text, ref)
        cached = (text, *_compile_step_text(step, filename, text, ref))
        if len(_compiled_steps) >= 512:
            _compiled_steps.clear()
        _compiled_steps[key] = cached
    text, code, decorators, self_assigned = cached
    register_source(filename, text, ref)
    return CompiledStep(step.name, step, filename, ref, code, decorators, self_assigned)


_compiled_steps: dict[tuple, tuple] = {}
"""Compiled step cells by pseudo-file name and text (cells rarely change between steps)."""


def _compile_step_text(
    step: cellrules.StepCell, filename: str, text: str, ref: CellRef
) -> tuple[types.CodeType, list[types.CodeType], list[tuple[str, int]]]:
    """``(code, decorator codes, self.X assignments)`` of a step's file."""
    offset = ref.line_offset
    try:
        tree = ast.parse("if 1:\n" + text, filename)
    except SyntaxError as exc:
        line = (exc.lineno or 2) - 1
        raise FlowDefinitionError(
            f"Syntax error in {ref.where(line)}: {exc.msg}.\nFix the code on that line of the cell."
        ) from None
    wrapper = tree.body[0]
    assert isinstance(wrapper, ast.If)  # the "if 1:" above
    func = wrapper.body[0]
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
    return code, decorators, _self_assignments(step)


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
                if (
                    isinstance(leaf, ast.Attribute)
                    and isinstance(leaf.value, ast.Name)
                    and leaf.value.id == "self"
                ):
                    found.append((leaf.attr, step.body_line + leaf.lineno - 1))
    return found


@dataclass
class BuiltFlow:
    """The flow class built from the notebook, with what error reporting needs."""

    model: FlowModel
    cls: type[FlowSpec]
    steps: dict[str, CompiledStep]
    flow_ref: CellRef | None
    param_args: list[str]
    config_options: dict[str, Any] = field(default_factory=dict)
    """The ``Config`` values (defaults, or ``--config``/``--config-value`` on the magic line)."""
    max_workers: int | None = None
    """``--max-workers N`` on the ``%%flow`` line."""
    storage_options: dict[str, str] = field(default_factory=dict)
    """Where runs live, from the magic line (``datastore``, ``datastore_root``, ``metadata``);
    the Metaflow configuration decides what is not given. Not part of ``param_args``."""

    @property
    def graph(self) -> Any:
        """Metaflow's ``FlowGraph`` of the class: nodes by step name, ``start_step``."""
        return mf.flow_graph(self.cls)


def build_flow(model: FlowModel, user_ns: dict[str, Any]) -> BuiltFlow:
    """Compile every step cell and the flow cell into a ``FlowSpec`` subclass.

    Step and flow-cell code sees the notebook's globals (module-cell imports and helpers)
    over Metaflow's names; what it assigns stays local to it.
    """
    from metaflow import FlowSpec
    from metaflow import step as step_decorator

    if model.errors:
        raise FlowDefinitionError(format_cell_errors(model.errors))
    namespace = {**metaflow_namespace(), **user_ns}
    attrs: dict[str, Any] = {"__module__": "__main__", "__doc__": model.flow_doc}
    flow_decorators: list[Any] = []
    flow_ref: CellRef | None = None
    param_args: list[str] = []
    run_options: dict[str, int] = {}
    if model.flow_cell is not None:
        class_body, flow_decorators, flow_ref = _exec_flow_cell(model.flow_cell, namespace)
        attrs.update(class_body)
        run_options, param_args = cellrules.split_run_options(model.flow_cell.param_args)
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
                + user_traceback(exc)
            ) from None
        attrs[cell.name] = func
        steps[cell.name] = compiled
    _check_artifact_names(steps, attrs)
    try:
        cls = mf.decorated_flow_class(type(model.name, (FlowSpec,), attrs), flow_decorators)
    except Exception as exc:
        raise FlowDefinitionError(located_message(exc)) from None
    built = BuiltFlow(model, cls, steps, flow_ref, param_args)
    built.max_workers = run_options.get("max_workers")
    return _prepared(built)


def _exec_flow_cell(
    fc: cellrules.FlowCell, namespace: dict[str, Any]
) -> tuple[dict[str, Any], list[Any], CellRef]:
    """Run the flow cell's body like a class body: ``(class attributes, flow decorators, ref)``."""
    filename = f"{CELL_FILE_PREFIX}{fc.cell_index + 1}-flow>"
    ref = CellRef(fc.cell_index, fc.cell_id, "%%flow")
    text = "\n" * (fc.body_line - 1) + fc.body
    register_source(filename, text, ref)
    class_body: dict[str, Any] = {}
    decorators = []
    try:
        for deco, line in zip(fc.decorators, fc.decorator_lines):
            decorators.append(
                eval(_compile_at(deco.lstrip()[1:].strip(), filename, line), namespace)
            )
        exec(compile(text, filename, "exec"), namespace, class_body)
    except Exception as exc:
        raise FlowDefinitionError(
            f"The flow cell ({ref.where(None)}) raised {type(exc).__name__}: {exc}\n"
            + user_traceback(exc)
        ) from None
    return class_body, decorators, ref


def flow_cell_class(model: FlowModel, user_ns: dict[str, Any]) -> BuiltFlow:
    """A step-less ``FlowSpec`` subclass holding only the flow cell's declarations."""
    from metaflow import FlowSpec

    attrs: dict[str, Any] = {"__module__": "__main__"}
    decorators: list[Any] = []
    ref: CellRef | None = None
    param_args: list[str] = []
    if model.flow_cell is not None:
        body, decorators, ref = _exec_flow_cell(
            model.flow_cell, {**metaflow_namespace(), **user_ns}
        )
        attrs.update(body)
        param_args = cellrules.split_run_options(model.flow_cell.param_args)[1]
    try:
        cls = mf.decorated_flow_class(type(model.name, (FlowSpec,), attrs), decorators)
    except Exception as exc:
        raise FlowDefinitionError(
            f"The flow cell is not valid: {type(exc).__name__}: {exc}"
        ) from None
    return _prepared(BuiltFlow(model, cls, {}, ref, param_args))


def _prepared(built: BuiltFlow) -> BuiltFlow:
    """Resolve the flow's storage options, Parameters and ``Config`` values (from the
    ``%%flow`` line) once."""
    built.storage_options, built.param_args = cellrules.split_storage_args(built.param_args)
    if mf.config_parameter_names(built.cls):
        try:
            built.config_options = mf.config_options(
                built.cls, built.param_args, f"%%flow {built.cls.__name__}"
            )
        except mf.UsageError as exc:
            where = built.flow_ref.where(1) if built.flow_ref else "the %%flow cell"
            raise FlowDefinitionError(f"Bad Config option in {where}: {exc}") from None
    try:
        built.cls = mf.prepare_flow_class(built.cls, built.config_options)
    except Exception as exc:
        raise FlowDefinitionError(located_message(exc)) from None
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


def format_cell_errors(errors: Iterable[cellrules.CellError]) -> str:
    return "The notebook's flow has problems:\n" + "\n".join(f"  - {e}" for e in errors)


def located_message(exc: BaseException) -> str:
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


def user_traceback(exc: BaseException) -> str:
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

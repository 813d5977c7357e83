"""Notebook -> ``flow.py``: the one exporter (CLI, nbconvert exporter and the kernel use it).

The notebook contract is :mod:`jupyter_metaflow.cells`; this module only writes the text:

* a header comment, the module cells' ``from __future__`` imports and ``from metaflow import
  ...`` for the Metaflow names the flow and step cells use without importing them;
* the module cells (imports, helpers, constants), magic lines dropped;
* ``class NAME(FlowSpec):`` with the notebook's first markdown cell as its docstring, the
  ``%%flow`` cell's decorators above it and its body first; the ``%%flow`` line's parameter
  values (what notebook runs use) in a ``# notebook parameters: --name value`` comment above;
* every step in notebook order: its decorators, ``@step``, ``def NAME(self)`` (``(self,
  inputs)`` for joins), the markdown cell right above it as docstring, its body and an
  explicit ``self.next(...)`` (implied transitions written out);
* ``if __name__ == "__main__": NAME()``.

Before any text is returned, the export guard
(:func:`jupyter_metaflow.nameguard.find_undefined_names`) rejects steps that use names the
exported module would not define, and Metaflow's own ``FlowGraph`` and lint check the flow's
graph (:func:`validate_graph`). Every problem is an
:class:`ExportError` whose message names the cell, the line and the fix.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import keyword
import linecache
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from .assembly import FlowModel, assemble
from .cells import CellError, CellInput, StepCell, Transition, source_lines
from .errors import ExportError
from .nameguard import compile_error, defined_names, find_undefined_names, global_refs, strip_magics
from .notebook_io import read_notebook
from .pysource import indent_code, metaflow_names, string_continuation_lines

__all__ = [
    "ExportError",
    "OutputExistsError",
    "check_flow_file",
    "default_output_path",
    "export_cells",
    "export_notebook",
    "render_flow",
    "validate_graph",
    "write_atomic",
]

CELL_MARKER = "# cell: "
PARAMS_MARKER = "# notebook parameters: "
HEADER = "# Exported from {source} by jupyter-metaflow; edit the notebook and export again."


class OutputExistsError(ExportError):
    """The output file holds other content and overwriting was not asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass --force to overwrite it.")
        self.path = path


def default_output_path(notebook_path: str | os.PathLike[str]) -> Path:
    """``dir/train_model.ipynb`` -> ``dir/train_model.py``."""
    return Path(notebook_path).with_suffix(".py")


# --------------------------------------------------------------------------- rendering


def _docstring(text: str, indent: str) -> str:
    """A markdown cell's text as a docstring (its CRLF or CR line ends as the file's ``\\n``)."""
    text = "\n".join(source_lines(text.strip())).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    lines = text.split("\n")
    if len(lines) == 1:
        return f'{indent}"""{text}"""'
    body = "\n".join(indent + line if line.strip() else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""'


def _trim_blank(code: str) -> str:
    lines = [line.rstrip() for line in source_lines(code)]
    inside = string_continuation_lines(code)
    lines = [
        raw if i in inside else line
        for i, (line, raw) in enumerate(zip(lines, source_lines(code)), 1)
    ]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _marker(cell_id: str | None, cell_index: int) -> str:
    return CELL_MARKER + (cell_id if cell_id else f"#{cell_index + 1}")


def _step_code(model: FlowModel, step: StepCell) -> str:
    """The step's method body (dedented): its code plus the written-out transition."""
    body = _trim_blank(step.body)
    transition = model.next_of(step.name)
    if model.is_implied(step.name) and transition is not None:
        body = (body + "\n" if body else "") + transition.to_source()
    return body or "pass"


def _metaflow_imports(model: FlowModel, module_defs: set[str]) -> list[str]:
    needed = {"FlowSpec", "step"}
    sources = []
    if model.flow_cell is not None:
        sources.append(model.flow_cell.body)
        sources.extend(d[1:] for d in model.flow_cell.decorators)
    for step in model.steps:
        sources.append(step.body)
        sources.extend(d[1:] for d in step.decorators)
    mf = metaflow_names()
    for src in sources:
        try:
            tree = ast.parse(src.strip() or "pass")
        except SyntaxError:
            continue
        needed.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in mf)
    for cell in model.module_cells:  # e.g. a helper that reads `current`
        needed.update(n for n in global_refs(strip_magics(cell.source)) or () if n in mf)
    return sorted(needed - module_defs)


def _split_future_imports(code: str) -> tuple[list[str], str]:
    """A module cell's ``from __future__ import`` statements (which Python wants at the top of
    the file, where the export puts them) and the cell's code without them."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [], code
    hoisted = {
        number
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for number in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    if not hoisted:
        return [], code
    lines = source_lines(code)
    future = [line for number, line in enumerate(lines, 1) if number in hoisted]
    return future, _trim_blank(
        "\n".join(line for number, line in enumerate(lines, 1) if number not in hoisted)
    )


def render_flow(model: FlowModel, *, cell_ids: bool = False, source_name: str | None = None) -> str:
    """The flow file's text for a model without errors. Deterministic: the same notebook
    always gives the same bytes."""
    out: list[str] = [HEADER.format(source=source_name or "a notebook")]
    module_defs: set[str] = set()
    module_blocks = []
    for cell in model.module_cells:
        code = _trim_blank(strip_magics(cell.source))
        module_defs |= defined_names(code) or set()
        future, code = _split_future_imports(code)
        out.extend(future)
        if code:
            module_blocks.append((_marker(cell.id, cell.index) + "\n" if cell_ids else "") + code)
    imports = _metaflow_imports(model, module_defs)
    if imports:
        out.append("from metaflow import {}".format(", ".join(imports)))
    for block in module_blocks:
        out.append("\n\n" + block)
    out.append("\n")
    if model.flow_cell is not None:
        if cell_ids:
            out.append(_marker(model.flow_cell.cell_id, model.flow_cell.cell_index))
        if model.flow_cell.param_args:
            out.append(PARAMS_MARKER + shlex.join(model.flow_cell.param_args))
        out.extend(model.flow_cell.decorators)
    out.append(f"class {model.name}(FlowSpec):")
    members: list[str] = []
    if model.flow_doc:
        members.append(_docstring(model.flow_doc, "    "))
    if model.flow_cell is not None:
        flow_body = _trim_blank(model.flow_cell.body)
        if flow_body:
            members.append(indent_code(flow_body, "    "))
    for step in model.steps:
        lines = []
        if cell_ids:
            lines.append("    " + _marker(step.cell_id, step.cell_index))
        lines.extend(indent_code(d, "    ") for d in step.decorators if d.strip() != "@step")
        lines.append("    @step")  # the one @step (a cell may repeat it out of habit)
        args = "self, inputs" if model.is_join(step.name) else "self"
        lines.append(f"    def {step.name}({args}):")
        doc = model.markdown_above.get(step.name)
        if doc:
            lines.append(_docstring(doc, "        "))
        lines.append(indent_code(_step_code(model, step), "        "))
        members.append("\n".join(lines))
    out.append("\n\n".join(members))
    out.append("\n")
    out.append('if __name__ == "__main__":')
    out.append(f"    {model.name}()")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- validation


def validate_graph(model: FlowModel) -> list[CellError]:
    """Run Metaflow's ``FlowGraph`` and lint on the flow's graph, errors mapped to cells.

    No code of the notebook runs, not even a decorator: the class Metaflow checks is written
    from parsed facts only (the flow's name, each step's name, whether it joins, whether it
    is ``@parallel``, and its transition as a ``self.next(...)`` call built from the parsed
    targets and literal arguments), so its text holds no notebook code. It is loaded from a
    temporary file the way Metaflow loads a flow file. The step bodies are only compiled
    (never run) for errors only the compiler finds (``await`` outside ``async``, ...)."""
    from . import _metaflow as mf

    for step in model.steps:
        error = _body_compile_error(model, step)
        if error is not None:
            return [error]
    lines = [
        "from metaflow import FlowSpec, step, parallel",
        f"class {_identifier(model.name)}(FlowSpec):",
    ]
    where: dict[int, tuple[StepCell, int | None]] = {}
    for step in model.steps:
        first = len(lines) + 1
        if any(_decorator_name(d) == "parallel" for d in step.decorators):
            lines.append("    @parallel")
        lines.append("    @step")
        args = "self, inputs" if model.is_join(step.name) else "self"
        lines.append(f"    def {_identifier(step.name)}({args}):")
        transition = model.next_of(step.name)
        lines.append(
            "        " + (ast.unparse(_transition_call(transition)) if transition else "pass")
        )
        for number in range(first, len(lines)):
            where[number] = (step, None)
        where[len(lines)] = (step, transition.line if transition else None)
    source = "\n".join(lines) + "\n"
    fd, path = tempfile.mkstemp(prefix=f"jmf_graph_{model.name}_", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        spec = importlib.util.spec_from_file_location("_jmf_graph_check", path)
        assert spec is not None and spec.loader is not None  # a .py file path always has both
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)  # the generated text above: no notebook code
            mf.lint(getattr(module, model.name))
        except mf.LintWarn as warn:
            located = where.get(getattr(warn, "line_no", None) or -1)
            message = str(warn.message if hasattr(warn, "message") else warn).strip()
            fix = "Fix the flow's transitions as the message says."
            if located is None:
                return [CellError(None, None, None, message, fix, "lint")]
            step, line = located
            return [CellError(step.cell_index, step.cell_id, line, message, fix, "lint")]
    finally:
        os.unlink(path)
        linecache.checkcache(path)
    return []


def _identifier(name: str) -> str:
    """``name`` when it is a Python identifier (so it can be written into generated code)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"not an identifier: {name!r}")
    return name


def _decorator_name(decorator: str) -> str | None:
    """The last dotted name of a decorator line (``@metaflow.parallel(...)`` -> ``parallel``),
    read by parsing only; None when it is not a name or a call of one."""
    try:
        node = ast.parse(decorator.strip()[1:].strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _transition_call(transition: Transition) -> ast.Expr:
    """``self.next(...)`` for a parsed transition, built as a syntax tree from its step names
    and literal arguments (so the text ``ast.unparse`` writes holds nothing else)."""

    def target(name: str) -> ast.Attribute:
        return ast.Attribute(ast.Name("self", ast.Load()), _identifier(name), ast.Load())

    keywords: list[ast.keyword] = []
    if transition.kind == "switch":
        cases = transition.cases or {}
        args: list[ast.expr] = [
            ast.Dict([_case_key(k) for k in cases], [target(t) for t in cases.values()])
        ]
        keywords.append(ast.keyword("condition", ast.Constant(str(transition.condition))))
    else:
        args = [target(t) for t in transition.targets]
        if transition.kind == "foreach":
            keywords.append(ast.keyword("foreach", ast.Constant(str(transition.foreach))))
        elif transition.kind == "num_parallel":
            count = transition.num_parallel
            keywords.append(
                ast.keyword("num_parallel", ast.Constant(count if isinstance(count, int) else None))
            )
    call = ast.Call(ast.Attribute(ast.Name("self", ast.Load()), "next", ast.Load()), args, keywords)
    return ast.fix_missing_locations(ast.Expr(call))


def _case_key(key: Any) -> ast.expr:
    """A switch case's key as Metaflow's graph parses it: ``config:NAME.KEY`` is
    ``self.NAME.KEY``, any other key a constant."""
    if isinstance(key, str) and key.startswith("config:") and key.count(".") == 1:
        config, attr = key[len("config:") :].split(".")
        if config.isidentifier() and attr.isidentifier():
            self_config = ast.Attribute(ast.Name("self", ast.Load()), config, ast.Load())
            return ast.Attribute(self_config, attr, ast.Load())
    if not isinstance(key, (str, int, float, bool, type(None))):
        key = repr(key)
    return ast.Constant(key)


def _body_compile_error(model: FlowModel, step: StepCell) -> CellError | None:
    """The first error the compiler (not the parser) finds in a step body, read as the
    method it becomes; compiling runs nothing."""
    if step.body_ast is None:
        return None
    args = [ast.arg("self")] + ([ast.arg("inputs")] if model.is_join(step.name) else [])
    fields: dict[str, Any] = {"type_params": []} if sys.version_info >= (3, 12) else {}
    func = ast.FunctionDef(
        name="_step",
        args=ast.arguments([], args, None, [], [], None, []),
        body=step.body_ast.body or [ast.Pass()],
        decorator_list=[],
        returns=None,
        **fields,
    )
    module = ast.fix_missing_locations(ast.Module([func], []))
    try:
        compile(module, "<step>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = None if exc.lineno is None else step.body_line + exc.lineno - 1
        return CellError(
            step.cell_index,
            step.cell_id,
            line,
            f"Syntax error: {exc.msg}.",
            "Correct the code on that line of the cell.",
            "syntax-error",
        )
    return None


# --------------------------------------------------------------------------- export


_CELL_MAGIC_RE = re.compile(r"^\s*%%(flow|step)(\s|$)")


def _misplaced_magics(scratch_cells: list[CellInput]) -> list[CellError]:
    """``%%flow``/``%%step`` lines below a cell's first line (a comment above the magic):
    IPython runs a cell magic only from the first line, so such a cell is a scratch cell
    that fails when run, and the flow would silently miss it."""
    errors = []
    for cell in scratch_cells:
        lines = source_lines(cell.source)
        for number, line in enumerate(lines, 1):
            if _CELL_MAGIC_RE.match(line):
                magic = line.strip()
                first = not any(text.strip() for text in lines[: number - 1])  # only indented
                errors.append(
                    CellError(
                        cell.index,
                        cell.id,
                        number,
                        "{} {}, so the cell is not a {} cell (IPython runs a cell magic only when "
                        "it "
                        "starts the cell's first line).".format(
                            magic,
                            "is indented" if first else "is not the first line of the cell",
                            magic[2:6],
                        ),
                        (
                            "Remove the spaces before %s."
                            if first
                            else "Move the %s line to the top of the cell (comments go below it)."
                        )
                        % magic.split()[0],
                        "misplaced-magic",
                    )
                )
                break
    return errors


def _format_errors(headline: str, errors: list[CellError]) -> str:
    return "\n".join([headline] + ["  - " + str(e) for e in errors])


def export_cells(
    cells: list[CellInput],
    notebook_path: str | os.PathLike[str] | None = None,
    *,
    cell_ids: bool = False,
) -> str:
    """Export the cells to flow-file text. Raises ExportError (naming cells, lines and
    fixes) for cell-rule errors, undefined names or Metaflow lint errors."""
    name = os.fspath(notebook_path) if notebook_path is not None else None
    model = assemble(cells, name)
    errors = _misplaced_magics(model.scratch_cells) + model.errors
    if errors:
        raise ExportError(
            _format_errors("The notebook does not describe a valid flow:", errors), errors
        )
    for cell in model.module_cells:
        exc = compile_error(strip_magics(cell.source))
        if exc is not None:
            fix = "Correct the code on that line of the cell" + (
                ", or remove the 'module' tag so the cell stays scratch."
                if "module" in cell.tags
                else "."
            )
            err = CellError(
                cell.index,
                cell.id,
                exc.lineno,
                f"Syntax error in a module cell: {exc.msg}.",
                fix,
                "syntax-error",
            )
            raise ExportError(_format_errors("Cannot export:", [err]), [err])
    fc = model.flow_cell
    exc = None if fc is None else compile_error(fc.body, "class _Flow:")
    if fc is not None and exc is not None:
        line = None if exc.lineno is None else fc.body_line + exc.lineno - 1
        err = CellError(
            fc.cell_index,
            fc.cell_id,
            line,
            f"Syntax error in the flow cell: {exc.msg}.",
            "Correct the code on that line of the cell.",
            "syntax-error",
        )
        raise ExportError(_format_errors("Cannot export:", [err]), [err])
    search_dir = os.path.dirname(os.path.abspath(name)) if name else None
    problems = [p.to_error() for p in find_undefined_names(model, cells, search_dir)]
    if problems:
        raise ExportError(
            _format_errors(
                "Export stopped: the flow would use names the exported file does not define:",
                problems,
            ),
            problems,
        )
    lint = validate_graph(model)
    if lint:
        raise ExportError(_format_errors("Metaflow's checks reject the flow:", lint), lint)
    return render_flow(model, cell_ids=cell_ids, source_name=Path(name).name if name else None)


def export_notebook(path: str | os.PathLike[str], *, cell_ids: bool = False) -> str:
    """Read and export a notebook file; raises ExportError."""
    return export_cells(read_notebook(path), path, cell_ids=cell_ids)


def write_atomic(path: str | os.PathLike[str], text: str, *, force: bool = False) -> bool:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``. An existing
    file with other content is only replaced with ``force`` (else OutputExistsError); a symbolic
    link's target is written, the link stays; a link to nothing is refused (the export would
    create the file it names, anywhere). Returns False when the file already held
    exactly this text (nothing written)."""
    path = Path(path)
    if path.is_symlink():
        if not path.exists():  # writing would create whatever file the link names
            raise ExportError(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist. Remove "
                "the link or "
                "choose another output file."
            )
        path = path.resolve()
    if path.exists():
        try:
            if path.read_text(encoding="utf-8") == text:
                return False
        except (OSError, UnicodeDecodeError):
            pass
        if not force:
            raise OutputExistsError(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ExportError(
            f"Cannot write {path}: {exc.strerror or exc}. Create the folder {directory} or choose "
            "another output "
            "file."
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ExportError(
                f"Cannot write {path}: {exc.strerror or exc}. Choose another output file."
            ) from None
        raise
    return True


def check_flow_file(flow_path: str | os.PathLike[str], text: str) -> str:
    """Unified diff from the file on disk to ``text``; empty when the file is current."""
    flow_path = Path(flow_path)
    try:
        current = flow_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"Cannot read {flow_path}: {exc}.") from None
    if current == text:
        return ""
    return "".join(
        difflib.unified_diff(
            current.splitlines(True),
            text.splitlines(True),
            fromfile=str(flow_path),
            tofile=f"{flow_path} (exported now)",
        )
    )

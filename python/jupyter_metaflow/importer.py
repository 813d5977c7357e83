"""``flow.py`` -> notebook: an existing FlowSpec file as cells that follow the notebook contract.

Module code becomes module cells (tagged ``module`` where the cell rules would otherwise call
it scratch), the class body a ``%%flow NAME`` cell (class decorators first; parameter values
from a ``# notebook parameters:`` comment the export wrote go back on its line), each step a
``%%step NAME`` cell with its decorators, docstrings markdown cells (the class docstring
first, each step's right above its cell). The ``__main__`` block is dropped (the export
writes it), unless it does more than ``NAME()``: then it is kept as a raw cell at the end.
Comments are kept: those above a step or between its decorators open its body (a cell's
decorators come right under its magic line), those above or below the class go to module
cells. The result is checked: exporting it again must give the same graph as the file
(Metaflow's ``FlowGraph`` on both), so ``export(import(f))`` keeps graph, decorators and
step code.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from .assembly import assemble
from .cells import CellInput, CellKind, classify, source_lines
from .export import CELL_MARKER, HEADER, PARAMS_MARKER, ExportError, validate_graph
from .pysource import string_continuation_lines

__all__ = ["FlowImportError", "import_flow", "import_flow_file"]

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FlowImportError(ExportError):
    """The file cannot become a notebook; the message says why and what to do."""


@dataclass
class _Cell:
    cell_type: str
    source: str
    tags: tuple[str, ...] = ()
    cell_id: str | None = None
    line: int | None = None  # the file line of its class or def, for error messages


def _last_line(node: ast.AST) -> int:
    """A parsed node's last line (``ast.parse`` always sets it; its type says it may not)."""
    end = getattr(node, "end_lineno", None)
    assert end is not None
    return int(end)


def _is_flowspec_base(base: ast.expr, flow_classes: set[str]) -> bool:
    if isinstance(base, ast.Name):
        return base.id == "FlowSpec" or base.id in flow_classes
    return isinstance(base, ast.Attribute) and base.attr == "FlowSpec"


def _is_step_decorator(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "step") or (
        isinstance(node, ast.Attribute) and node.attr == "step"
    )


def _is_main_guard(node: ast.stmt) -> TypeGuard[ast.If]:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _comments(lines: list[str], first: int, last: int) -> list[str]:
    """The comment lines among lines ``first``..``last`` (1-based, inclusive)."""
    return [line for line in lines[max(first, 1) - 1 : last] if line.strip().startswith("#")]


def _decorator_comments(
    lines: list[str], node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
) -> list[str]:
    """The comments between a class's or function's decorators (stripped): a cell's
    decorators come right under its magic line, so they go to the top of its body."""
    decorator_lines = {k for d in node.decorator_list for k in range(d.lineno, _last_line(d) + 1)}
    return [
        line.strip()
        for k, line in enumerate(lines[_start_line(node) - 1 : node.lineno - 1], _start_line(node))
        if k not in decorator_lines and line.strip().startswith("#")
    ]


def _class_tail(lines: list[str], flow: ast.ClassDef) -> int:
    """The class's last line: its last statement's, or that of the comments indented into the
    class after it."""
    tail = k = _last_line(flow)
    while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > flow.col_offset):
        k += 1
        if lines[k - 1].strip():
            tail = k
    return tail


def _only_runs(guard: ast.If, flow_name: str) -> bool:
    """Is the ``__main__`` block just ``FLOW()`` (which the export writes itself)?"""
    if guard.orelse or len(guard.body) != 1 or not isinstance(guard.body[0], ast.Expr):
        return False
    call = guard.body[0].value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == flow_name
        and not call.args
        and not call.keywords
    )


def _dedent_block(lines: list[str]) -> str:
    """Dedent source lines by the first code line's indentation; lines inside multi-line
    strings keep their text (tokenize tells which)."""
    text = "\n".join(lines)
    inside = string_continuation_lines(text)
    indent = None
    for number, line in enumerate(lines, 1):
        if line.strip() and number not in inside:
            indent = len(line) - len(line.lstrip())
            break
    if not indent:
        return text
    out = []
    for number, line in enumerate(lines, 1):
        if number in inside:
            out.append(line)
        elif line[:indent].strip() == "":
            out.append(line[indent:])
        else:
            out.append(line.lstrip())
    return "\n".join(out)


def _strip_blank(text: str) -> str:
    lines = source_lines(text)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _marker_id(lines: list[str]) -> tuple[str | None, list[str]]:
    """A ``# cell: ID`` marker (written by ``export --cell-ids``) among the lines, removed."""
    found = None
    kept = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(CELL_MARKER) and found is None:
            candidate = stripped[len(CELL_MARKER) :].strip()
            if _ID_RE.match(candidate):
                found = candidate
                continue
            if candidate.startswith("#"):
                continue
        kept.append(line)
    return found, kept


def _own_header_lines(lines: list[str], tree: ast.Module) -> set[int]:
    """The lines our own export wrote (its header comment and the Metaflow import it
    generates, after any ``from __future__`` imports): the export writes them again."""
    if not lines or not lines[0].startswith(HEADER.split("{source}")[0]):
        return set()
    after = 2
    for node in tree.body:
        if not (
            isinstance(node, ast.ImportFrom)
            and node.module == "__future__"
            and node.lineno == after
        ):
            break
        after = _last_line(node) + 1
    if len(lines) >= after and lines[after - 1].startswith("from metaflow import "):
        return {1, after}
    return {1}


def _longest_blank_run(lines: list[str]) -> int:
    best = run = 0
    for line in lines:
        run = run + 1 if not line.strip() else 0
        best = max(best, run)
    return best


def _start_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None) or []
    return min([node.lineno] + [d.lineno for d in decorators])


def _body_lines(
    lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef, has_doc: bool
) -> list[str]:
    """The source lines of a method's body without its docstring: from the line after the
    docstring, else from the comments above the first statement, decorators of a nested
    ``def`` included; a statement on the ``def`` line itself (``def end(self): pass``) is cut
    where it starts."""
    stmts = node.body[1:] if has_doc else node.body
    if not stmts:
        return []
    first = stmts[0]
    first_line = _start_line(first)
    text = lines[first_line - 1].encode("utf-8")
    if not getattr(first, "decorator_list", None) and text[: first.col_offset].strip():
        return [text[first.col_offset :].decode("utf-8"), *lines[first_line : _last_line(node)]]
    if has_doc:
        top = _last_line(node.body[0]) + 1
    else:  # comments between the def line and the first statement belong to the body
        top = first_line
        while top - 1 > node.lineno and lines[top - 2].strip().startswith("#"):
            top -= 1
    return lines[top - 1 : _last_line(node)]


def _keep_off_decorators(body: str) -> str:
    """A body that starts with ``@`` (a decorated ``def``) under a blank line: decorator lines
    right under the magic line are the step's (or the flow's) own."""
    return "\n" + body if body.startswith("@") else body


def import_flow(source: str, filename: str = "flow.py") -> dict[str, Any]:
    """The notebook (nbformat 4 JSON dict) for a flow file's text. Raises FlowImportError."""
    import nbformat

    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise FlowImportError(
            f"{filename} line {exc.lineno}: syntax error ({exc.msg}); fix the file first."
        ) from None
    lines = source_lines(source)

    flow_classes: set[str] = set()
    flows: list[ast.ClassDef] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            _is_flowspec_base(b, flow_classes) for b in node.bases
        ):
            flow_classes.add(node.name)
            flows.append(node)
    if not flows:
        raise FlowImportError(
            f"{filename} defines no FlowSpec class: pass a Metaflow flow file (class "
            "NAME(FlowSpec): ...)."
        )
    for flow in flows[::-1]:  # a subclass of another flow class of the file says so first
        if (
            any(isinstance(b, ast.Name) and b.id != "FlowSpec" for b in flow.bases)
            or len(flow.bases) != 1
        ):
            raise FlowImportError(
                f"{filename}: {flow.name} must derive from FlowSpec directly (bases: "
                f"{', '.join(ast.unparse(b) for b in flow.bases)}); a notebook flow cannot "
                f"inherit steps or methods from another class. Copy what it inherits into "
                f"{flow.name}."
            )
    if len(flows) > 1:
        raise FlowImportError(
            f"{filename} defines {len(flows)} FlowSpec classes "
            f"({', '.join(f.name for f in flows)}); a notebook holds one flow. Split the file so "
            "each flow has its own."
        )
    flow = flows[0]

    cells: list[_Cell] = []
    doc = ast.get_docstring(flow)
    if doc:
        cells.append(_Cell("markdown", inspect.cleandoc(doc)))
    elif any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(n)
        for n in flow.body
    ):
        # the first markdown cell is the flow's docstring: keep step docstrings off that spot
        cells.append(_Cell("markdown", "# " + flow.name))
    cells.append(_Cell("code", "%load_ext jupyter_metaflow", cell_id="load-ext"))

    # module code: a cell per block separated by two blank lines, or by the cell markers of
    # 'export --cell-ids' when the file has them (a cell's own blank lines stay in it)
    marked = any(line.startswith(CELL_MARKER) for line in lines)
    top = [n for n in tree.body if n is not flow and not _is_main_guard(n)]
    own = _own_header_lines(lines, tree)
    blocks: list[list[str]] = []
    previous_end = 0
    flow_top = _start_line(flow)
    while flow_top > 1 and lines[flow_top - 2].startswith("#"):
        flow_top -= 1  # the comments right above the class: cell marker, parameter values
    class_tail = _class_tail(lines, flow)
    flow_lines = range(flow_top, class_tail + 1)
    above = [
        c
        for c in _marker_id(lines[flow_top - 1 : _start_line(flow) - 1])[1]
        if not c.startswith(PARAMS_MARKER)
    ]

    def place_class() -> None:
        """The comments between the module code before the class and the class (those right
        above it too), in its place."""
        nonlocal previous_end
        gap = [
            ln
            for k, ln in enumerate(lines[previous_end : flow_top - 1], previous_end + 1)
            if k not in own
        ]
        gap = _marker_id(gap)[1] + above
        comments = _strip_blank("\n".join(gap))
        if comments:
            lead = next(i for i, ln in enumerate(gap) if ln.strip())
            if blocks and lead < 2:
                blocks[-1].extend(gap[:lead] + source_lines(comments))
            else:
                blocks.append(source_lines(comments))
        previous_end = class_tail

    for node in top:
        start = _start_line(node)
        if previous_end < flow.lineno < start:
            place_class()
        gap = [
            ln
            for k, ln in enumerate(lines[previous_end : start - 1], previous_end + 1)
            if k not in flow_lines and k not in own
        ]
        code = lines[start - 1 : _last_line(node)]
        previous_end = max(previous_end, _last_line(node))
        if start in own:
            continue
        marker, gap_kept = _marker_id(gap)
        blank_run = _longest_blank_run(gap_kept)
        delimited = any(line.startswith(CELL_MARKER) for line in gap)
        if not blocks or delimited or (blank_run >= 2 and not marked):
            blocks.append([] if marker is None else [CELL_MARKER + marker])
            comments = _strip_blank("\n".join(gap_kept))
            blocks[-1].extend(source_lines(comments) if comments else [])
        else:
            blocks[-1].extend(gap_kept)
        blocks[-1].extend(code)
    if previous_end < flow.lineno:
        place_class()
    guards = {k for n in tree.body if _is_main_guard(n) for k in range(n.lineno, _last_line(n) + 1)}
    last = max([_last_line(n) for n in top] + [class_tail] + sorted(own))
    tail = [
        c
        for k, c in enumerate(lines[last:], last + 1)
        if k not in guards and c.strip().startswith("#")
    ]
    if tail:
        blocks.append(tail)
    for number, block in enumerate(blocks, 1):
        marker, block = _marker_id(block)
        text = _strip_blank("\n".join(block))
        if not text:
            continue
        cell = _Cell("code", text, cell_id=marker or f"module-{number}")
        if classify(CellInput(0, None, "code", text, ())) is not CellKind.MODULE:
            cell.tags = ("module",)
        cells.append(cell)

    # the flow cell: class decorators and the class body without docstring and steps
    class_decorators = [
        _dedent_block(lines[d.lineno - 1 : _last_line(d)]).strip() for d in flow.decorator_list
    ]
    flow_marker, flow_comments = _marker_id(lines[flow_top - 1 : _start_line(flow) - 1])
    param_args = next(
        (c[len(PARAMS_MARKER) :].strip() for c in flow_comments if c.startswith(PARAMS_MARKER)), ""
    )
    body_nodes = list(flow.body)
    if doc and body_nodes and isinstance(body_nodes[0], ast.Expr):
        body_nodes = body_nodes[1:]
    steps = [
        n
        for n in body_nodes
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(_is_step_decorator(d) for d in n.decorator_list)
    ]
    if not steps:
        raise FlowImportError(f"{filename}: {flow.name} has no @step methods.")
    class_code: list[str] = []
    step_ids = {id(s) for s in steps}
    # each member's text: from the end of the one before it (or of what that step's cell
    # took of the comments after it) to its end; a step's cell also takes the comments
    # indented into its body after it, and the last member the class's trailing comments
    spans: dict[
        int, tuple[int, int]
    ] = {}  # id(step) -> (first line of its leading comments, last line taken)
    prev = _last_line(flow.body[0]) if doc else flow.lineno
    for i, node in enumerate(body_nodes):
        nxt = _start_line(body_nodes[i + 1]) - 1 if i + 1 < len(body_nodes) else class_tail
        end = _last_line(node)
        if id(node) in step_ids:
            while end < nxt and (not lines[end].strip() or _indent(lines[end]) > node.col_offset):
                end += 1
            spans[id(node)] = (prev + 1, nxt if i + 1 == len(body_nodes) else end)
            prev = spans[id(node)][1]
            continue
        end = nxt if i + 1 == len(body_nodes) else end
        class_code.append("\n".join(lines[prev:end]))
        prev = end
    _, class_lines = _marker_id(source_lines("\n".join(class_code)))
    above_doc = (
        [c.strip() for c in _comments(lines, flow.lineno + 1, flow.body[0].lineno - 1)]
        if doc
        else []
    )
    flow_body = _strip_blank(
        "\n".join(_decorator_comments(lines, flow) + above_doc + [_dedent_block(class_lines)])
    )
    magic = ("%%flow " + flow.name + " " + param_args).strip()
    flow_src = "\n".join(
        [magic] + class_decorators + ([_keep_off_decorators(flow_body)] if flow_body else [])
    )
    cells.append(_Cell("code", flow_src, cell_id=flow_marker or "flow", line=flow.lineno))

    # steps
    for node in steps:
        first, last = spans[id(node)]
        step_marker, leading = _marker_id(_comments(lines, first, _start_line(node) - 1))
        leading = [c.strip() for c in leading] + _decorator_comments(lines, node)
        decorators = []
        for d in node.decorator_list:
            if _is_step_decorator(d):
                continue
            if isinstance(d, ast.Call) and _is_step_decorator(d.func):
                raise FlowImportError(
                    f"{filename} line {d.lineno}: @step(...) with arguments is not supported in "
                    "notebooks; use the plain @step and the names start/end."
                )
            decorators.append(_dedent_block(lines[d.lineno - 1 : _last_line(d)]).strip())
        args = [a.arg for a in node.args.args]
        if len(args) > 2 or not args:
            raise FlowImportError(
                f"{filename} line {node.lineno}: step {node.name} takes ({', '.join(args)}); steps "
                "take (self) or, for joins, (self, inputs)."
            )
        step_doc = ast.get_docstring(node)
        body_lines = _body_lines(lines, node, step_doc is not None) + _comments(
            lines, _last_line(node) + 1, last
        )
        above_doc = (
            [c.strip() for c in _comments(lines, node.lineno + 1, node.body[0].lineno - 1)]
            if step_doc
            else []
        )
        body = _strip_blank("\n".join(leading + above_doc + [_dedent_block(body_lines)]))
        if len(args) == 2 and args[1] != "inputs":
            body = f"{args[1]} = inputs\n{body}"
        if step_doc:
            cells.append(_Cell("markdown", inspect.cleandoc(step_doc)))
        src = "\n".join(
            ["%%step " + node.name] + decorators + ([_keep_off_decorators(body)] if body else [])
        )
        cells.append(
            _Cell(
                "code",
                src,
                cell_id=step_marker or "step-" + node.name.replace("_", "-"),
                line=node.lineno,
            )
        )

    # a __main__ block doing more than FLOW(): kept, as a raw cell (neither run nor exported)
    for node in tree.body:
        if _is_main_guard(node) and (
            not _only_runs(node, flow.name) or _comments(lines, node.lineno, _last_line(node))
        ):
            cells.append(
                _Cell("raw", "\n".join(lines[node.lineno - 1 : _last_line(node)]), cell_id="main")
            )

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    used: set[str] = set()
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            nb_cell = nbformat.v4.new_markdown_cell(cell.source)
        elif cell.cell_type == "raw":
            nb_cell = nbformat.v4.new_raw_cell(cell.source)
        else:
            nb_cell = nbformat.v4.new_code_cell(cell.source)
        cell_id = cell.cell_id or f"md-{index}"
        while cell_id in used:
            cell_id = f"{cell_id[:56]}-{index}"
        used.add(cell_id)
        nb_cell["id"] = cell_id
        if cell.tags:
            nb_cell.metadata["tags"] = list(cell.tags)
        nb.cells.append(nb_cell)
    nbformat.validate(nb)
    _check_graph(nb, [c.line for c in cells], flow, filename)
    return nb


def _check_graph(nb: Any, lines: list[int | None], flow: ast.ClassDef, filename: str) -> None:
    """The notebook must give the file's graph: same steps, transitions and joins. Errors
    name the line of the file (``lines``: each cell's), not the notebook's cells."""
    cells = [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)]
    model = assemble(cells)

    def located(error: Any) -> str:
        line = lines[error.cell_index] if error.cell_index is not None else None
        return (f"line {line}: " if line else "") + f"{error.message} {error.fix}"

    if model.errors:
        raise FlowImportError(
            "{} does not follow Metaflow's rules: {}".format(
                filename, "; ".join(located(e) for e in model.errors)
            )
        )
    lint = validate_graph(model)
    if lint:
        raise FlowImportError(f"{filename}: Metaflow's checks reject the flow: {located(lint[0])}")
    for node in flow.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            _is_step_decorator(d) for d in node.decorator_list
        ):
            file_join = len(node.args.args) == 2
            if file_join != model.is_join(node.name):
                raise FlowImportError(
                    "{}: step {} {} a join in the file, but in a notebook {}. Make its body use "
                    "'inputs' only in join steps.".format(
                        filename,
                        node.name,
                        "is" if file_join else "is not",
                        "the graph does not make it one" if file_join else "it would be one",
                    )
                )


def import_flow_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a flow file and return its notebook. Raises FlowImportError."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8-sig")  # Python reads a BOM-marked file too
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowImportError(f"Cannot read {path}: {exc}.") from None
    return import_flow(source, path.name)

"""How notebook cells become a Metaflow flow: the one implementation of the notebook contract.

This module reads each cell on its own (its kind, its magic line, decorators, body and
transition); :mod:`jupyter_metaflow.assembly` puts the cells together into the flow's graph.
Used by the kernel, the exporter and the CLI; the TypeScript frontend mirrors both through the
shared test vectors in ``python/tests/vectors/assembly.json``.

The rules (the notebook contract):

* ``%%flow [NAME] [--param value ...]`` (or the cell tag ``flow:NAME``) is the flow cell: flow
  decorators first, then what sits in ``class NAME(FlowSpec):`` before the steps. At most one,
  before the first step cell.
* ``%%step NAME`` (or the cell tag ``step:NAME``) is a step cell: decorator lines first, then the
  method body. A ``self.next(...)`` as the body's last statement is the transition; a step other
  than ``end`` without one goes to the next step cell in notebook order (an *implied* transition).
* Any other code cell is a *module* cell (kept by the export, steps may use its names) when it
  is tagged ``module`` or its top-level statements are only imports, ``def``/``class``
  definitions, assignments of literal constants and calls that configure a library the cell
  imported (``matplotlib.use('Agg')``, ``np.random.seed(0)``, ``warnings.filterwarnings(...)``,
  ``logging.basicConfig(level=logging.INFO)``: see :func:`_is_config_call`); otherwise (also:
  tagged ``skip``, empty, containing ``%``/``!`` lines, or a syntax error; also papermill's
  ``injected-parameters`` cell) it is a *scratch* cell that runs in the notebook only.
* A markdown cell right above a step cell is that step's docstring; the notebook's first
  markdown cell is the flow's docstring.


Nothing here imports Metaflow; everything is pure and fast (``ast`` on each cell once).
"""

from __future__ import annotations

import ast
import enum
import keyword
import re
import shlex
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

__all__ = [
    "CellError",
    "CellInput",
    "CellKind",
    "CellRulesError",
    "FlowCell",
    "StepCell",
    "Transition",
    "cell_error",
    "classify",
    "declared_step_name",
    "parse_flow_cell",
    "parse_step_cell",
    "source_lines",
]

INJECTED_PARAMETERS_TAG = "injected-parameters"
"""papermill's tag on the cell of run values it inserts (a scratch cell: the values are one
run's, set as the flow's Parameters, never part of the exported flow)."""
RESERVED_STEP_NAMES = frozenset({"name", "next", "input", "index", "cmd"})
_STEP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_FLOW_MAGIC_RE = re.compile(r"^%%flow(?:\s|$)")
_STEP_MAGIC_RE = re.compile(r"^%%step(?:\s|$)")


class CellKind(str, enum.Enum):
    """What a notebook cell is to the flow."""

    FLOW = "flow"
    STEP = "step"
    MODULE = "module"
    SCRATCH = "scratch"
    MARKDOWN = "markdown"
    OTHER = "other"


@dataclass(frozen=True)
class CellInput:
    """One notebook cell as the rules see it (``index`` is its 0-based position)."""

    index: int
    id: str | None
    cell_type: str
    source: str
    tags: tuple[str, ...] = ()

    @classmethod
    def from_nbformat(cls, index: int, cell: Mapping[str, Any]) -> CellInput:
        """Build from an nbformat cell (a ``NotebookNode`` or the plain JSON dict)."""
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        metadata = cell.get("metadata") or {}
        tags = metadata.get("tags") or ()
        return cls(
            index=index,
            id=cell.get("id"),
            cell_type=cell.get("cell_type", "code"),
            source=source,
            tags=tuple(str(t) for t in tags),
        )


@dataclass
class CellError:
    """A structural problem, located in a cell (``line`` is 1-based in the cell, or None)."""

    cell_index: int | None
    cell_id: str | None
    line: int | None
    message: str
    fix: str
    code: str

    def to_json(self) -> dict[str, Any]:
        """``{"code", "cell_index", "cell_id", "line", "message", "fix"}``."""
        return {
            "code": self.code,
            "cell_index": self.cell_index,
            "cell_id": self.cell_id,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }

    def __str__(self) -> str:
        """``cell N, line L: message fix`` (cell and line 1-based, left out when unknown)."""
        text = f"{self.message} {self.fix}"
        if self.cell_index is None:
            return text
        where = f"cell {self.cell_index + 1}"
        if self.line is not None:
            where += f", line {self.line}"
        return f"{where}: {text}"


class CellRulesError(ValueError):
    """Raised by the parse functions for a cell that cannot be read; carries a CellError."""

    def __init__(self, error: CellError):
        super().__init__(str(error))
        self.error = error


@dataclass
class Transition:
    """A step's ``self.next(...)``.

    ``kind``: ``linear`` (one target), ``split`` (several targets), ``foreach`` (one target and
    ``foreach`` = the artifact name), ``num_parallel`` (one target, ``num_parallel`` = the
    count or None when not a literal), ``switch`` (``cases`` maps each case value to a target,
    ``condition`` = the artifact name; ``targets`` lists the case targets in order).
    ``line`` is the 1-based cell line of the ``self.next`` call (None for implied transitions).
    """

    kind: str
    targets: list[str]
    foreach: str | None = None
    condition: str | None = None
    cases: dict[Any, str] | None = None
    num_parallel: int | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "targets", "foreach", "condition", "cases", "num_parallel", "line"}``;
        ``cases`` keys become strings (JSON objects have string keys)."""
        return {
            "kind": self.kind,
            "targets": list(self.targets),
            "foreach": self.foreach,
            "condition": self.condition,
            "cases": None if self.cases is None else {str(k): v for k, v in self.cases.items()},
            "num_parallel": self.num_parallel,
            "line": self.line,
        }

    def to_source(self) -> str:
        """The ``self.next(...)`` statement that writes this transition."""
        if self.kind == "switch":
            items = ", ".join(f"{k!r}: self.{v}" for k, v in (self.cases or {}).items())
            return f"self.next({{{items}}}, condition={self.condition!r})"
        args = ", ".join(f"self.{t}" for t in self.targets)
        if self.kind == "foreach":
            return f"self.next({args}, foreach={self.foreach!r})"
        if self.kind == "num_parallel":
            return f"self.next({args}, num_parallel={self.num_parallel!r})"
        return f"self.next({args})"


@dataclass
class _Header:
    """Magic line / tag, decorators and body of a flow or step cell."""

    magic_args: str | None  # text after %%flow / %%step, None when the cell is tag-based
    magic_line: int | None
    decorators: list[str]
    decorator_lines: list[int]
    body: str
    body_line: int


@dataclass
class StepCell:
    """A parsed step cell. ``body_line`` is the cell line (1-based) of ``body``'s first line:
    body line ``k`` is cell line ``body_line + k - 1``."""

    name: str
    cell_index: int
    cell_id: str | None
    decorators: list[str]
    decorator_lines: list[int]
    body: str
    body_line: int
    transition: Transition | None
    body_ast: ast.Module | None = field(default=None, repr=False)
    reads_inputs: bool = False

    @property
    def is_end(self) -> bool:
        return self.name == "end"


@dataclass
class FlowCell:
    """A parsed flow cell: ``name`` (None when omitted), flow decorators, the class body and
    ``param_args``, the magic line's tokens after the name (shlex-split)."""

    name: str | None
    cell_index: int
    cell_id: str | None
    decorators: list[str]
    decorator_lines: list[int]
    body: str
    body_line: int
    param_args: list[str]
    name_source: str | None = None  # "magic" or "tag" when ``name`` is set


# --------------------------------------------------------------------------- classification


_NEWLINE_RE = re.compile(r"\r\n|\r|\n")


def source_lines(source: str) -> list[str]:
    """The lines of Python code as Python numbers them: split at ``\\r\\n``, ``\\r`` and
    ``\\n`` only (``str.splitlines`` also splits at form feeds, U+2028 and the like, which
    may sit in a string literal or on a blank line)."""
    lines = _NEWLINE_RE.split(source)
    if lines[-1] == "":
        lines.pop()
    return lines


def _first_line(source: str) -> tuple[str, int]:
    """The first non-blank line (stripped of trailing space) and its 1-based number."""
    for number, line in enumerate(source_lines(source), 1):
        if line.strip():
            return line.rstrip(), number
    return "", 0


def _tag_value(tags: Iterable[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :].strip()
    return None


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return (
            isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float, complex))
            and not isinstance(node.operand.value, bool)
        )
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and all(
            _is_literal(v) for v in node.values
        )
    return False


def _is_name_target(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_name_target(e) for e in node.elts)
    return False


def _is_module_statement(stmt: ast.stmt, imported: set[str]) -> bool:
    if isinstance(
        stmt,
        (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass),
    ):
        return True
    if isinstance(stmt, ast.Assign):
        return all(_is_name_target(t) for t in stmt.targets) and _is_literal(stmt.value)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and (stmt.value is None or _is_literal(stmt.value))
    if isinstance(stmt, ast.Expr):  # a docstring, or a library's configuration call
        return (
            isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
        ) or _is_config_call(stmt.value, imported)
    return False


_CONFIG_FUNCTION_RE = re.compile(
    r"^(?:use|seed|manual_seed|filterwarnings|simplefilter|basicConfig|update|set|set_\w+"
    r"|set[A-Z]\w*)$"
)
"""Names of the functions a configuration call may call: they set a library up
(``matplotlib.use``, ``random.seed``, ``pd.set_option``, ``logger.setLevel``,
``plt.rcParams.update``) rather than compute or touch files."""

_BUILTIN_CLASS_RE = re.compile(r"^[A-Z]\w*(?:Warning|Error|Exception)$")
"""A bare name a configuration call may pass: a built-in warning or exception class
(``warnings.filterwarnings('ignore', category=FutureWarning)``)."""


def _dotted_root(node: ast.AST) -> str | None:
    """``a`` for ``a``, ``a.b``, ``a.b.c``; None for anything else (calls, subscripts)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _imported_names(stmt: ast.stmt) -> set[str]:
    """The names an import statement binds (``import a.b`` binds ``a``)."""
    if isinstance(stmt, ast.Import):
        return {alias.asname or alias.name.split(".")[0] for alias in stmt.names}
    if isinstance(stmt, ast.ImportFrom):
        return {alias.asname or alias.name for alias in stmt.names if alias.name != "*"}
    return set()


def _is_config_call(node: ast.AST, imported: set[str]) -> bool:
    """A call that configures a library imported above it in the cell: a function of
    :data:`_CONFIG_FUNCTION_RE` reached from an imported name, given only literals, names
    (or attributes) of the cell's imports and built-in warning/exception classes, so the
    exported flow file runs it at import exactly as the notebook did."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name is None or not _CONFIG_FUNCTION_RE.match(name) or _dotted_root(func) not in imported:
        return False
    if any(k.arg is None for k in node.keywords):  # **options
        return False
    return all(
        _is_config_argument(a, imported) for a in [*node.args, *(k.value for k in node.keywords)]
    )


def _is_config_argument(node: ast.AST, imported: set[str]) -> bool:
    if _is_literal(node):
        return True
    if isinstance(node, ast.Name) and _BUILTIN_CLASS_RE.match(node.id):
        return True
    return _dotted_root(node) in imported


def _has_magic_lines(source: str) -> bool:
    return any(line.lstrip().startswith(("%", "!")) for line in source_lines(source))


def _is_module_source(source: str) -> bool:
    if _has_magic_lines(source):
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    imported: set[str] = set()
    for stmt in tree.body:
        if not _is_module_statement(stmt, imported):
            return False
        imported |= _imported_names(stmt)
    return True


def classify(cell: CellInput) -> CellKind:
    """The cell's kind under the notebook contract (see the module docstring)."""
    if cell.cell_type == "markdown":
        return CellKind.MARKDOWN
    if cell.cell_type != "code":
        return CellKind.OTHER
    first, _ = _first_line(cell.source)
    if _FLOW_MAGIC_RE.match(first) or _tag_value(cell.tags, "flow:") is not None:
        return CellKind.FLOW
    if _STEP_MAGIC_RE.match(first) or _tag_value(cell.tags, "step:") is not None:
        return CellKind.STEP
    if "module" in cell.tags:
        return CellKind.MODULE
    if "skip" in cell.tags or INJECTED_PARAMETERS_TAG in cell.tags or not cell.source.strip():
        return CellKind.SCRATCH
    return CellKind.MODULE if _is_module_source(cell.source) else CellKind.SCRATCH


# --------------------------------------------------------------------------- flow / step cells


def cell_error(cell: CellInput, line: int | None, message: str, fix: str, code: str) -> CellError:
    return CellError(cell.index, cell.id, line, message, fix, code)


def _split_header(cell: CellInput, magic: str) -> _Header:
    """Separate magic line, decorator lines and body (dedented) of a flow/step cell."""
    lines = source_lines(cell.source)
    first, first_no = _first_line(cell.source)
    magic_args: str | None = None
    magic_line: int | None = None
    if first.startswith("%%" + magic) and (
        len(first) == len(magic) + 2 or first[len(magic) + 2].isspace()
    ):
        magic_args = first[len(magic) + 2 :].strip()
        magic_line = first_no
        pos = first_no  # 0-based index of the line after the magic
    else:
        pos = 0
    decorators: list[str] = []
    decorator_lines: list[int] = []
    while pos < len(lines) and lines[pos].lstrip().startswith("@"):
        start = pos
        text = lines[pos].strip()
        while True:
            try:
                compile(text[1:].strip() or "(", "<decorator>", "eval")
                break
            except SyntaxError:
                pos += 1
                if pos >= len(lines):
                    raise CellRulesError(
                        cell_error(
                            cell,
                            start + 1,
                            f"The decorator on line {start + 1} is not a valid expression.",
                            "Fix the decorator's syntax (close its parentheses).",
                            "syntax-error",
                        )
                    ) from None
                text += "\n" + lines[pos].strip()
        decorators.append(textwrap.dedent("\n".join(lines[start : pos + 1])).strip())
        decorator_lines.append(start + 1)
        pos += 1
    body = textwrap.dedent("\n".join(lines[pos:]))
    if lines[pos:] and cell.source.endswith("\n"):
        body += "\n"
    return _Header(magic_args, magic_line, decorators, decorator_lines, body, pos + 1)


def _parse_body(cell: CellInput, body: str, body_line: int) -> ast.Module:
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        line = None if exc.lineno is None else body_line + exc.lineno - 1
        lines = source_lines(body)
        text = lines[exc.lineno - 1].strip() if exc.lineno and exc.lineno <= len(lines) else ""
        if text.startswith(("%", "!")):
            raise CellRulesError(
                cell_error(cell, line, _MAGIC_IN_CODE % text, _MAGIC_FIX, "syntax-error")
            ) from None
        code = [
            (k, t.strip())
            for k, t in enumerate(lines, 1)
            if t.strip() and not t.strip().startswith("#")
        ]
        if code and code[0][1].startswith("@"):  # a decorator below a comment or blank line
            raise CellRulesError(
                cell_error(
                    cell,
                    body_line + code[0][0] - 1,
                    _LOOSE_DECORATOR % code[0][1],
                    _LOOSE_DECORATOR_FIX,
                    "syntax-error",
                )
            ) from None
        raise CellRulesError(
            cell_error(
                cell,
                line,
                f"Syntax error: {exc.msg}.",
                "Correct the code on that line of the cell.",
                "syntax-error",
            )
        ) from None
    return tree


_MAGIC_IN_CODE = (
    "%s: IPython magics and shell commands cannot run in a flow or step cell (it runs as "
    "Python, as in the flow file)."
)
_MAGIC_FIX = "Write it in Python (subprocess.run for a shell command) or move it to a scratch cell."
_LOOSE_DECORATOR = (
    "The decorator %s is separated from the magic line by a comment or blank line, so it "
    "is read as code."
)
_LOOSE_DECORATOR_FIX = (
    "Put the decorators right under the magic line, one after another; comments go below them."
)


def _switch_cases(node: ast.Dict) -> dict[Any, str] | None:
    cases: dict[Any, str] = {}
    for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant):
            case = key.value
        elif (
            isinstance(key, ast.Attribute)
            and isinstance(key.value, ast.Attribute)
            and isinstance(key.value.value, ast.Name)
            and key.value.value.id == "self"
        ):
            case = f"config:{key.value.attr}.{key.attr}"
        else:
            return None
        if not (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == "self"
        ):
            return None
        cases[case] = value.attr
    return cases or None


def _is_self_next(node: ast.AST) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "next"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self"
    )


def _parse_transition(
    cell: CellInput, tree: ast.Module, body: str, body_line: int
) -> Transition | None:
    """The body's tail ``self.next(...)``; a ``self.next`` anywhere else is an error."""
    tail = tree.body[-1] if tree.body else None
    tail_call = tail.value if isinstance(tail, ast.Expr) and _is_self_next(tail.value) else None
    mentions = body.count(".next")
    if mentions == (tail_call is not None):
        nodes: Iterable[ast.AST] = ()  # fast path: no other self.next can exist
    else:
        nodes = ast.walk(tree)
    for node in nodes:
        if _is_self_next(node) and node is not tail_call:
            raise CellRulesError(
                cell_error(
                    cell,
                    body_line + node.lineno - 1,
                    "self.next(...) must be the last statement of the step.",
                    "Move the transition to the end of the cell, outside any if/for/with.",
                    "bad-transition",
                )
            )
    if tail_call is None:
        return None
    line = body_line + tail_call.lineno - 1
    bad = CellRulesError(
        cell_error(
            cell,
            line,
            "This self.next(...) is not a transition Metaflow supports.",
            "Write self.next(self.a), self.next(self.a, self.b), "
            'self.next(self.a, foreach="items") or '
            'self.next({"x": self.x, "y": self.y}, condition="choice").',
            "bad-transition",
        )
    )
    keywords = {k.arg: k.value for k in tail_call.keywords}
    if None in keywords:
        raise bad
    if len(tail_call.args) == 1 and isinstance(tail_call.args[0], ast.Dict):
        cond = keywords.get("condition")
        cases = _switch_cases(tail_call.args[0])
        if (
            set(keywords) != {"condition"}
            or cases is None
            or not (isinstance(cond, ast.Constant) and isinstance(cond.value, str))
        ):
            raise bad
        return Transition(
            "switch", list(cases.values()), condition=cond.value, cases=cases, line=line
        )
    targets = []
    for arg in tail_call.args:
        if not (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name)
            and arg.value.id == "self"
        ):
            raise bad
        targets.append(arg.attr)
    if not targets:
        raise bad
    if not keywords:
        return Transition("linear" if len(targets) == 1 else "split", targets, line=line)
    if len(keywords) != 1 or len(targets) != 1:
        raise bad
    ((name, value),) = keywords.items()
    if name == "foreach" and isinstance(value, ast.Constant) and isinstance(value.value, str):
        return Transition("foreach", targets, foreach=value.value, line=line)
    if name == "num_parallel":
        count = (
            value.value
            if isinstance(value, ast.Constant) and isinstance(value.value, int)
            else None
        )
        return Transition("num_parallel", targets, num_parallel=count, line=line)
    raise bad


def _reads_inputs(tree: ast.Module, body: str) -> bool:
    if "inputs" not in body:
        return False
    loads = stores = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "inputs":
            if isinstance(node.ctx, ast.Load):
                loads = True
            else:
                stores = True
    return loads and not stores


def _step_name_problem(name: str) -> str | None:
    if not name:
        return "has no name"
    if name in RESERVED_STEP_NAMES:
        return f"uses the reserved word {name!r}"
    if not _STEP_NAME_RE.match(name) or not name.isidentifier() or keyword.iskeyword(name):
        return f"has the invalid name {name!r}"
    return None


def parse_step_cell(cell: CellInput) -> StepCell:
    """Parse a step cell (``%%step NAME`` or tag ``step:NAME``). Raises CellRulesError."""
    header = _split_header(cell, "step")
    tag_name = _tag_value(cell.tags, "step:")
    if header.magic_args is not None:
        args = header.magic_args.split()
        if len(args) != 1:
            raise CellRulesError(
                cell_error(
                    cell,
                    header.magic_line,
                    "Usage: %%step NAME (got {!r}).".format(
                        ("%%step " + header.magic_args).strip()
                    ),
                    "Write the step name, and only it, after %%step, e.g. %%step start.",
                    "bad-magic",
                )
            )
        name = args[0]
        if tag_name is not None and tag_name != name:
            raise CellRulesError(
                cell_error(
                    cell,
                    header.magic_line,
                    f"The cell says %%step {name} but is tagged step:{tag_name}.",
                    "Remove the step: tag or make it match the %%step line.",
                    "bad-magic",
                )
            )
    else:
        name = tag_name or ""
    problem = _step_name_problem(name)
    if problem:
        raise CellRulesError(
            cell_error(
                cell,
                header.magic_line,
                f"The step {problem}.",
                "Step names use lowercase letters, digits and underscores, start with a "
                "letter or digit, and are not Python keywords or name/next/input/index/cmd.",
                "bad-step-name",
            )
        )
    tree = _parse_body(cell, header.body, header.body_line)
    transition = _parse_transition(cell, tree, header.body, header.body_line)
    return StepCell(
        name=name,
        cell_index=cell.index,
        cell_id=cell.id,
        decorators=header.decorators,
        decorator_lines=header.decorator_lines,
        body=header.body,
        body_line=header.body_line,
        transition=transition,
        body_ast=tree,
        reads_inputs=_reads_inputs(tree, header.body),
    )


TWO_VALUE_FLOW_OPTIONS = ("--config", "--config-value")
"""``%%flow`` options that take two values, as on Metaflow's command line: ``--config NAME
FILE``, ``--config-value NAME JSON``."""
RUN_OPTIONS = ("--max-workers",)
"""``%%flow`` options that are Metaflow ``run`` options, not Parameters: ``--max-workers N``,
how many of a step's tasks (foreach splits) run at once."""


def split_run_options(args: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """``({"max_workers": N}, the other tokens)`` of a ``%%flow`` line's options. Raises
    ValueError saying what is wrong with a value (a positive integer)."""
    options: dict[str, int] = {}
    rest: list[str] = []
    tokens = list(args)
    while tokens:
        tok = tokens.pop(0)
        option, eq, value = tok.partition("=")
        if option not in RUN_OPTIONS:
            rest.append(tok)
            continue
        if not eq:
            value = tokens.pop(0) if tokens else ""
        if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
            raise ValueError(
                f"{option} takes a positive number of processes, e.g. {option} 4; got {value!r}"
            )
        options[option[2:].replace("-", "_")] = int(value)
    return options, rest


STORAGE_FLOW_OPTIONS = ("--datastore", "--datastore-root", "--metadata")
"""``%%flow`` options that choose where runs live, Metaflow's top-level options as in
``python flow.py --datastore s3 --datastore-root s3://bucket/prefix --metadata service run``."""


def split_storage_args(args: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The ``%%flow`` line's storage options (``{"datastore_root": ...}``; ``--name value`` or
    ``--name=value``) apart from the other tokens, in order."""
    storage: dict[str, str] = {}
    rest: list[str] = []
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        option, eq, value = token.partition("=")
        if option in STORAGE_FLOW_OPTIONS and (eq or tokens):
            storage[option[2:].replace("-", "_")] = value if eq else tokens.pop(0)
        else:
            rest.append(token)
    return storage, rest


def parse_flow_cell(cell: CellInput) -> FlowCell:
    """Parse a flow cell (``%%flow [NAME] [--param value ...]`` or tag ``flow:NAME``).
    Raises CellRulesError."""
    header = _split_header(cell, "flow")
    tag_name = _tag_value(cell.tags, "flow:")
    name: str | None = tag_name or None
    name_source = "tag" if name else None
    param_args: list[str] = []
    if header.magic_args is not None:
        usage = (
            "Write %%flow NAME --param value ..., e.g. %%flow PlayListFlow --genre Comedy "
            "(Configs: --config NAME FILE, --config-value NAME JSON)."
        )
        try:
            args = shlex.split(header.magic_args)
        except ValueError as exc:
            raise CellRulesError(
                cell_error(
                    cell,
                    header.magic_line,
                    f"Cannot read the %%flow line: {exc}.",
                    usage,
                    "bad-magic",
                )
            ) from None
        if args and not args[0].startswith("-"):
            if tag_name and args[0] != tag_name:
                raise CellRulesError(
                    cell_error(
                        cell,
                        header.magic_line,
                        f"The cell says %%flow {args[0]} but is tagged flow:{tag_name}.",
                        "Remove the flow: tag or make it match the %%flow line.",
                        "bad-magic",
                    )
                )
            name = args.pop(0)
            name_source = "magic"
        param_args = args
        try:
            split_run_options(args)
        except ValueError as exc:
            raise CellRulesError(
                cell_error(cell, header.magic_line, str(exc) + ".", usage, "bad-magic")
            ) from None
        expects = 0  # values the last option still takes
        for tok in args:
            if tok.startswith("--") and len(tok) > 2:
                expects = 0 if "=" in tok else 2 if tok in TWO_VALUE_FLOW_OPTIONS else 1
            elif expects:
                expects -= 1
            else:
                raise CellRulesError(
                    cell_error(
                        cell,
                        header.magic_line,
                        f"Unexpected argument {tok!r} on the %%flow line.",
                        usage,
                        "bad-magic",
                    )
                )
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise CellRulesError(
            cell_error(
                cell,
                header.magic_line,
                f"{name!r} is not a valid flow class name.",
                "Use a Python identifier such as TrainModelFlow.",
                "bad-magic",
            )
        )
    _parse_body(cell, header.body, header.body_line)
    return FlowCell(
        name=name,
        cell_index=cell.index,
        cell_id=cell.id,
        decorators=header.decorators,
        decorator_lines=header.decorator_lines,
        body=header.body,
        body_line=header.body_line,
        param_args=param_args,
        name_source=name_source,
    )


def declared_step_name(cell: CellInput) -> str | None:
    """The name a step cell means, read loosely (for cells that failed to parse)."""
    first, _ = _first_line(cell.source)
    if _STEP_MAGIC_RE.match(first):
        parts = first[6:].split()
        return parts[0] if parts else None
    return _tag_value(cell.tags, "step:")

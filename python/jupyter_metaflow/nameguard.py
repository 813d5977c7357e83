"""Names in cell code, read without running it, and the export guard built on them.

What a cell binds (:func:`defined_names`; a star import's names read from the module's source,
never by importing it), what code reads from the module globals (:func:`global_refs`), what
only the compiler rejects (:func:`compile_error`), and :func:`find_undefined_names`: the names
a step (or the flow cell, or a module cell) uses that the exported module would not define,
each a :class:`NameProblem` naming the cell, the line and the fix. The exporter refuses such a
notebook; the kernel warns before a step runs.
"""

from __future__ import annotations

import ast
import builtins
import functools
import symtable
import sys
import tokenize
from dataclasses import dataclass

from .assembly import FlowModel
from .cells import CellError, CellInput, source_lines
from .pysource import indent_code, metaflow_names

__all__ = [
    "UNKNOWN_STAR",
    "NameProblem",
    "compile_error",
    "defined_names",
    "find_undefined_names",
    "global_refs",
    "imported_names",
    "rebinding_names",
    "strip_magics",
]


_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__builtins__"}


@dataclass
class NameProblem:
    """A name a step (or the flow cell, or a module cell) uses that the exported module would
    not define. ``scratch_cell`` is the index of a scratch cell defining it, if any."""

    name: str
    where: str  # "step 'train'", "the flow cell", "a module cell"
    cell_index: int
    cell_id: str | None
    line: int | None
    scratch_cell: int | None
    flow_constant: bool = False  # a class-level name of the flow cell, read bare in a step

    def to_error(self) -> CellError:
        if self.name == "inputs" and self.where.startswith("step"):
            message = f"{_cap(self.where)} uses 'inputs', but it is not a join step."
            fix = (
                "Only a step that closes a branch or a foreach receives inputs: fix the "
                "transitions or stop using 'inputs' here."
            )
        elif self.flow_constant:
            message = (
                f"{_cap(self.where)} uses {self.name!r}, which the flow cell defines as a class "
                "attribute: a step "
                "method does not see it as a bare name."
            )
            fix = f"Write self.{self.name}."
        elif self.scratch_cell is not None:
            message = (
                f"{_cap(self.where)} uses {self.name!r}, which only scratch cell "
                f"{self.scratch_cell + 1} defines: the exported flow would fail with NameError."
            )
            fix = (
                "Move the definition into a module cell (imports, def/class, literal constants) "
                f"or tag cell {self.scratch_cell + 1} 'module'."
            )
        else:
            message = f"{_cap(self.where)} uses {self.name!r}, which no cell defines."
            fix = f"Import or define {self.name!r} in a module cell, or fix the name."
        return CellError(self.cell_index, self.cell_id, self.line, message, fix, "undefined-name")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def strip_magics(source: str) -> str:
    """Blank out IPython magic and shell lines (keeps line numbers)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source_lines(source)
    )


def _wrapped(source: str, wrapper: str | None) -> str:
    """``source`` as the body of ``wrapper`` (a ``def``/``class`` line), or as is for None;
    a closing ``pass`` keeps a body of only comments valid."""
    if wrapper is None:
        return source
    return (
        wrapper + "\n" + (indent_code(source, "    ") + "\n" if source.strip() else "") + "    pass"
    )


def compile_error(source: str, wrapper: str | None = None) -> SyntaxError | None:
    """The error the compiler finds in ``source`` (read as ``global_refs`` reads it), its
    ``lineno`` made a line of ``source``; None when it compiles. The compiler rejects code
    ``ast.parse`` accepts: a misplaced ``from __future__`` import, ``return``/``yield``/
    ``await`` outside a function."""
    try:
        compile(_wrapped(source, wrapper), "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        if exc.lineno is not None and wrapper is not None:
            exc.lineno = max(exc.lineno - 1, 1)
        return exc
    except ValueError as exc:  # null bytes
        return SyntaxError(str(exc))
    return None


def global_refs(source: str, wrapper: str | None = None) -> dict[str, int] | None:
    """Names ``source`` looks up in the module globals, with the first line using each.
    ``wrapper`` is a ``def``/``class`` line to wrap the code in (scope of a step body or a
    class body); None reads the code as module code. None on a syntax error."""
    refs = _global_refs(source, wrapper)
    return None if refs is None else dict(refs)


@functools.lru_cache(maxsize=1024)
def _global_refs(source: str, wrapper: str | None) -> dict[str, int] | None:
    """:func:`global_refs`, remembered: the kernel checks every cell before each step runs,
    and cells rarely change between two steps (callers get a copy)."""
    code = _wrapped(source, wrapper)
    offset = 0 if wrapper is None else 1
    try:
        table = symtable.symtable(code, "<cell>", "exec")
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    assigned_global: set[str] = set()  # ``global X`` then ``X = ...`` in a function defines X

    def walk(t: symtable.SymbolTable, top: bool) -> None:
        for sym in t.get_symbols():
            if sym.is_declared_global() and sym.is_assigned():
                assigned_global.add(sym.get_name())
            if not sym.is_referenced():
                continue
            if top and wrapper is None:
                if not (sym.is_assigned() or sym.is_imported()):
                    names.add(sym.get_name())
            elif sym.is_global() or (
                t.get_type() == "class" and not sym.is_assigned() and not sym.is_free()
            ):
                names.add(sym.get_name())
        for child in t.get_children():
            walk(child, False)

    walk(table, True)
    names -= assigned_global
    first: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            line = node.lineno - offset
            if node.id not in first or line < first[node.id]:
                first[node.id] = line
    return {n: first.get(n, 1) for n in names}


UNKNOWN_STAR = "*"
"""In a set of defined names: a ``from MODULE import *`` whose names cannot be read."""


def defined_names(source: str, search_dir: str | None = None) -> set[str] | None:
    """Top-level names a module/scratch cell binds (None on a syntax error); holds
    :data:`UNKNOWN_STAR` when a star import's names cannot be read without running code."""
    bound = _bound_names(source)
    if bound is None:
        return None
    names = set(bound[0])
    for module, level in bound[1]:  # read each time: the module's file may have changed
        star = _star_names(module, level, None, search_dir, depth=0)
        names |= {UNKNOWN_STAR} if star is None else star
    return names


def rebinding_names(source: str) -> set[str]:
    """Top-level names a cell binds other than by an import: a scratch cell giving a module
    cell's name another value (importing the same module again changes nothing). Empty on a
    syntax error."""
    bound = _bound_names(source)
    return set() if bound is None else set(bound[2])


def imported_names(source: str) -> dict[str, str]:
    """Top-level names a cell binds by an import, each with what it imports (``"a.b"`` for
    ``import a.b as x``, ``"a"`` for ``import a.b``, ``"from ..m import n"``): a name another
    cell imports the same way holds the same object. Empty on a syntax error."""
    return dict(_imported_names(source))


@functools.lru_cache(maxsize=1024)
def _imported_names(source: str) -> tuple[tuple[str, str], ...]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                names[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom):
            where = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"from {where} import {alias.name}"
    return tuple(names.items())


@functools.lru_cache(maxsize=1024)
def _bound_names(
    source: str,
) -> tuple[frozenset[str], tuple[tuple[str | None, int], ...], frozenset[str]] | None:
    """The names ``source`` binds itself, its star imports (module, level), and the names it
    binds other than by an import, remembered (see :func:`_global_refs`); None on a syntax
    error."""
    try:
        table = symtable.symtable(source, "<cell>", "exec")
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    names.discard(UNKNOWN_STAR)
    stars = tuple(
        (node.module, node.level)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
    )
    assigned = {s.get_name() for s in table.get_symbols() if s.is_assigned()}
    return frozenset(names), stars, frozenset(assigned - {UNKNOWN_STAR})


def _star_names(
    module: str | None, level: int, package: str | None, search_dir: str | None, depth: int
) -> set[str] | None:
    """Names ``from MODULE import *`` binds, read without importing MODULE (a ``helpers.py``
    beside the notebook is the notebook author's code): from the module object when it is
    already imported (nothing new runs), else from its source file, parsed: a literal
    ``__all__`` or its public top-level names (star imports in it followed). None when no
    source can be read (compiled modules, import hooks, computed ``__all__`` aside)."""
    if level:
        if package is None:
            return None
        base = package.rsplit(".", level - 1)[0] if level > 1 else package
        name = base + ("." + module if module else "")
    elif module:
        name = module
    else:
        return None
    loaded = sys.modules.get(name)
    if loaded is not None:
        public = getattr(loaded, "__all__", None)
        try:
            return (
                {str(n) for n in public}
                if public is not None
                else {n for n in dir(loaded) if not n.startswith("_")}
            )
        except TypeError:
            return None
    found = _module_source(name, search_dir)
    if found is None or depth > 4:
        return None
    path, is_package = found
    try:
        with tokenize.open(path) as handle:
            text = handle.read()
        tree = ast.parse(text)
        table = symtable.symtable(text, path, "exec")
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets
        ):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                break
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return set(value)
            break
    names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    own_package = name if is_package else name.rpartition(".")[0] or None
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            names |= (
                _star_names(stmt.module, stmt.level, own_package, search_dir, depth + 1) or set()
            )
    return {n for n in names if not n.startswith("_")}


def _module_source(name: str, search_dir: str | None) -> tuple[str, bool] | None:
    """The ``.py`` file that ``import NAME`` would load and whether it is a package, found
    the way the import system's path finder finds it (searching ``search_dir`` first, where
    the exported flow file will sit), without importing anything."""
    from importlib.machinery import PathFinder

    path = ([search_dir] if search_dir else []) + [p for p in sys.path if isinstance(p, str)]
    parts = name.split(".")
    spec = None
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), path)
        if spec is None:
            return None
        if i < len(parts) - 1:
            path = list(spec.submodule_search_locations or [])
            if not path:
                return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin, spec.submodule_search_locations is not None


def find_undefined_names(
    model: FlowModel, cells: list[CellInput], search_dir: str | None = None
) -> list[NameProblem]:
    """The export guard: every name a step body, a step decorator, the flow cell or a module
    cell looks up globally that the exported module would not define (module cells,
    Metaflow's names, builtins). Names only a scratch cell defines say which cell.
    The kernel runs the same check as a warning before a step executes. Star imports are
    read from ``search_dir`` (the notebook's folder) and the import path without importing;
    when one cannot be read, any name may come from it and only the problems it cannot
    solve (``inputs`` outside a join, a flow constant read bare) are reported."""
    module_defs: set[str] = set()
    for cell in model.module_cells:
        defs = defined_names(strip_magics(cell.source), search_dir)
        module_defs |= defs or set()
    scratch_defs: dict[str, int] = {}
    for cell in model.scratch_cells:
        for name in defined_names(strip_magics(cell.source), search_dir) or ():
            scratch_defs.setdefault(name, cell.index)
    known = module_defs | metaflow_names() | _BUILTINS
    problems: list[NameProblem] = []

    def report(
        refs: dict[str, int] | None, where: str, cell_index: int, cell_id: str | None, line_of
    ) -> None:
        for name, line in sorted((refs or {}).items(), key=lambda kv: (kv[1], kv[0])):
            if name not in known:
                problems.append(
                    NameProblem(
                        name,
                        where,
                        cell_index,
                        cell_id,
                        line_of(line),
                        scratch_defs.get(name),
                        where.startswith("step") and name in class_names,
                    )
                )

    class_names: set[str] = set()
    if model.flow_cell is not None:
        fc = model.flow_cell
        class_names = defined_names(fc.body) or set()
        refs = global_refs(fc.body, "class _Flow:")
        report(refs, "the flow cell", fc.cell_index, fc.cell_id, lambda n: fc.body_line + n - 1)
        for deco, deco_line in zip(fc.decorators, fc.decorator_lines):
            report(
                global_refs(deco[1:].strip()),
                "the flow cell",
                fc.cell_index,
                fc.cell_id,
                lambda n, d=deco_line: d + n - 1,
            )
    for cell in model.module_cells:
        refs = global_refs(strip_magics(cell.source))
        report(
            {n: line for n, line in (refs or {}).items() if n not in module_defs},
            f"module cell {cell.index + 1}",
            cell.index,
            cell.id,
            lambda n: n,
        )
    for step in model.steps:
        where = f"step {step.name!r}"
        args = "self, inputs" if model.is_join(step.name) else "self"
        refs = global_refs(step.body, f"def _step({args}):")
        report(refs, where, step.cell_index, step.cell_id, lambda n, s=step: s.body_line + n - 1)
        for deco, deco_line in zip(step.decorators, step.decorator_lines):
            refs = global_refs(deco[1:].strip())
            refs = {n: line for n, line in (refs or {}).items() if n not in class_names}
            report(refs, where, step.cell_index, step.cell_id, lambda n, d=deco_line: d + n - 1)
    if UNKNOWN_STAR in module_defs:
        return [
            p
            for p in problems
            if p.flow_constant or (p.name == "inputs" and p.where.startswith("step"))
        ]
    return problems

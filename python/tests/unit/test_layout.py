"""The package's modules import each other one way only: no import cycle, lazy imports inside
functions and imports for type checking included (a cycle there is still two modules that
each need the other)."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import jupyter_metaflow

PACKAGE = "jupyter_metaflow"


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    root = Path(jupyter_metaflow.__file__).parent
    found = {PACKAGE: root / "__init__.py"}
    for info in pkgutil.walk_packages([str(root)], prefix=PACKAGE + "."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        found[info.name] = Path(spec.origin)
    return found


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports anywhere in its text."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                origin = ".".join(parent + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from . import x`: the module x if it is one, else a name of the package
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` imports a.b.c (and a.b)
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def package_graph() -> dict[str, set[str]]:
    files = module_files()
    # a subpackage's modules import their package's __init__ implicitly: not a dependency on
    # what that __init__ itself imports, so the package node stands for its __init__ text only
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def test_the_package_has_no_import_cycle():
    graph = package_graph()
    assert len(graph) > 20 and "jupyter_metaflow.session" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []

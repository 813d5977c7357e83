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


# ---------------------------------------------------------------- Metaflow's private internals

PRIVATE_HOME = f"{PACKAGE}._metaflow"
PUBLIC_METAFLOW_MODULES = frozenset({"metaflow", "metaflow.exception", "metaflow.cards"})
"""Metaflow's documented modules; every other ``metaflow.*`` module is its internals."""

PRIVATE_METAFLOW_ATTRIBUTES = frozenset(
    {
        # FlowSpec's class internals
        "_graph",
        "_steps",
        "_flow_state",
        "_flow_cls",
        "_init_graph",
        "_get_parameters",
        "_process_config_decorators",
        "_set_constants",
        # datastores, which only the Client API and Metaflow's task code are meant to touch
        "_datastore",
        "_flow_datastore",
        "get_task_datastore",
        "get_task_datastores",
        "load_artifacts",
        "save_artifacts",
    }
)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_metaflow_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def metaflow_private_uses(text: str, filename: str) -> list[str]:
    """``file:line: what`` for each place ``text`` reaches into Metaflow's internals: an import
    of a ``metaflow.*`` module outside the public ones or of a ``_name`` from Metaflow, a
    ``metaflow.<internal module>`` attribute, a ``_keyword`` argument to one of Metaflow's
    callables (``Run(p, _namespace_check=False)``), a known private Metaflow attribute (read
    on anything but ``self``)."""
    tree = ast.parse(text, filename)
    aliases = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] == "metaflow"
    }
    imported = {  # names bound to Metaflow's functions and classes
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not node.level and node.module
        if node.module.split(".")[0] == "metaflow"
        for alias in node.names
    }
    found = []
    for node in ast.walk(tree):
        what = []
        if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id in imported)
            or (
                isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in aliases
            )
        ):
            callee = ast.unparse(node.func)
            what = [f"{callee}({k.arg}=...)" for k in node.keywords if k.arg and _is_private(k.arg)]
        elif isinstance(node, ast.Import):
            what = [
                f"import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "metaflow" and a.name not in PUBLIC_METAFLOW_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split(".")[0] != "metaflow":
                continue
            if node.module not in PUBLIC_METAFLOW_MODULES:
                what = [f"from {node.module} import {', '.join(a.name for a in node.names)}"]
            else:
                what = [
                    f"from {node.module} import {a.name}"
                    for a in node.names
                    if _is_private(a.name)
                    or (
                        f"{node.module}.{a.name}" not in PUBLIC_METAFLOW_MODULES
                        and _is_metaflow_module(f"{node.module}.{a.name}")
                    )
                ]
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                continue  # an object of ours (names such as ``_steps`` are common)
            if node.attr in PRIVATE_METAFLOW_ATTRIBUTES:
                what = [f".{node.attr}"]
            elif (
                isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and (
                    _is_private(node.attr)
                    or (
                        f"metaflow.{node.attr}" not in PUBLIC_METAFLOW_MODULES
                        and _is_metaflow_module(f"metaflow.{node.attr}")
                    )
                )
            ):
                what = [f"{node.value.id}.{node.attr}"]
        found += [f"{filename}:{node.lineno}: {w}" for w in what]
    return sorted(found, key=lambda line: (line.split(":")[0], int(line.split(":")[1])))


def test_only_the_metaflow_package_touches_metaflow_internals():
    files = module_files()
    outside = {n: p for n, p in files.items() if n != PRIVATE_HOME}
    outside = {n: p for n, p in outside.items() if not n.startswith(PRIVATE_HOME + ".")}
    assert len(outside) > 20 and any(n.startswith(PRIVATE_HOME + ".") for n in files)
    root = Path(jupyter_metaflow.__file__).parent.parent
    offenders = [
        line
        for path in outside.values()
        for line in metaflow_private_uses(
            path.read_text(encoding="utf-8"), str(path.relative_to(root))
        )
    ]
    assert not offenders, (
        "Metaflow's private internals used outside jupyter_metaflow._metaflow; move the call "
        "into jupyter_metaflow._metaflow and import it from there:\n" + "\n".join(offenders)
    )


def test_the_private_use_finder_finds_private_uses():
    text = "\n".join(
        [
            "import metaflow",
            "import metaflow.metaflow_version as mv",
            "from metaflow import FlowSpec, Run, Task, decorators, _vendor",
            "from metaflow.lint import linter",
            "from metaflow.exception import MetaflowNotFound",
            "from metaflow.cards import get_cards",
            "graph = FlowSpec._graph",
            "version = metaflow.metaflow_version.get_version()",
            "run = metaflow.Run('F/1')",
            "version = metaflow.__version__",
            "ds = backend.flow_datastore.get_task_datastores(run_id='1')",
            "own = self._steps",
            "task = Task('F/1/s/2', _namespace_check=False)",
            "step = metaflow.Step('F/1/s', _namespace_check=False)",
            "ours = helper('x', _hops=2)",
        ]
    )
    assert metaflow_private_uses(text, "m.py") == [
        "m.py:2: import metaflow.metaflow_version",
        "m.py:3: from metaflow import decorators",
        "m.py:3: from metaflow import _vendor",
        "m.py:4: from metaflow.lint import linter",
        "m.py:7: ._graph",
        "m.py:8: metaflow.metaflow_version",
        "m.py:11: .get_task_datastores",
        "m.py:13: Task(_namespace_check=...)",
        "m.py:14: metaflow.Step(_namespace_check=...)",
    ]

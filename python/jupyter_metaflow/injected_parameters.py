"""papermill's parameters as the flow's Parameters.

``papermill NB.ipynb OUT.ipynb -p genre Comedy -p recommendations 3`` inserts, after the cell
tagged ``parameters`` (the top of the notebook without one), a cell tagged
``injected-parameters``::

    # Parameters
    genre = "Comedy"
    recommendations = 3

and executes the notebook. The kernel sees that cell's code only (no tags), so it knows it by
its text: papermill's ``# Parameters`` comment, then nothing but assignments of literals to
names. Its values become command-line options (``--genre Comedy --recommendations 3``) after
the ``%%flow`` line's own, converted by the flow's click options exactly as ``python flow.py
run`` converts them; a name that is no Parameter of the flow is an error naming it and the
flow's Parameters.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["is_injected_cell", "parameter_options", "parse_injected_cell", "unknown_names"]

HEADER = "# Parameters"


def parse_injected_cell(source: str) -> dict[str, Any] | None:
    """``{name: value}`` of papermill's injected cell, or None when ``source`` is not one."""
    lines = source.strip().splitlines()
    if not lines or lines[0].strip() != HEADER:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    values: dict[str, Any] = {}
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            return None
        try:
            values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            return None
    return values


def is_injected_cell(source: str) -> bool:
    return parse_injected_cell(source) is not None


def _option_text(value: Any) -> str:
    """A value as it is written on Metaflow's command line (JSON for lists and dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value)
    return str(value)


def parameter_options(values: dict[str, Any], declared: dict[str, str]) -> list[str]:
    """``--name=value`` options for the values papermill injected; ``declared`` maps the
    flow's attribute names to their Parameter names (``genre = Parameter("genre")``): either
    name may be injected. ``None`` (papermill's "no value") leaves the default."""
    by_name = {**{a: p for a, p in declared.items()}, **{p: p for p in declared.values()}}
    return [
        f"--{by_name.get(name, name)}={_option_text(value)}"
        for name, value in values.items()
        if value is not None
    ]


def unknown_names(values: Iterable[str], declared: dict[str, str]) -> list[str]:
    """The injected names that are no Parameter of the flow (by Parameter or attribute name)."""
    known = set(declared) | set(declared.values())
    return [name for name in values if name not in known]

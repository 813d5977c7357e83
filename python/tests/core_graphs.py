"""Metaflow's core test graph shapes as notebooks.

The shapes are those of ``test/core/graphs/*.json`` in Netflix/metaflow (one entry per file,
same step names and transitions); the cells are written here. Every step appends its name to
``self.path`` (a foreach body's first step its name and its input), joins merge their inputs'
paths in a fixed order, switches read a condition the step sets, so two runs of one shape are
equal artifact by artifact exactly when they ran the same tasks the same way.

A shape that branches on a switch gets one notebook per scenario worth running (``SCENARIOS``):
the arm holding a split taken and not taken, a switch inside a foreach taking both arms.
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat

# step -> (kind, ...): ("linear", target) | ("branch", [targets]) | ("foreach", target, var)
#   | ("parallel", target, count) | ("switch", {case: target}, condition) | ("end",)
# A step named in JOINS reads ``inputs``; a step in PARALLEL_STEPS is decorated ``@parallel``.
SHAPES: dict[str, dict[str, tuple]] = {
    "linear": {"start": ("linear", "a"), "a": ("linear", "end"), "end": ("end",)},
    "branch": {
        "start": ("branch", ["a", "b"]),
        "a": ("linear", "join"),
        "b": ("linear", "join"),
        "join": ("linear", "end"),
        "end": ("end",),
    },
    "nested_branches": {
        "start": ("branch", ["a", "b"]),
        "a": ("branch", ["aa", "ab"]),
        "b": ("branch", ["ba", "bb"]),
        "aa": ("branch", ["aaa", "aab"]),
        "ab": ("branch", ["aba", "abb"]),
        "ba": ("branch", ["baa", "bab"]),
        "bb": ("branch", ["bba", "bbb"]),
        "aaa": ("linear", "aaa_aab_join"),
        "aab": ("linear", "aaa_aab_join"),
        "aba": ("linear", "aba_abb_join"),
        "abb": ("linear", "aba_abb_join"),
        "baa": ("linear", "baa_bab_join"),
        "bab": ("linear", "baa_bab_join"),
        "bba": ("linear", "bba_bbb_join"),
        "bbb": ("linear", "bba_bbb_join"),
        "aaa_aab_join": ("linear", "aa_ab_join"),
        "aba_abb_join": ("linear", "aa_ab_join"),
        "baa_bab_join": ("linear", "ba_bb_join"),
        "bba_bbb_join": ("linear", "ba_bb_join"),
        "aa_ab_join": ("linear", "a_b_join"),
        "ba_bb_join": ("linear", "a_b_join"),
        "a_b_join": ("linear", "end"),
        "end": ("end",),
    },
    "foreach": {
        "start": ("linear", "foreach_split"),
        "foreach_split": ("foreach", "foreach_inner_first", "arr"),
        "foreach_inner_first": ("linear", "foreach_inner_second"),
        "foreach_inner_second": ("linear", "foreach_join"),
        "foreach_join": ("linear", "end"),
        "end": ("end",),
    },
    "small_foreach": {
        "start": ("linear", "foreach_split"),
        "foreach_split": ("foreach", "foreach_inner", "arr"),
        "foreach_inner": ("linear", "foreach_join"),
        "foreach_join": ("linear", "end"),
        "end": ("end",),
    },
    "nested_foreach": {
        "start": ("linear", "foreach_split_x"),
        "foreach_split_x": ("foreach", "foreach_split_y", "x"),
        "foreach_split_y": ("foreach", "foreach_split_z", "y"),
        "foreach_split_z": ("foreach", "foreach_inner", "z"),
        "foreach_inner": ("linear", "foreach_join_z"),
        "foreach_join_z": ("linear", "foreach_join_y"),
        "foreach_join_y": ("linear", "foreach_join_x"),
        "foreach_join_x": ("linear", "end"),
        "end": ("end",),
    },
    "parallel": {
        "start": ("linear", "parallel_split"),
        "parallel_split": ("parallel", "parallel_inner", 2),
        "parallel_inner": ("linear", "parallel_join"),
        "parallel_join": ("linear", "end"),
        "end": ("end",),
    },
    "switch_basic": {
        "start": ("linear", "switch_step"),
        "switch_step": ("switch", {"case1": "a", "case2": "b", "case3": "c"}, "condition"),
        "a": ("linear", "end"),
        "b": ("linear", "end"),
        "c": ("linear", "end"),
        "end": ("end",),
    },
    "switch_nested": {
        "start": ("switch", {"case1": "switch2", "case2": "b"}, "condition1"),
        "switch2": ("switch", {"case2_1": "c", "case2_2": "d"}, "condition2"),
        "b": ("linear", "end"),
        "c": ("linear", "end"),
        "d": ("linear", "end"),
        "end": ("end",),
    },
    "switch_in_branch": {
        "start": ("branch", ["a", "b"]),
        "a": ("switch", {"case1": "c", "case2": "d"}, "condition"),
        "b": ("linear", "join"),
        "c": ("linear", "join"),
        "d": ("linear", "join"),
        "join": ("linear", "end"),
        "end": ("end",),
    },
    "switch_in_foreach": {
        "start": ("foreach", "process_item", "items"),
        "process_item": ("switch", {"type_a": "handle_a", "type_b": "handle_b"}, "item_type"),
        "handle_a": ("linear", "join"),
        "handle_b": ("linear", "join"),
        "join": ("linear", "end"),
        "end": ("end",),
    },
    "branch_in_switch": {
        "start": ("switch", {"process": "process_branch", "skip": "skip_path"}, "mode"),
        "process_branch": ("branch", ["p1", "p2"]),
        "p1": ("linear", "process_join"),
        "p2": ("linear", "process_join"),
        "process_join": ("linear", "end"),
        "skip_path": ("linear", "end"),
        "end": ("end",),
    },
    "foreach_in_switch": {
        "start": ("switch", {"process": "process_items", "skip": "skip_processing"}, "mode"),
        "process_items": ("foreach", "do_work", "items_to_process"),
        "do_work": ("linear", "join_work"),
        "join_work": ("linear", "end"),
        "skip_processing": ("linear", "end"),
        "end": ("end",),
    },
    "recursive_switch": {
        "start": ("linear", "loop_step"),
        "loop_step": ("switch", {"continue": "loop_step", "exit": "exit_loop"}, "loop_status"),
        "exit_loop": ("linear", "end"),
        "end": ("end",),
    },
    "recursive_switch_inside_foreach": {
        "start": ("foreach", "start_loop_for_item", "items"),
        "start_loop_for_item": ("linear", "loop_body"),
        "loop_body": (
            "switch",
            {"True": "loop_body", "False": "exit_item_loop"},
            "should_continue",
        ),
        "exit_item_loop": ("linear", "join"),
        "join": ("linear", "end"),
        "end": ("end",),
    },
}

JOINS = {
    "branch": {"join"},
    "foreach": {"foreach_join"},
    "small_foreach": {"foreach_join"},
    "nested_branches": {
        "aaa_aab_join",
        "aba_abb_join",
        "baa_bab_join",
        "bba_bbb_join",
        "aa_ab_join",
        "ba_bb_join",
        "a_b_join",
    },
    "nested_foreach": {"foreach_join_z", "foreach_join_y", "foreach_join_x"},
    "parallel": {"parallel_join"},
    "switch_in_branch": {"join"},
    "switch_in_foreach": {"join"},
    "branch_in_switch": {"process_join"},
    "foreach_in_switch": {"join_work"},
    "recursive_switch_inside_foreach": {"join"},
}
PARALLEL_STEPS = {"parallel": {"parallel_inner"}}

FOREACH_VALUES = {  # smaller than Metaflow's defaults: the same shapes with fewer tasks
    "arr": "[1, 2, 3]",
    "x": "'ab'",
    "y": "'c'",
    "z": "'de'",
    "items_to_process": "['item_1', 'item_2']",
}

# (scenario name, {step: extra body line(s)}): what conditions and foreach lists the run uses
SCENARIOS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "switch_basic": [("b", {"switch_step": "self.condition = 'case2'"})],
    "switch_nested": [
        ("d", {"start": "self.condition1 = 'case1'", "switch2": "self.condition2 = 'case2_2'"})
    ],
    "switch_in_branch": [("c", {"a": "self.condition = 'case1'"})],
    "switch_in_foreach": [
        (
            "both",
            {
                "start": "self.items = ['type_a', 'type_b', 'type_a']",
                "process_item": "self.item_type = self.input",
            },
        )
    ],
    "branch_in_switch": [
        ("skip", {"start": "self.mode = 'skip'"}),
        ("process", {"start": "self.mode = 'process'"}),
    ],
    "foreach_in_switch": [
        ("skip", {"start": "self.mode = 'skip'"}),
        ("process", {"start": "self.mode = 'process'"}),
    ],
    "recursive_switch": [
        (
            "three",
            {
                "start": "self.count = 0",
                "loop_step": "self.count += 1\n"
                "self.loop_status = 'continue' if self.count < 3 else 'exit'",
            },
        )
    ],
    "recursive_switch_inside_foreach": [
        (
            "loops",
            {
                "start": "self.items = [1, 3]",
                "start_loop_for_item": "self.n = 0",
                "loop_body": "self.n += 1\nself.should_continue = str(self.n < self.input)",
            },
        )
    ],
}


@dataclass
class GraphNotebook:
    """One scenario of one shape: its notebook, flow name and what the run must contain."""

    shape: str
    scenario: str
    flow_name: str
    notebook: nbformat.NotebookNode


def flow_name(shape: str, scenario: str) -> str:
    words = (shape + ("_" + scenario if scenario else "")).split("_")
    return "".join(w.capitalize() for w in words) + "Flow"


def _transition(spec: tuple) -> str | None:
    kind = spec[0]
    if kind == "linear":
        return f"self.next(self.{spec[1]})"
    if kind == "branch":
        return "self.next({})".format(", ".join(f"self.{t}" for t in spec[1]))
    if kind == "foreach":
        return f"self.next(self.{spec[1]}, foreach={spec[2]!r})"
    if kind == "parallel":
        return f"self.next(self.{spec[1]}, num_parallel={spec[2]})"
    if kind == "switch":
        cases = ", ".join(f"{case!r}: self.{target}" for case, target in spec[1].items())
        return f"self.next({{{cases}}}, condition={spec[2]!r})"
    return None


def step_cells(shape: str, extra: dict[str, str]) -> list[str]:
    """The step cells of ``shape`` (in the order of the shape's definition)."""
    graph = SHAPES[shape]
    joins = JOINS.get(shape, set())
    foreach_bodies = {spec[1] for spec in graph.values() if spec[0] in ("foreach", "parallel")}
    cells = []
    for name, spec in graph.items():
        lines = [f"%%step {name}"]
        if name in PARALLEL_STEPS.get(shape, ()):
            lines.append("@parallel")
        if name == "start":
            lines.append("self.path = ['start']")
        elif name in joins:
            lines.append(f"self.path = sorted(p for inp in inputs for p in inp.path) + [{name!r}]")
        elif name in PARALLEL_STEPS.get(shape, ()):
            lines.append(f"self.path = self.path + ['{name}:%d' % current.parallel.node_index]")
        elif name in foreach_bodies:
            lines.append(f"self.path = self.path + ['{name}:%s' % (self.input,)]")
        else:
            lines.append(f"self.path = self.path + [{name!r}]")
        if spec[0] == "foreach" and spec[2] in FOREACH_VALUES:
            lines.append(f"self.{spec[2]} = {FOREACH_VALUES[spec[2]]}")
        if name in extra:
            lines.append(extra[name])
        transition = _transition(spec)
        if name == "end":
            lines.append("print('path:', self.path)")
        elif transition:
            lines.append(transition)
        cells.append("\n".join(lines))
    return cells


def graph_notebooks() -> list[GraphNotebook]:
    """Every shape's notebooks (a shape without a switch has one, named after the shape)."""
    out = []
    for shape in SHAPES:
        for scenario, extra in SCENARIOS.get(shape, [("", {})]):
            name = flow_name(shape, scenario)
            cells = [
                nbformat.v4.new_markdown_cell(
                    f"# Metaflow core graph `{shape}` {scenario}".strip()
                ),
                nbformat.v4.new_code_cell("%load_ext jupyter_metaflow"),
                nbformat.v4.new_code_cell(f"%%flow {name}\npass"),
            ]
            cells += [nbformat.v4.new_code_cell(source) for source in step_cells(shape, extra)]
            nb = nbformat.v4.new_notebook(cells=cells)
            nb.metadata["kernelspec"] = {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
            out.append(GraphNotebook(shape, scenario, name, nb))
    return out

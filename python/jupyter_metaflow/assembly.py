"""The notebook's cells put together into a flow: :func:`assemble` -> :class:`FlowModel`.

Each cell is read by :mod:`jupyter_metaflow.cells`; here the flow gets its name (the flow
cell's, else the notebook's), implied transitions are resolved, parents, cycles and joins found,
and every problem becomes a :class:`~jupyter_metaflow.cells.CellError` naming its cell.

Join steps: a step is a join when the graph makes it one. Walking the graph from ``start``
with a stack of open splits (as Metaflow's graph does): a step reached from several branches
of the innermost open static split closes it; inside an open foreach, a step whose body reads
the name ``inputs`` closes it (also where the arms of a switch inside the foreach meet); a
foreach that is still open when a chain of single steps reaches ``end`` (or the convergence of
an enclosing split) is closed by the last step(s) before that point, innermost foreach last.
The first step of a foreach body never joins it.

Nothing here imports Metaflow; the TypeScript frontend mirrors it (``src/assembly.ts``) through
the shared vectors in ``python/tests/vectors/assembly.json``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .cells import (
    CellError,
    CellInput,
    CellKind,
    CellRulesError,
    FlowCell,
    StepCell,
    Transition,
    cell_error,
    classify,
    declared_step_name,
    parse_flow_cell,
    parse_step_cell,
)

__all__ = ["FlowModel", "assemble", "flow_name_from_path"]


def flow_name_from_path(path: str | None) -> str:
    """``train_model.ipynb`` -> ``TrainModelFlow``; ``NotebookFlow`` without a usable name."""
    if not path:
        return "NotebookFlow"
    stem = re.split(r"[\\/]", path)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    words = [w for w in re.split(r"[^0-9A-Za-z]+", ascii_stem) if w]
    if not words:
        return "NotebookFlow"
    name = "".join(w[0].upper() + w[1:] for w in words)
    if name[0].isdigit():
        name = "Notebook" + name
    if not name.endswith("Flow"):
        name += "Flow"
    return name


@dataclass
class FlowModel:
    """The flow a notebook's cells describe. See ``to_json`` for the serialized shape."""

    name: str
    name_source: str
    flow_cell: FlowCell | None
    steps: list[StepCell]
    module_cells: list[CellInput]
    scratch_cells: list[CellInput]
    markdown_above: dict[str, str]
    flow_doc: str | None
    errors: list[CellError]
    _next: dict[str, Transition | None] = field(default_factory=dict, repr=False)
    _implied: set[str] = field(default_factory=set, repr=False)
    _parents: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _joins: set[str] = field(default_factory=set, repr=False)

    def step(self, name: str) -> StepCell:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def next_of(self, step: str) -> Transition | None:
        """The step's transition, implied linear ones resolved; None for ``end`` (or a step
        whose transition could not be resolved, which has an error)."""
        return self._next.get(step)

    def is_implied(self, step: str) -> bool:
        """True when the step has no ``self.next`` and goes to the next step cell."""
        return step in self._implied

    def is_join(self, step: str) -> bool:
        """True when the graph makes the step a join (``def step(self, inputs)``)."""
        return step in self._joins

    def parents(self, step: str) -> list[str]:
        """Steps with a transition to ``step``, in notebook order."""
        return list(self._parents.get(step, ()))

    def to_json(self) -> dict[str, Any]:
        """The model as plain JSON (what the frontend mirrors and the comm carries)::

        {
          "name": str,                       # flow class name
          "name_source": "magic"|"tag"|"notebook"|"default",
          "doc": str | null,                 # flow docstring (first markdown cell)
          "flow": null | {"cell_index", "cell_id", "decorators": [str],
                          "param_args": [str], "body_line": int},
          "steps": [                         # notebook order
            {"name", "cell_index", "cell_id", "decorators": [str], "body_line": int,
             "doc": str | null,              # markdown cell right above
             "transition": null | Transition.to_json(),   # implied ones resolved
             "implied": bool,                # no self.next in the cell
             "is_join": bool, "parents": [str]}
          ],
          "module_cells": [int], "scratch_cells": [int],   # cell indexes
          "errors": [CellError.to_json()]
        }
        """
        flow = None
        if self.flow_cell is not None:
            fc = self.flow_cell
            flow = {
                "cell_index": fc.cell_index,
                "cell_id": fc.cell_id,
                "decorators": list(fc.decorators),
                "param_args": list(fc.param_args),
                "body_line": fc.body_line,
            }
        steps = []
        for s in self.steps:
            t = self._next.get(s.name)
            steps.append(
                {
                    "name": s.name,
                    "cell_index": s.cell_index,
                    "cell_id": s.cell_id,
                    "decorators": list(s.decorators),
                    "body_line": s.body_line,
                    "doc": self.markdown_above.get(s.name),
                    "transition": None if t is None else t.to_json(),
                    "implied": s.name in self._implied,
                    "is_join": s.name in self._joins,
                    "parents": self.parents(s.name),
                }
            )
        return {
            "name": self.name,
            "name_source": self.name_source,
            "doc": self.flow_doc,
            "flow": flow,
            "steps": steps,
            "module_cells": [c.index for c in self.module_cells],
            "scratch_cells": [c.index for c in self.scratch_cells],
            "errors": [e.to_json() for e in self.errors],
        }


def assemble(cells: list[CellInput], notebook_path: str | None = None) -> FlowModel:
    """Apply the notebook contract to the cells; never raises for bad cells (see ``errors``)."""
    errors: list[CellError] = []
    flow_cell: FlowCell | None = None
    steps: list[StepCell] = []
    by_name: dict[str, StepCell] = {}
    module_cells: list[CellInput] = []
    scratch_cells: list[CellInput] = []
    markdown_above: dict[str, str] = {}
    flow_doc: str | None = None
    flow_doc_index: int | None = None
    flow_seen: int | None = None
    failed_names: set[str | None] = set()
    previous: CellInput | None = None

    for cell in cells:
        kind = classify(cell)
        if kind is CellKind.MARKDOWN and flow_doc is None and cell.source.strip():
            flow_doc = cell.source.strip()
            flow_doc_index = cell.index
        elif kind is CellKind.FLOW:
            if flow_seen is not None:
                errors.append(
                    cell_error(
                        cell,
                        1,
                        f"A second flow cell (the first is cell {flow_seen + 1}).",
                        "Keep one %%flow cell: merge this one into it or delete it.",
                        "two-flow-cells",
                    )
                )
            else:
                flow_seen = cell.index
                if steps:
                    errors.append(
                        cell_error(
                            cell,
                            1,
                            f"The flow cell comes after step cell {steps[0].cell_index + 1}.",
                            "Move the %%flow cell above the first %%step cell.",
                            "flow-after-step",
                        )
                    )
                try:
                    flow_cell = parse_flow_cell(cell)
                except CellRulesError as exc:
                    errors.append(exc.error)
        elif kind is CellKind.STEP:
            try:
                step = parse_step_cell(cell)
            except CellRulesError as exc:
                errors.append(exc.error)
                failed_names.add(declared_step_name(cell))
            else:
                if step.name in by_name:
                    first = by_name[step.name]
                    errors.append(
                        cell_error(
                            cell,
                            1,
                            f"Step {step.name!r} is already defined in cell "
                            f"{first.cell_index + 1}.",
                            "Rename one of the two steps or delete one of the cells.",
                            "duplicate-step",
                        )
                    )
                else:
                    by_name[step.name] = step
                    steps.append(step)
                    if (
                        previous is not None
                        and previous.cell_type == "markdown"
                        and previous.source.strip()
                        and previous.index != flow_doc_index
                    ):
                        markdown_above[step.name] = previous.source.strip()
        elif kind is CellKind.MODULE:
            module_cells.append(cell)
        elif kind is CellKind.SCRATCH:
            scratch_cells.append(cell)
        previous = cell

    if flow_cell is not None and flow_cell.name:
        name, name_source = flow_cell.name, flow_cell.name_source or "magic"
    elif notebook_path:
        name, name_source = flow_name_from_path(notebook_path), "notebook"
    else:
        name, name_source = "NotebookFlow", "default"

    model = FlowModel(
        name=name,
        name_source=name_source,
        flow_cell=flow_cell,
        steps=steps,
        module_cells=module_cells,
        scratch_cells=scratch_cells,
        markdown_above=markdown_above,
        flow_doc=flow_doc,
        errors=errors,
    )
    _resolve_graph(model, failed_names)
    return model


def _step_error(step: StepCell, line: int | None, message: str, fix: str, code: str) -> CellError:
    return CellError(step.cell_index, step.cell_id, line, message, fix, code)


def _resolve_graph(model: FlowModel, failed_names: set[str | None]) -> None:
    """Transitions (implied ones resolved), parents, cycle check and joins.
    ``failed_names``: names of step cells that did not parse (already reported)."""
    steps = model.steps
    names = {s.name: s for s in steps}
    order = {s.name: i for i, s in enumerate(steps)}
    errors = model.errors
    if not steps:
        if not failed_names:
            errors.append(
                CellError(
                    None,
                    None,
                    None,
                    "The notebook has no step cells.",
                    "Add cells starting with %%step start and %%step end.",
                    "no-steps",
                )
            )
        return
    for required in ("start", "end"):
        if required not in names and required not in failed_names and None not in failed_names:
            errors.append(
                CellError(
                    None,
                    None,
                    None,
                    f"The flow has no {required!r} step.",
                    f"Add a cell starting with %%step {required}.",
                    f"missing-{required}",
                )
            )

    # transitions, implied ones resolved
    for i, step in enumerate(steps):
        t = step.transition
        if step.is_end:
            if t is not None:
                errors.append(
                    _step_error(
                        step,
                        t.line,
                        "The end step has a self.next(...) transition.",
                        "Remove the self.next(...) line: end is the last step.",
                        "end-has-next",
                    )
                )
            model._next[step.name] = None
            continue
        if t is None:
            if i + 1 < len(steps):
                t = Transition("linear", [steps[i + 1].name])
                model._implied.add(step.name)
            else:
                errors.append(
                    _step_error(
                        step,
                        None,
                        f"Step {step.name!r} has no self.next(...) and no step cell follows it.",
                        "End the cell with self.next(self.<next step>) or move it above the "
                        "step it leads to.",
                        "no-next",
                    )
                )
                model._next[step.name] = None
                continue
        unknown = [x for x in t.targets if x not in names and x not in failed_names]
        if unknown:
            errors.append(
                _step_error(
                    step,
                    t.line,
                    "self.next(...) goes to {}, which no step cell defines.".format(
                        ", ".join(repr(u) for u in unknown)
                    ),
                    f"Add a %%step {unknown[0]} cell or fix the name in self.next(...).",
                    "unknown-target",
                )
            )
        model._next[step.name] = t

    edges: dict[str, list[str]] = {}
    for step in steps:
        t = model._next.get(step.name)
        out = [] if t is None else [x for x in t.targets if x in names]
        if t is not None and t.kind == "switch":
            out = [x for x in out if x != step.name]  # a switch may loop to itself
        edges[step.name] = list(dict.fromkeys(out))
    parents: dict[str, list[str]] = {s.name: [] for s in steps}
    for step in steps:
        for target in edges[step.name]:
            if step.name not in parents[target]:
                parents[target].append(step.name)
    model._parents = parents

    cycle = _find_cycle(steps, edges)
    if cycle:
        first = names[cycle[0]]
        errors.append(
            _step_error(
                first,
                getattr(model._next.get(first.name), "line", None),
                "The transitions form a loop: {}.".format(" -> ".join(cycle)),
                f"Change a self.next(...) so the steps no longer lead back to {cycle[0]!r}.",
                "cycle",
            )
        )
        return
    if "start" in names:
        model._joins = _find_joins(model, edges, parents, order)


def _find_cycle(steps: list[StepCell], edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    for root in steps:
        if state.get(root.name):
            continue
        stack = [(root.name, iter(edges[root.name]))]
        path = [root.name]
        state[root.name] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(edges[child])))
    return None


def _find_joins(
    model: FlowModel,
    edges: dict[str, list[str]],
    parents: dict[str, list[str]],
    order: dict[str, int],
) -> set[str]:
    """Decide which steps are joins (rule in the module docstring), in topological order."""
    names = {s.name: s for s in model.steps}
    reachable: set[str] = set()
    todo = ["start"]
    while todo:
        n = todo.pop()
        if n not in reachable:
            reachable.add(n)
            todo.extend(edges[n])
    indegree = {n: sum(1 for p in parents[n] if p in reachable) for n in reachable}
    ready = sorted((n for n in reachable if indegree[n] == 0), key=order.__getitem__)
    # a frame is (split step, kind "split"|"foreach", branch root)
    stacks: dict[str, list[tuple[str, str, str]]] = {}
    joins: set[str] = set()

    def out_stack(parent: str, child: str) -> list[tuple[str, str, str]]:
        t = model._next.get(parent)
        base = stacks[parent]
        if t is not None and t.kind == "split":
            return [*base, (parent, "split", child)]
        if t is not None and t.kind in ("foreach", "num_parallel"):
            return [*base, (parent, "foreach", child)]
        return base

    def switch_convergence(node: str) -> bool:
        """Do ``node``'s parents come from the cases of one switch (no split in between)?
        Such a step continues the chain; it does not close anything."""
        origins = set()
        for parent in parents[node]:
            current = parent
            while True:
                t = model._next.get(current)
                if t is not None and t.kind == "switch":
                    origins.add(current)
                    break
                if t is None or t.kind != "linear" or len(parents[current]) != 1:
                    return False
                current = parents[current][0]
        return len(origins) == 1

    def forced(node: str, stack: list[tuple[str, str, str]]) -> bool:
        """Must ``node`` close a foreach because the chain it starts reaches a point where
        the open foreaches have to be closed (``end`` or a convergence)?"""
        open_foreach = 0
        for frame in reversed(stack):
            if frame[1] != "foreach":
                break
            open_foreach += 1
        chain = [node]
        current = node
        taken = 0
        while True:
            t = model._next.get(current)
            if t is None or t.kind != "linear" or t.targets[0] not in names:
                return False
            succ = t.targets[0]
            if succ == "end" or (len(parents[succ]) > 1 and not switch_convergence(succ)):
                break
            if names[succ].reads_inputs:
                taken += 1
            else:
                chain.append(succ)
            current = succ
            if len(chain) + taken > 1000:
                return False
        return len(chain) <= open_foreach - taken

    while ready:
        node = ready.pop(0)
        incoming = [out_stack(p, node) for p in parents[node] if p in stacks]
        stack = incoming[0] if incoming else []
        converges = len(incoming) > 1 and switch_convergence(node)
        if len(incoming) > 1 and not converges:
            tops = {s[-1] if s else None for s in incoming}
            opened = {t for t in tops if t is not None}
            if (
                len(opened) == len(tops) > 1
                and len({t[0] for t in opened}) == 1
                and next(iter(opened))[1] == "split"
            ):
                joins.add(node)
                stack = stack[:-1]
        elif (
            stack
            and parents[node]
            and parents[node][0] != stack[-1][0]
            and (names[node].reads_inputs or (stack[-1][1] == "foreach" and forced(node, stack)))
        ):
            joins.add(node)
            stack = stack[:-1]
        stacks[node] = stack
        for child in edges[node]:
            if child in indegree:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
                    ready.sort(key=order.__getitem__)
    return joins

/**
 * Flow assembly in the frontend: the notebook's cells put together into the
 * flow (steps, transitions, joins, errors), live and without a kernel.
 *
 * This MIRRORS python/jupyter_metaflow/assembly.py (the per-cell rules it
 * applies are cellrules.ts, mirroring cells.py); both sides are checked by the
 * same JSON test vectors, python/tests/vectors/assembly.json.
 */
import {
  cached,
  cellError,
  cellRulesError,
  classify,
  declaredStepName,
  parseFlowCell,
  parseStepCell,
  pyStrip,
  repr,
  type ICellInput,
  type IFlowCell,
  type IStepCell
} from './cellrules';
import type { ICellError, IFlowModel, IStep, ITransition } from './protocol';

/**
 * The flow a notebook's cells describe (`FlowModel.to_json()` of assembly.py) and its
 * parts, as the protocol schema defines them.
 */
export type { IFlowModel, ITransition };

/** One step of the assembled flow. */
export type IStepModel = IStep;

/** `train_model.ipynb` -> `TrainModelFlow`; `NotebookFlow` without a usable name. */
export function flowNameFromPath(path: string | null | undefined): string {
  if (!path) {
    return 'NotebookFlow';
  }
  let stem = path.split(/[\\/]/).pop() ?? '';
  if (stem.includes('.')) {
    stem = stem.slice(0, stem.lastIndexOf('.'));
  }
  // eslint-disable-next-line no-control-regex -- keeps the ASCII range, NUL included
  const ascii = stem.normalize('NFKD').replace(/[^\x00-\x7f]/g, '');
  const words = ascii.split(/[^0-9A-Za-z]+/).filter(w => w);
  if (!words.length) {
    return 'NotebookFlow';
  }
  let name = words.map(w => w[0].toUpperCase() + w.slice(1)).join('');
  if (/^[0-9]/.test(name)) {
    name = 'Notebook' + name;
  }
  if (!name.endsWith('Flow')) {
    name += 'Flow';
  }
  return name;
}

/** Apply the notebook contract to the cells; never throws for bad cells (see `errors`). */
export function assemble(cells: ICellInput[], notebookPath?: string | null): IFlowModel {
  const errors: ICellError[] = [];
  let flowCell: IFlowCell | null = null;
  const steps: IStepCell[] = [];
  const byName = new Map<string, IStepCell>();
  const moduleCells: number[] = [];
  const scratchCells: number[] = [];
  const markdownAbove = new Map<string, string>();
  let flowDoc: string | null = null;
  let flowDocIndex: number | null = null;
  let flowSeen: number | null = null;
  const failedNames = new Set<string | null>();
  let previous: ICellInput | null = null;

  for (const cell of cells) {
    const kind = cached(cell, 'kind', () => classify(cell));
    if (kind === 'markdown' && flowDoc === null && cell.source.trim()) {
      flowDoc = pyStrip(cell.source);
      flowDocIndex = cell.index;
    } else if (kind === 'flow') {
      if (flowSeen !== null) {
        errors.push(
          cellError(
            cell,
            1,
            `A second flow cell (the first is cell ${flowSeen + 1}).`,
            'Keep one %%flow cell: merge this one into it or delete it.',
            'two-flow-cells'
          )
        );
      } else {
        flowSeen = cell.index;
        if (steps.length) {
          errors.push(
            cellError(
              cell,
              1,
              `The flow cell comes after step cell ${steps[0].cell_index + 1}.`,
              'Move the %%flow cell above the first %%step cell.',
              'flow-after-step'
            )
          );
        }
        try {
          flowCell = cached(cell, 'flow', () => parseFlowCell(cell));
        } catch (exc) {
          errors.push(cellRulesError(exc));
        }
      }
    } else if (kind === 'step') {
      let step: IStepCell | null = null;
      try {
        step = cached(cell, 'step', () => parseStepCell(cell));
      } catch (exc) {
        errors.push(cellRulesError(exc));
        failedNames.add(declaredStepName(cell));
      }
      if (step) {
        const first = byName.get(step.name);
        if (first) {
          errors.push(
            cellError(
              cell,
              1,
              `Step ${repr(step.name)} is already defined in cell ${first.cell_index + 1}.`,
              'Rename one of the two steps or delete one of the cells.',
              'duplicate-step'
            )
          );
        } else {
          byName.set(step.name, step);
          steps.push(step);
          if (
            previous !== null &&
            previous.cell_type === 'markdown' &&
            previous.source.trim() &&
            previous.index !== flowDocIndex
          ) {
            markdownAbove.set(step.name, pyStrip(previous.source));
          }
        }
      }
    } else if (kind === 'module') {
      moduleCells.push(cell.index);
    } else if (kind === 'scratch') {
      scratchCells.push(cell.index);
    }
    previous = cell;
  }

  let name: string;
  let nameSource: IFlowModel['name_source'];
  if (flowCell !== null && flowCell.name) {
    name = flowCell.name;
    nameSource = flowCell.nameSource ?? 'magic';
  } else if (notebookPath) {
    name = flowNameFromPath(notebookPath);
    nameSource = 'notebook';
  } else {
    name = 'NotebookFlow';
    nameSource = 'default';
  }

  const graph = Private.resolveGraph(steps, errors, failedNames);
  return {
    name,
    name_source: nameSource,
    doc: flowDoc,
    flow: flowCell && {
      cell_index: flowCell.cell_index,
      cell_id: flowCell.cell_id,
      decorators: [...flowCell.decorators],
      param_args: [...flowCell.param_args],
      body_line: flowCell.body_line
    },
    steps: steps.map(s => {
      const t = graph.next.get(s.name);
      return {
        name: s.name,
        cell_index: s.cell_index,
        cell_id: s.cell_id,
        decorators: [...s.decorators],
        body_line: s.body_line,
        doc: markdownAbove.get(s.name) ?? null,
        transition: t ? { ...t, targets: [...t.targets] } : null,
        implied: graph.implied.has(s.name),
        is_join: graph.joins.has(s.name),
        parents: [...(graph.parents.get(s.name) ?? [])]
      };
    }),
    module_cells: moduleCells,
    scratch_cells: scratchCells,
    errors
  };
}

/**
 * Steps downstream of `step` (not including it), following transitions; used
 * for stale propagation.
 */
export function descendants(model: IFlowModel, step: string): Set<string> {
  const next = new Map(model.steps.map(s => [s.name, s.transition?.targets ?? []]));
  const seen = new Set<string>();
  const todo = [...(next.get(step) ?? [])];
  while (todo.length) {
    const n = todo.pop()!;
    if (n !== step && !seen.has(n) && next.has(n)) {
      seen.add(n);
      todo.push(...next.get(n)!);
    }
  }
  return seen;
}

/**
 * Steps upstream of `step` (including it), in an order that runs parents before
 * children (notebook order breaks ties).
 */
export function upstreamInOrder(model: IFlowModel, step: string): string[] {
  const parents = new Map(model.steps.map(s => [s.name, s.parents]));
  const needed = new Set<string>();
  const todo = [step];
  while (todo.length) {
    const n = todo.pop()!;
    if (!needed.has(n) && parents.has(n)) {
      needed.add(n);
      todo.push(...parents.get(n)!);
    }
  }
  return topologicalOrder(model).filter(n => needed.has(n));
}

/** All steps, parents before children, ties in notebook order (cycles: notebook order). */
export function topologicalOrder(model: IFlowModel): string[] {
  const order = new Map(model.steps.map((s, i) => [s.name, i]));
  const indegree = new Map(model.steps.map(s => [s.name, 0]));
  for (const s of model.steps) {
    for (const t of new Set(s.transition?.targets ?? [])) {
      if (indegree.has(t) && t !== s.name) {
        indegree.set(t, indegree.get(t)! + 1);
      }
    }
  }
  const ready = model.steps.filter(s => indegree.get(s.name) === 0).map(s => s.name);
  const out: string[] = [];
  const byName = new Map(model.steps.map(s => [s.name, s]));
  while (ready.length) {
    ready.sort((a, b) => order.get(a)! - order.get(b)!);
    const n = ready.shift()!;
    out.push(n);
    for (const t of new Set(byName.get(n)!.transition?.targets ?? [])) {
      if (indegree.has(t) && t !== n) {
        indegree.set(t, indegree.get(t)! - 1);
        if (indegree.get(t) === 0) {
          ready.push(t);
        }
      }
    }
  }
  for (const s of model.steps) {
    if (!out.includes(s.name)) {
      out.push(s.name);
    }
  }
  return out;
}

/** Helpers mirroring assembly.py's private functions. */
namespace Private {
  interface IGraph {
    next: Map<string, ITransition | null>;
    implied: Set<string>;
    parents: Map<string, string[]>;
    joins: Set<string>;
  }

  function stepError(
    step: IStepCell,
    line: number | null,
    message: string,
    fix: string,
    code: string
  ): ICellError {
    return { code, cell_index: step.cell_index, cell_id: step.cell_id, line, message, fix };
  }

  /** Transitions (implied ones resolved), parents, cycle check and joins. */
  export function resolveGraph(
    steps: IStepCell[],
    errors: ICellError[],
    failedNames: Set<string | null>
  ): IGraph {
    const graph: IGraph = {
      next: new Map(),
      implied: new Set(),
      parents: new Map(),
      joins: new Set()
    };
    const names = new Map(steps.map(s => [s.name, s]));
    const order = new Map(steps.map((s, i) => [s.name, i]));
    const global = (message: string, fix: string, code: string): ICellError => ({
      code,
      cell_index: null,
      cell_id: null,
      line: null,
      message,
      fix
    });
    if (!steps.length) {
      if (!failedNames.size) {
        errors.push(
          global(
            'The notebook has no step cells.',
            'Add cells starting with %%step start and %%step end.',
            'no-steps'
          )
        );
      }
      return graph;
    }
    for (const required of ['start', 'end']) {
      if (!names.has(required) && !failedNames.has(required) && !failedNames.has(null)) {
        errors.push(
          global(
            `The flow has no ${repr(required)} step.`,
            `Add a cell starting with %%step ${required}.`,
            `missing-${required}`
          )
        );
      }
    }

    steps.forEach((step, i) => {
      let t = step.transition;
      if (step.name === 'end') {
        if (t !== null) {
          errors.push(
            stepError(
              step,
              t.line,
              'The end step has a self.next(...) transition.',
              'Remove the self.next(...) line: end is the last step.',
              'end-has-next'
            )
          );
        }
        graph.next.set(step.name, null);
        return;
      }
      if (t === null) {
        if (i + 1 < steps.length) {
          t = {
            kind: 'linear',
            targets: [steps[i + 1].name],
            foreach: null,
            condition: null,
            cases: null,
            num_parallel: null,
            line: null
          };
          graph.implied.add(step.name);
        } else {
          errors.push(
            stepError(
              step,
              null,
              `Step ${repr(step.name)} has no self.next(...) and no step cell follows it.`,
              'End the cell with self.next(self.<next step>) or move it above the ' +
                'step it leads to.',
              'no-next'
            )
          );
          graph.next.set(step.name, null);
          return;
        }
      }
      const unknown = t.targets.filter(x => !names.has(x) && !failedNames.has(x));
      if (unknown.length) {
        errors.push(
          stepError(
            step,
            t.line,
            `self.next(...) goes to ${unknown.map(repr).join(', ')}, which no step cell defines.`,
            `Add a %%step ${unknown[0]} cell or fix the name in self.next(...).`,
            'unknown-target'
          )
        );
      }
      graph.next.set(step.name, t);
    });

    const edges = new Map<string, string[]>();
    for (const step of steps) {
      const t = graph.next.get(step.name);
      let out = t ? t.targets.filter(x => names.has(x)) : [];
      if (t && t.kind === 'switch') {
        out = out.filter(x => x !== step.name); // a switch may loop to itself
      }
      edges.set(step.name, [...new Set(out)]);
    }
    for (const step of steps) {
      graph.parents.set(step.name, []);
    }
    for (const step of steps) {
      for (const target of edges.get(step.name)!) {
        const p = graph.parents.get(target)!;
        if (!p.includes(step.name)) {
          p.push(step.name);
        }
      }
    }

    const cycle = findCycle(steps, edges);
    if (cycle) {
      const first = names.get(cycle[0])!;
      errors.push(
        stepError(
          first,
          graph.next.get(first.name)?.line ?? null,
          `The transitions form a loop: ${cycle.join(' -> ')}.`,
          `Change a self.next(...) so the steps no longer lead back to ${repr(cycle[0])}.`,
          'cycle'
        )
      );
      return graph;
    }
    if (names.has('start')) {
      graph.joins = findJoins(graph, names, edges, order);
    }
    return graph;
  }

  function findCycle(steps: IStepCell[], edges: Map<string, string[]>): string[] | null {
    const state = new Map<string, number>();
    for (const root of steps) {
      if (state.get(root.name)) {
        continue;
      }
      const stack: Array<[string, string[], number]> = [[root.name, edges.get(root.name)!, 0]];
      const path = [root.name];
      state.set(root.name, 1);
      while (stack.length) {
        const frame = stack[stack.length - 1];
        const child = frame[2] < frame[1].length ? frame[1][frame[2]++] : null;
        if (child === null) {
          state.set(frame[0], 2);
          stack.pop();
          path.pop();
        } else if (state.get(child) === 1) {
          return [...path.slice(path.indexOf(child)), child];
        } else if (!state.get(child)) {
          state.set(child, 1);
          path.push(child);
          stack.push([child, edges.get(child)!, 0]);
        }
      }
    }
    return null;
  }

  /** A frame of the open-splits stack: split step, kind, branch root. */
  type Frame = [string, 'split' | 'foreach', string];

  /** Which steps are joins (rule in cells.py's module docstring), in topological order. */
  function findJoins(
    graph: IGraph,
    names: Map<string, IStepCell>,
    edges: Map<string, string[]>,
    order: Map<string, number>
  ): Set<string> {
    const parents = graph.parents;
    const reachable = new Set<string>();
    const todo = ['start'];
    while (todo.length) {
      const n = todo.pop()!;
      if (!reachable.has(n)) {
        reachable.add(n);
        todo.push(...edges.get(n)!);
      }
    }
    const indegree = new Map<string, number>();
    for (const n of reachable) {
      indegree.set(n, parents.get(n)!.filter(p => reachable.has(p)).length);
    }
    const byOrder = (a: string, b: string) => order.get(a)! - order.get(b)!;
    const ready = [...reachable].filter(n => indegree.get(n) === 0).sort(byOrder);
    const stacks = new Map<string, Frame[]>();
    const joins = new Set<string>();

    const outStack = (parent: string, child: string): Frame[] => {
      const t = graph.next.get(parent);
      const base = stacks.get(parent)!;
      if (t && t.kind === 'split') {
        return [...base, [parent, 'split', child]];
      }
      if (t && (t.kind === 'foreach' || t.kind === 'num_parallel')) {
        return [...base, [parent, 'foreach', child]];
      }
      return base;
    };

    // Do `node`'s parents come from the cases of one switch (no split in between)? Such a
    // step continues the chain; it does not close anything.
    const switchConvergence = (node: string): boolean => {
      const origins = new Set<string>();
      for (const parent of parents.get(node)!) {
        let current = parent;
        for (;;) {
          const t = graph.next.get(current);
          if (t && t.kind === 'switch') {
            origins.add(current);
            break;
          }
          if (!t || t.kind !== 'linear' || parents.get(current)!.length !== 1) {
            return false;
          }
          current = parents.get(current)![0];
        }
      }
      return origins.size === 1;
    };

    const forced = (node: string, stack: Frame[]): boolean => {
      let openForeach = 0;
      for (let i = stack.length - 1; i >= 0; i--) {
        if (stack[i][1] !== 'foreach') {
          break;
        }
        openForeach++;
      }
      const chain = [node];
      let current = node;
      let taken = 0;
      for (;;) {
        const t = graph.next.get(current);
        if (!t || t.kind !== 'linear' || !names.has(t.targets[0])) {
          return false;
        }
        const succ = t.targets[0];
        if (succ === 'end' || (parents.get(succ)!.length > 1 && !switchConvergence(succ))) {
          break;
        }
        if (names.get(succ)!.readsInputs) {
          taken++;
        } else {
          chain.push(succ);
        }
        current = succ;
        if (chain.length + taken > 1000) {
          return false;
        }
      }
      return chain.length <= openForeach - taken;
    };

    while (ready.length) {
      const node = ready.shift()!;
      const incoming = parents
        .get(node)!
        .filter(p => stacks.has(p))
        .map(p => outStack(p, node));
      let stack = incoming.length ? incoming[0] : [];
      const converges = incoming.length > 1 && switchConvergence(node);
      if (incoming.length > 1 && !converges) {
        const tops = new Map<string, Frame | null>();
        for (const s of incoming) {
          const top = s.length ? s[s.length - 1] : null;
          tops.set(JSON.stringify(top), top);
        }
        const values = [...tops.values()];
        if (
          !values.includes(null) &&
          new Set(values.map(t => t![0])).size === 1 &&
          values.length > 1 &&
          values[0]![1] === 'split'
        ) {
          joins.add(node);
          stack = stack.slice(0, -1);
        }
      } else if (
        stack.length &&
        parents.get(node)!.length &&
        parents.get(node)![0] !== stack[stack.length - 1][0]
      ) {
        if (
          names.get(node)!.readsInputs ||
          (stack[stack.length - 1][1] === 'foreach' && forced(node, stack))
        ) {
          joins.add(node);
          stack = stack.slice(0, -1);
        }
      }
      stacks.set(node, stack);
      for (const child of edges.get(node)!) {
        if (indegree.has(child)) {
          indegree.set(child, indegree.get(child)! - 1);
          if (indegree.get(child) === 0) {
            ready.push(child);
            ready.sort(byOrder);
          }
        }
      }
    }
    return joins;
  }
}

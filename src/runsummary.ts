/**
 * What the kernel's step statuses say about each step beyond its own state:
 * which steps are stale and which case a switch took. The kernel computes the
 * same rules in python/jupyter_metaflow/runsummary.py; both are checked by the
 * shared vectors in python/tests/vectors/runsummary.json.
 */
import { descendants } from './assembly';
import type { IFlowModel, IStep } from './protocol';

/** What a step's last run recorded, for the stale rule. */
export interface IRanStep {
  /** The cell source the run used (null when unknown). */
  source: string | null;
  /** The id of the cell the step ran from (null when unknown). */
  cellId: string | null;
  /** The kernel says the step is stale for a reason only it knows (another flow cell, a re-run). */
  stale: boolean;
}

/**
 * The steps that ran but would not run the same way again: a step whose cell
 * now differs from the source its run used (or that the kernel marks stale),
 * and every step downstream of it, or of a cell that ran under another step
 * name, that ran too. A step's cell is the model step cell with the id its run
 * recorded, else the step cell of the same name.
 */
export function staleSteps(
  model: IFlowModel,
  ran: ReadonlyMap<string, IRanStep>,
  sourceOfCell: (cellIndex: number) => string | null
): Set<string> {
  const byCellId = new Map(model.steps.filter(s => s.cell_id !== null).map(s => [s.cell_id, s]));
  const byName = new Map(model.steps.map(s => [s.name, s]));
  const edited = new Set<string>();
  const changed = new Set<string>();
  for (const [name, record] of ran) {
    const cell =
      (record.cellId !== null ? byCellId.get(record.cellId) : undefined) ?? byName.get(name);
    const current = cell ? sourceOfCell(cell.cell_index) : null;
    if (record.stale || (record.source !== null && current !== null && current !== record.source)) {
      edited.add(name);
      changed.add(name);
    }
    // A renamed step (its cell last ran under another name) changed what follows it.
    if (cell && cell.name !== name) {
      changed.add(cell.name);
    }
  }
  const stale = new Set(edited);
  for (const step of changed) {
    for (const d of descendants(model, step)) {
      if (ran.has(d)) {
        stale.add(d);
      }
    }
  }
  return stale;
}

/**
 * The case a switch step took: the case whose target (other than the step
 * itself, for a recursive switch) ran in the switch's run; null when not known.
 */
export function switchChoice(
  step: IStep,
  runOf: (step: string) => string | null | undefined
): string | null {
  const t = step.transition;
  const run = runOf(step.name);
  if (t?.kind !== 'switch' || !t.cases || run === undefined) {
    return null;
  }
  const taken = Object.entries(t.cases).find(
    ([, target]) => target !== step.name && runOf(target) === run
  );
  return taken ? taken[0] : null;
}

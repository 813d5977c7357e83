import * as fs from 'fs';
import * as path from 'path';

import { assemble } from '../assembly';
import { StatusBook } from '../model';
import type { INotebookCell, IStepStatus } from '../protocol';
import { staleSteps, switchChoice, type IRanStep } from '../runsummary';

/** The shared vectors, also read by python/tests/unit/test_runsummary.py (no copy here). */
const VECTORS = JSON.parse(
  fs.readFileSync(
    path.resolve(__dirname, '..', '..', 'python', 'tests', 'vectors', 'runsummary.json'),
    'utf-8'
  )
);

interface IVectorCell {
  cell_type: string;
  source: string;
  id?: string;
}

function modelOf(cells: IVectorCell[]) {
  const input: INotebookCell[] = cells.map((c, index) => ({
    index,
    id: c.id ?? null,
    cell_type: c.cell_type,
    source: c.source,
    tags: []
  }));
  const model = assemble(input);
  expect(model.errors).toEqual([]);
  return model;
}

describe('switchChoice (shared vectors)', () => {
  it.each<[string, any]>(VECTORS.switch_choice.map((c: any) => [c.name, c]))('%s', (_name, c) => {
    const model = modelOf(c.cells);
    const runOf = (step: string) => (step in c.runs ? c.runs[step] : undefined);
    for (const [name, expected] of Object.entries(c.expected)) {
      const step = model.steps.find(s => s.name === name)!;
      expect([name, switchChoice(step, runOf)]).toEqual([name, expected]);
    }
  });
});

describe('staleSteps (shared vectors)', () => {
  it.each<[string, any]>(VECTORS.stale.map((c: any) => [c.name, c]))('%s', (_name, c) => {
    const model = modelOf(c.cells);
    const ran = new Map<string, IRanStep>(
      Object.entries(c.ran).map(([name, r]: [string, any]) => [
        name,
        { source: r.source, cellId: r.cell_id, stale: r.stale ?? false }
      ])
    );
    const sourceOfCell = (index: number) => c.cells[index]?.source ?? null;
    expect([...staleSteps(model, ran, sourceOfCell)].sort()).toEqual(c.expected);
  });
});

describe('foreach progress: StatusBook (shared vectors)', () => {
  it.each<[string, any]>(VECTORS.foreach_progress.map((c: any) => [c.name, c]))(
    '%s',
    (_name, c) => {
      const book = new StatusBook();
      for (const event of c.events as IStepStatus[]) {
        book.apply(event);
      }
      for (const [step, expected] of Object.entries(c.expected)) {
        const record = book.get(step)!;
        expect({
          state: record.state,
          splits: record.splits,
          duration_ms: record.durationMs,
          ...('error' in (expected as object) ? { error: record.error } : {})
        }).toEqual(expected);
      }
    }
  );
});

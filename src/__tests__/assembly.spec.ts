import * as fs from 'fs';
import * as path from 'path';

import {
  assemble,
  descendants,
  flowNameFromPath,
  topologicalOrder,
  upstreamInOrder
} from '../assembly';
import { classify } from '../cellrules';
import type { INotebookCell } from '../protocol';

/** The shared vectors, also read by python/tests/unit/test_cells.py (no copy here). */
const VECTORS = JSON.parse(
  fs.readFileSync(
    path.resolve(__dirname, '..', '..', 'python', 'tests', 'vectors', 'assembly.json'),
    'utf-8'
  )
);

interface IVectorCell {
  cell_type: string;
  source: string;
  tags?: string[];
  id?: string;
}

function cellsOf(cells: IVectorCell[]): INotebookCell[] {
  return cells.map((c, index) => ({
    index,
    id: c.id ?? null,
    cell_type: c.cell_type,
    source: c.source,
    tags: c.tags ?? []
  }));
}

/** The vectors' subset rule: listed keys must match, lists match element by element. */
function expectSubset(actual: unknown, expected: unknown, where: string): void {
  if (Array.isArray(expected)) {
    expect({ where, isArray: Array.isArray(actual) }).toEqual({ where, isArray: true });
    const list = actual as unknown[];
    expect({ where, length: list.length }).toEqual({ where, length: expected.length });
    expected.forEach((e, i) => expectSubset(list[i], e, `${where}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    expect({ where, isObject: typeof actual === 'object' && actual !== null }).toEqual({
      where,
      isObject: true
    });
    for (const [key, value] of Object.entries(expected)) {
      const obj = actual as Record<string, unknown>;
      expect({ where: `${where}.${key}`, present: key in obj }).toEqual({
        where: `${where}.${key}`,
        present: true
      });
      expectSubset(obj[key], value, `${where}.${key}`);
    }
  } else {
    expect({ where, value: actual }).toEqual({ where, value: expected });
  }
}

describe('assembly: shared vectors (python/tests/vectors/assembly.json)', () => {
  it('has cases', () => {
    expect(VECTORS.cases.length).toBeGreaterThan(30);
  });

  for (const vector of VECTORS.cases) {
    it(vector.name, () => {
      const model = assemble(cellsOf(vector.cells), vector.notebook_name ?? null);
      expectSubset(model, vector.expected, 'model');
      // Every error is fully formed, located and explained.
      for (const e of model.errors) {
        expect(typeof e.message).toBe('string');
        expect(e.fix.length).toBeGreaterThan(0);
      }
    });
  }
});

describe('assembly: helpers', () => {
  const cell = (source: string, tags: string[] = [], index = 0): INotebookCell => ({
    index,
    id: null,
    cell_type: 'code',
    source,
    tags
  });

  it('classifies by first line and tags', () => {
    expect(classify(cell('%%step start'))).toBe('step');
    expect(classify(cell('\n\n%%flow F'))).toBe('flow');
    expect(classify(cell('x = 1', ['step:a']))).toBe('step');
    expect(classify(cell('%%stepper a'))).toBe('scratch');
    expect(classify(cell('import os'))).toBe('module');
    expect(classify(cell('import os', ['skip']))).toBe('scratch');
  });

  it('names flows after notebooks', () => {
    expect(flowNameFromPath('a/b/my-flow.ipynb')).toBe('MyFlow');
    expect(flowNameFromPath('')).toBe('NotebookFlow');
  });

  const model = assemble(
    cellsOf([
      { cell_type: 'code', source: '%%step start\nself.next(self.a, self.b)' },
      { cell_type: 'code', source: '%%step a\nself.next(self.join)' },
      { cell_type: 'code', source: '%%step b\nself.next(self.join)' },
      { cell_type: 'code', source: '%%step join\nx = 1' },
      { cell_type: 'code', source: '%%step end' }
    ])
  );

  it('orders steps topologically', () => {
    expect(model.errors).toEqual([]);
    expect(topologicalOrder(model)).toEqual(['start', 'a', 'b', 'join', 'end']);
  });

  it('finds descendants and upstream steps', () => {
    expect([...descendants(model, 'a')].sort()).toEqual(['end', 'join']);
    expect([...descendants(model, 'end')]).toEqual([]);
    expect(upstreamInOrder(model, 'join')).toEqual(['start', 'a', 'b', 'join']);
    expect(upstreamInOrder(model, 'b')).toEqual(['start', 'b']);
  });

  it('locates errors of identical cells at each position (per-cell cache)', () => {
    const bad = '%%step Bad';
    const m = assemble([
      cell(bad, [], 0),
      cell('%%step start', [], 1),
      cell(bad, [], 2),
      cell('%%step end', [], 3)
    ]);
    expect(m.errors.map(e => [e.code, e.cell_index])).toEqual([
      ['bad-step-name', 0],
      ['bad-step-name', 2]
    ]);
    const moved = assemble([cell('%%step start', [], 0), cell('%%step end', [], 1)]);
    expect(moved.steps.map(s => [s.name, s.cell_index])).toEqual([
      ['start', 0],
      ['end', 1]
    ]);
  });

  it('reports the line of an unclosed bracket like CPython', () => {
    const m = assemble([cell('%%step start\nx = [\n  1,\n', [], 0), cell('%%step end', [], 1)]);
    expect(m.errors[0]).toMatchObject({ code: 'syntax-error', line: 2 });
    expect(m.errors[0].message).toContain("'[' was never closed");
  });
});

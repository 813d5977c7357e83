import { assemble } from '../assembly';
import { exportOutcome, overwriteQuestion, setupCells, stepsToHere } from '../commands';

const model = assemble(
  [
    '%%step start\nself.next(self.a, self.b)',
    '%%step a\nself.next(self.join)',
    '%%step b\nself.next(self.join)',
    '%%step join\nx = 1',
    '%%step end'
  ].map((source, index) => ({ index, id: null, cell_type: 'code', source, tags: [] }))
);

describe('stepsToHere', () => {
  it('runs the upstream steps in order, then the step', () => {
    expect(stepsToHere({ model, isUpToDate: () => false }, 'join')).toEqual([
      'start',
      'a',
      'b',
      'join'
    ]);
  });

  it('skips upstream steps that are up to date, never the step itself', () => {
    const done = new Set(['start', 'b', 'join']);
    expect(stepsToHere({ model, isUpToDate: s => done.has(s) }, 'join')).toEqual(['a', 'join']);
    expect(stepsToHere({ model, isUpToDate: () => true }, 'end')).toEqual(['end']);
  });
});

describe('exportOutcome', () => {
  it("asks before overwriting only when the kernel says the file exists, never from the error's words", () => {
    const refused = 'sub/flow.py already exists; pass --force to overwrite it.';
    expect(
      exportOutcome({ ok: false, exists: true, output_path: 'sub/flow.py', error: refused })
    ).toBe('ask-overwrite');
    expect(
      exportOutcome({ ok: false, exists: false, error: 'a step named "already exists" failed' })
    ).toBe('failed');
    expect(exportOutcome({ ok: false, error: refused })).toBe('failed');
  });

  it('tells an unchanged file from a written one', () => {
    expect(exportOutcome({ ok: true, output_path: 'a.py', written: false, exists: false })).toBe(
      'up-to-date'
    );
    expect(exportOutcome({ ok: true, output_path: 'a.py', written: true, exists: false })).toBe(
      'exported'
    );
  });
});

describe('overwriteQuestion', () => {
  it("names the file the kernel reports, in the dialog's terms", () => {
    expect(overwriteQuestion('work/switch.py')).toBe(
      'work/switch.py already exists with other content. Overwrite it with the flow exported from this notebook?'
    );
  });
});

describe('setupCells', () => {
  it('lists the module cells and the flow cell in notebook order, never scratch or step cells', () => {
    const cells = [
      '%load_ext jupyter_metaflow',
      'from sklearn.datasets import load_digits\nRANDOM_STATE = 0',
      "%%flow DigitsFlow\nmax_iter = Parameter('max-iter', default=200)",
      '%%step start\nX, y = load_digits(return_X_y=True)',
      'import numpy as np',
      'print(np.pi)',
      '%%step end'
    ].map((source, index) => ({ index, id: null, cell_type: 'code', source, tags: [] }));
    expect(setupCells(assemble(cells))).toEqual([1, 2, 4]);
  });

  it('is empty for a notebook of step cells only', () => {
    expect(setupCells(model)).toEqual([]);
  });
});

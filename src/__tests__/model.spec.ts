import { assemble } from '../assembly';
import { computeNodeStates, StatusBook } from '../model';
import type { IStepStatus } from '../protocol';

const SOURCES = [
  '%%step start\nself.items = [1, 2, 3]\nself.next(self.work, foreach="items")',
  '%%step work\nself.y = self.input',
  '%%step gather\nself.ys = [i.y for i in inputs]',
  '%%step end'
];

function model(sources: string[]) {
  return assemble(
    sources.map((source, index) => ({
      index,
      id: `c${index}`,
      cell_type: 'code',
      source,
      tags: []
    }))
  );
}

function status(
  step: string,
  state: IStepStatus['state'],
  extra: Partial<IStepStatus> = {}
): IStepStatus {
  return { run_id: '1', step, state, ...extra };
}

describe('StatusBook', () => {
  it('folds foreach splits into progress', () => {
    const book = new StatusBook();
    book.apply(status('work', 'running', { split_index: 0, num_splits: 3 }));
    expect(book.get('work')).toMatchObject({ state: 'running', splits: { done: 0, total: 3 } });
    book.apply(status('work', 'done', { split_index: 0, num_splits: 3, duration_ms: 10 }));
    book.apply(status('work', 'done', { split_index: 2, num_splits: 3, duration_ms: 5 }));
    expect(book.get('work')).toMatchObject({
      state: 'running',
      splits: { done: 2, total: 3 },
      durationMs: 15
    });
    book.apply(status('work', 'done', { split_index: 1, num_splits: 3, duration_ms: 5 }));
    expect(book.get('work')).toMatchObject({
      state: 'done',
      splits: { done: 3, total: 3 },
      durationMs: 20
    });
  });

  it("shows a foreach step's wall time when its splits ran side by side", () => {
    const book = new StatusBook();
    const split = (i: number, elapsed: number) =>
      status('work', 'done', {
        split_index: i,
        num_splits: 3,
        duration_ms: 1000,
        elapsed_ms: elapsed
      });
    book.apply(split(1, 1020));
    book.apply(split(0, 1030));
    expect(book.get('work')).toMatchObject({ state: 'running', durationMs: 1030 });
    book.apply(split(2, 2050));
    // three splits of 1 s on two workers: 2.05 s waited, not the splits' 3 s
    expect(book.get('work')).toMatchObject({ state: 'done', durationMs: 2050 });
  });

  it('marks a step failed when a split fails, and keeps its error', () => {
    const book = new StatusBook();
    book.apply(status('work', 'done', { split_index: 0, num_splits: 2 }));
    book.apply(status('work', 'failed', { split_index: 1, num_splits: 2, error: 'boom' }));
    expect(book.get('work')).toMatchObject({ state: 'failed', error: 'boom' });
  });

  it('keeps a failed split error when the splits after it are skipped', () => {
    const book = new StatusBook();
    book.apply(status('work', 'failed', { split_index: 0, num_splits: 3, error: 'boom' }));
    // a split running beside it (in another worker) ends after it; the rest never start
    book.apply(status('work', 'done', { split_index: 1, num_splits: 3 }));
    const skipped = { num_splits: 3, error: 'an earlier task failed' };
    book.apply(status('work', 'skipped', { split_index: 2, ...skipped }));
    expect(book.get('work')).toMatchObject({ state: 'failed', error: 'boom' });
  });

  it('starts over on a new run and on a run_state snapshot', () => {
    const book = new StatusBook();
    book.apply(status('work', 'done', { split_index: 0, num_splits: 2 }));
    book.apply(status('work', 'running', { run_id: '2', split_index: 0, num_splits: 2 }));
    expect(book.get('work')!.splits).toEqual({ done: 0, total: 2 });
    book.reset({
      flow: 'F',
      run_id: '3',
      steps: { start: status('start', 'done', { run_id: '3' }) }
    });
    expect(book.steps()).toEqual(['start']);
  });

  it("takes a snapshot's foreach step as a whole, and live splits after it", () => {
    const book = new StatusBook();
    const work = status('work', 'running', { num_splits: 4, done_splits: [0, 1], duration_ms: 30 });
    book.reset({ flow: 'F', run_id: '1', steps: { work } });
    expect(book.get('work')).toMatchObject({
      state: 'running',
      splits: { done: 2, total: 4 },
      durationMs: 30
    });
    book.apply(status('work', 'done', { split_index: 2, num_splits: 4, duration_ms: 5 }));
    book.apply(status('work', 'done', { split_index: 3, num_splits: 4, duration_ms: 5 }));
    expect(book.get('work')).toMatchObject({
      state: 'done',
      splits: { done: 4, total: 4 },
      durationMs: 40
    });
    const finished = status('work', 'done', {
      num_splits: 4,
      done_splits: [0, 1, 2, 3],
      duration_ms: 40
    });
    book.reset({ flow: 'F', run_id: '1', steps: { work: finished } }); // was 'running · 1/4'
    expect(book.get('work')).toMatchObject({ state: 'done', splits: { done: 4, total: 4 } });
  });
});

describe('computeNodeStates', () => {
  const flow = model(SOURCES);
  const source = (i: number) => SOURCES[i];

  it('shows status, duration and errors per step', () => {
    const book = new StatusBook();
    book.apply(status('start', 'done', { duration_ms: 1200, source: SOURCES[0], cell_id: 'c0' }));
    book.apply(
      status('work', 'failed', { error: 'ZeroDivisionError <b>x</b>', source: SOURCES[1] })
    );
    const { nodes, stale } = computeNodeStates(flow, book, source);
    expect(nodes.get('start')).toMatchObject({
      status: 'done',
      durationMs: 1200,
      stale: false,
      errors: []
    });
    expect(nodes.get('work')).toMatchObject({
      status: 'failed',
      errors: ['ZeroDivisionError <b>x</b>']
    });
    expect(nodes.get('end')).toMatchObject({ status: null, stale: false });
    expect(stale.size).toBe(0);
  });

  it('marks an edited step and the downstream steps that ran stale', () => {
    const book = new StatusBook();
    for (let i = 0; i < 3; i++) {
      book.apply(status(['start', 'work', 'gather'][i], 'done', { source: SOURCES[i] }));
    }
    const edited = (i: number) => (i === 1 ? SOURCES[1] + '\nself.z = 2' : SOURCES[i]);
    const { nodes, stale } = computeNodeStates(flow, book, edited);
    expect([...stale].sort()).toEqual(['gather', 'work']);
    expect(nodes.get('start')!.stale).toBe(false);
    expect(nodes.get('end')!.stale).toBe(false); // never ran: nothing to be stale about
    // undoing the edit clears it
    expect(computeNodeStates(flow, book, source).stale.size).toBe(0);
  });

  it('trusts the kernel saying stale', () => {
    const book = new StatusBook();
    book.apply(status('start', 'stale', { duration_ms: 3 }));
    book.apply(status('work', 'done'));
    const { nodes, stale } = computeNodeStates(flow, book, source);
    expect([...stale].sort()).toEqual(['start', 'work']);
    expect(nodes.get('start')).toMatchObject({ status: 'done', stale: true, durationMs: 3 });
  });

  it('keeps a failed step failed, with its error, when the kernel reports it stale', () => {
    const book = new StatusBook();
    book.apply(status('start', 'done', { source: SOURCES[0] }));
    book.apply(
      status('work', 'failed', { error: 'ValueError: x', duration_ms: 7, source: SOURCES[1] })
    );
    book.apply(status('work', 'stale')); // an upstream step was edited
    expect(book.get('work')).toMatchObject({
      state: 'failed',
      stale: true,
      error: 'ValueError: x',
      durationMs: 7
    });
    const { nodes } = computeNodeStates(flow, book, source);
    expect(nodes.get('work')).toMatchObject({
      status: 'failed',
      stale: true,
      errors: ['ValueError: x']
    });
    book.apply(status('work', 'failed', { error: 'ValueError: x', source: SOURCES[1] })); // edit undone
    expect(book.get('work')).toMatchObject({ state: 'failed', stale: false });
  });

  it('marks the steps after a renamed step stale, and its old name, not its new one (it never ran)', () => {
    const book = new StatusBook();
    SOURCES.forEach((source, i) =>
      book.apply(
        status(['start', 'work', 'gather', 'end'][i], 'done', { source, cell_id: `c${i}` })
      )
    );
    const renamed = [...SOURCES];
    renamed[2] = '%%step collect\nself.ys = [i.y for i in inputs]';
    const { nodes, stale } = computeNodeStates(model(renamed), book, i => renamed[i]);
    expect([...stale].sort()).toEqual(['end', 'gather']); // as the kernel reports them
    expect(nodes.get('collect')).toMatchObject({ status: null, stale: false });
  });

  it('puts cell-rule and lint errors on their step', () => {
    const bad = model(['%%step start\nself.next(self.nope)', '%%step end']);
    const lint = [
      { code: 'lint', cell_index: 1, cell_id: 'c1', line: 1, message: 'lint says no', fix: '' }
    ];
    const { nodes } = computeNodeStates(bad, new StatusBook(), () => null, lint);
    expect(nodes.get('start')!.errors[0]).toMatch(/^line 2: self.next\(\.\.\.\) goes to 'nope'/);
    expect(nodes.get('end')!.errors).toEqual(['line 1: lint says no']);
  });

  it('derives the switch choice from the branch that ran', () => {
    const sw = model([
      "%%step start\nself.c = 'a'\nself.next({'a': self.x, 'b': self.y}, condition='c')",
      '%%step x\nself.next(self.end)',
      '%%step y\nself.next(self.end)',
      '%%step end'
    ]);
    const book = new StatusBook();
    book.apply(status('start', 'done'));
    book.apply(status('y', 'running'));
    expect(computeNodeStates(sw, book, () => null).nodes.get('start')!.switchChoice).toBe('b');
  });
});

describe('a renamed notebook', () => {
  it('counts only the statuses of its flow: another name is another flow, not run yet', () => {
    const book = new StatusBook();
    book.apply({ flow: 'AnalysisFlow', run_id: '7', step: 'start', state: 'done', duration_ms: 5 });
    book.apply({ flow: 'AnalysisFlow', run_id: '7', step: 'end', state: 'done', duration_ms: 5 });
    const model = assemble(
      ['%%step start', '%%step end'].map((source, index) => ({
        index,
        id: null,
        cell_type: 'code',
        source,
        tags: []
      })),
      'analysis-v2.ipynb'
    );
    book.flow = model.name;
    expect(model.name).toBe('AnalysisV2Flow');
    expect(book.get('start')).toBeUndefined();
    expect(book.steps()).toEqual([]);
    const { nodes } = computeNodeStates(model, book, () => null);
    expect(nodes.get('end')?.status ?? null).toBeNull();
    book.flow = 'AnalysisFlow'; // renamed back: the old run's statuses are true again
    expect(book.get('end')?.state).toBe('done');
  });
});

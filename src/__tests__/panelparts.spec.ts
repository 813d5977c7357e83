/**
 * The DAG panel's parts without JupyterLab: broken cells keep their node,
 * readable zoom with scrolling, switch choices, lineage highlight, keyboard
 * access, the details pane and the run browser against a scripted kernel link.
 */
import { Signal } from '@lumino/signaling';

import { assemble, type IStepModel } from '../assembly';
import { exportFileName } from '../commands';
import { DagView, nodeDetail, nodeLabel, switchSummary, type INodeState } from '../dagview';
import { DetailsPane, shortTime } from '../details';
import { layoutFlow } from '../layout';
import { computeNodeStates, keepBrokenSteps, StatusBook } from '../model';
import type { IEnvelope, IMessagePayloads, INotebookCell, MessageType } from '../protocol';
import { request } from '../requests';
import { RunBrowser } from '../runs';
import type { IKernelLink, LinkState } from '../tokens';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

function cells(sources: string[]): INotebookCell[] {
  return sources.map((source, index) => ({
    index,
    id: `c${index}`,
    cell_type: 'code',
    source,
    tags: []
  }));
}

function state(partial: Partial<INodeState>): INodeState {
  return {
    status: null,
    durationMs: null,
    splits: null,
    switchChoice: null,
    stale: false,
    errors: [],
    ...partial
  };
}

/** A kernel link whose kernel answers each request with `answer(type, payload)`. */
class ScriptedLink implements IKernelLink {
  constructor(private readonly _answer: (type: string, payload: any) => any) {}
  sessionContext = null as any;
  state: LinkState = 'connected';
  kernelInfo = null;
  stateChanged: Signal<IKernelLink, LinkState> = new Signal<IKernelLink, LinkState>(this);
  messageReceived: Signal<IKernelLink, IEnvelope> = new Signal<IKernelLink, IEnvelope>(this);
  sent: Array<{ type: string; payload: any }> = [];
  send<T extends MessageType>(type: T, payload: IMessagePayloads[T]): boolean {
    this.sent.push({ type, payload });
    const answer = { request_id: (payload as any).request_id, ...this._answer(type, payload) };
    setTimeout(() =>
      this.messageReceived.emit({ protocol: '1.5', type: `${type}_result`, payload: answer } as any)
    );
    return true;
  }
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  expect(check()).toBe(true);
}

const BRANCHES = [
  '%%step start\nself.next(self.upper, self.lower)',
  '%%step upper\nself.next(self.join)',
  '%%step lower\nself.next(self.join)',
  '%%step join\nself.next(self.end)',
  '%%step end'
];

describe('a step cell that stops parsing keeps its node', () => {
  it('keeps the last good shape of a join with a syntax error, with its edges, marked broken', () => {
    const lastGood = new Map<string, IStepModel>();
    const good = assemble(cells(BRANCHES));
    expect(keepBrokenSteps(good, cells(BRANCHES), lastGood).broken.size).toBe(0);

    const typing = [...BRANCHES];
    typing[3] = '%%step join\nself.next(self.end'; // unclosed call
    const now = cells(typing);
    const bad = assemble(now);
    expect(bad.steps.map(s => s.name)).not.toContain('join'); // what the panel drew before
    const drawn = keepBrokenSteps(bad, now, lastGood);
    expect(drawn.model.steps.map(s => s.name)).toEqual(['start', 'upper', 'lower', 'join', 'end']);
    expect([...drawn.broken]).toEqual(['join']);
    const layout = layoutFlow(drawn.model);
    expect(layout.edges.map(e => `${e.from}->${e.to}`).sort()).toEqual(
      ['join->end', 'lower->join', 'start->lower', 'start->upper', 'upper->join'].sort()
    );
    const book = new StatusBook();
    const { nodes } = computeNodeStates(drawn.model, book, () => null, [], drawn.broken);
    const join = nodes.get('join')!;
    expect(join.broken).toBe(true);
    expect(join.errors.join(' ')).toMatch(/line 2/);
    expect(nodeDetail(join)).toMatch(/^line 2/);

    // the cell parses again: the real step is drawn, nothing kept
    const fixed = keepBrokenSteps(good, cells(BRANCHES), lastGood);
    expect(fixed.broken.size).toBe(0);
  });

  it('does not resurrect a deleted step or a cell that is no step cell any more', () => {
    const lastGood = new Map<string, IStepModel>();
    keepBrokenSteps(assemble(cells(BRANCHES)), cells(BRANCHES), lastGood);
    const plain = [...BRANCHES];
    plain[3] = 'x = (';
    expect(keepBrokenSteps(assemble(cells(plain)), cells(plain), lastGood).broken.size).toBe(0);
  });
});

describe('DAG view: readable at any width', () => {
  const wide = assemble(
    cells([
      '%%step start\nself.next(self.a, self.b, self.c, self.d, self.e)',
      ...['a', 'b', 'c', 'd', 'e'].map(s => `%%step ${s}\nself.next(self.join)`),
      '%%step join\nself.next(self.end)',
      '%%step end'
    ])
  );

  function hosted(width: number, height: number, options = {}) {
    const host = document.createElement('div');
    Object.defineProperty(host, 'clientWidth', { get: () => width });
    Object.defineProperty(host, 'clientHeight', { get: () => height });
    document.body.appendChild(host);
    const view = new DagView({ scroll: true, minFitZoom: 0.9, ...options });
    host.appendChild(view.node);
    return { host, view };
  }

  it('never fits below 0.9: the graph grows and its host scrolls', () => {
    const layout = layoutFlow(wide);
    expect(layout.width).toBeGreaterThan(500);
    const { view } = hosted(280, 400);
    view.render(layout, new Map());
    view.fit();
    expect(view.transform.k).toBeCloseTo(0.9);
    expect(parseFloat(view.node.style.width)).toBeGreaterThanOrEqual(layout.width * 0.9 - 1);
    // a wide panel: no scrolling, 100%, centred
    const big = hosted(2000, 1000);
    big.view.render(layout, new Map());
    expect(big.view.transform.k).toBe(1);
    expect(big.view.node.style.width).toBe('');
    expect(big.view.transform.x).toBeCloseTo((2000 - layout.width) / 2);
  });

  it('the inline view (no scrolling) still shrinks to fit', () => {
    const view = new DagView();
    view.render(layoutFlow(wide), new Map());
    expect(view.transform.k).toBeLessThan(0.9);
  });
});

describe('switch choices', () => {
  it('summarises a switch inside a foreach by case counts', () => {
    expect(switchSummary({ switchChoice: null, switchCounts: { odd: 3, even: 2 } })).toBe(
      '3 → odd · 2 → even'
    );
    expect(switchSummary({ switchChoice: null, switchCounts: { odd: 1 } })).toBe('→ odd');
    expect(switchSummary({ switchChoice: "'b'", switchCounts: { right: 1 } })).toBe("→ 'b'");
    expect(switchSummary({ switchChoice: 'x', switchCounts: null })).toBe('→ x');
    expect(
      nodeDetail(
        state({ status: 'done', splits: { done: 5, total: 5 }, switchCounts: { odd: 3, even: 2 } })
      )
    ).toBe('done · 3 → odd · 2 → even');
    expect(
      nodeDetail(
        state({
          status: 'running',
          splits: { done: 4, total: 5 },
          switchCounts: { odd: 2, even: 2 }
        })
      )
    ).toBe('running · 4/5 · 2 → odd · 2 → even');
  });

  it('takes the counts from the kernel statuses and emphasises the taken edges', () => {
    const model = assemble(
      cells([
        "%%step start\nself.xs = [1, 2, 3, 4, 5]\nself.next(self.classify, foreach='xs')",
        "%%step classify\nself.k = 'odd'\nself.next({'odd': self.odd, 'even': self.even, 'zero': self.zero}, condition='k')",
        '%%step odd\nself.next(self.tally)',
        '%%step even\nself.next(self.tally)',
        '%%step zero\nself.next(self.tally)',
        '%%step tally\nself.next(self.gather)',
        '%%step gather\nself.next(self.end)',
        '%%step end'
      ])
    );
    const book = new StatusBook();
    book.apply({
      run_id: '1',
      step: 'classify',
      state: 'done',
      num_splits: 5,
      done_splits: [0, 1, 2, 3, 4],
      switch_counts: { odd: 3, even: 2 }
    });
    const { nodes } = computeNodeStates(model, book, () => null);
    expect(nodes.get('classify')!.switchCounts).toEqual({ odd: 3, even: 2 });
    const view = new DagView();
    view.render(layoutFlow(model), nodes);
    const edge = (to: string) =>
      view.node.querySelector(`.jp-mf-DagEdge[data-from="classify"][data-to="${to}"]`)!;
    expect(edge('odd').classList.contains('jp-mod-taken')).toBe(true);
    expect(edge('odd').getAttribute('data-count')).toBe('3');
    expect(edge('even').getAttribute('data-count')).toBe('2');
    expect(edge('zero').classList.contains('jp-mod-not-taken')).toBe(true);
    expect(
      view.node.querySelector('[data-step="classify"] .jp-mf-DagNode-detail')!.textContent
    ).toBe('done · 3 → odd · 2 → even');
  });
});

describe('DAG view: keyboard, screen readers, lineage', () => {
  const layout = layoutFlow(assemble(cells(BRANCHES)));

  it('is a listbox of labelled options with one tab stop, moved by the arrow keys', () => {
    const view = new DagView();
    document.body.appendChild(view.node);
    view.render(layout, new Map([['upper', state({ status: 'done', durationMs: 1200 })]]));
    expect(view.node.getAttribute('role')).toBe('listbox');
    const nodes = Array.from(view.node.querySelectorAll('.jp-mf-DagNode'));
    expect(nodes.map(n => n.getAttribute('role'))).toEqual(Array(5).fill('option'));
    expect(
      nodes.filter(n => n.getAttribute('tabindex') === '0').map(n => n.getAttribute('data-step'))
    ).toEqual(['start']);
    expect(view.node.querySelector('[data-step="upper"]')!.getAttribute('aria-label')).toBe(
      'step upper, done · 1.2 s'
    );
    expect(nodeLabel('end', undefined)).toBe('step end, not run');
    const press = (key: string) =>
      (document.activeElement ?? view.node).dispatchEvent(
        new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true })
      );
    view.focus('start');
    press('ArrowDown');
    expect((document.activeElement as Element).getAttribute('data-step')).toBe('upper');
    press('ArrowRight');
    expect((document.activeElement as Element).getAttribute('data-step')).toBe('lower');
    press('ArrowDown');
    expect((document.activeElement as Element).getAttribute('data-step')).toBe('join');
    press('ArrowUp');
    expect(['upper', 'lower']).toContain(
      (document.activeElement as Element).getAttribute('data-step')
    );
    press('End');
    expect((document.activeElement as Element).getAttribute('data-step')).toBe('end');
    expect(
      nodes.filter(n => n.getAttribute('tabindex') === '0').map(n => n.getAttribute('data-step'))
    ).toEqual(['end']);
    view.dispose();
  });

  it('highlights the upstream and downstream of the hovered step', () => {
    const view = new DagView();
    view.render(layout, new Map());
    view.node
      .querySelector('[data-step="upper"] rect')!
      .dispatchEvent(new Event('pointerover', { bubbles: true }));
    expect(view.traced).toBe('upper');
    const lineage = (step: string) =>
      view.node.querySelector(`[data-step="${step}"]`)!.getAttribute('data-lineage');
    expect(['start', 'upper', 'lower', 'join', 'end'].map(lineage)).toEqual([
      'upstream',
      'self',
      null,
      'downstream',
      'downstream'
    ]);
    const lit = Array.from(view.node.querySelectorAll('.jp-mf-DagEdge.jp-mod-lineage')).map(
      e => `${e.getAttribute('data-from')}->${e.getAttribute('data-to')}`
    );
    expect(lit.sort()).toEqual(['join->end', 'start->upper', 'upper->join']);
    view.node.dispatchEvent(new Event('pointerleave'));
    expect(view.traced).toBeNull();
    expect(view.node.classList.contains('jp-mod-tracing')).toBe(false);
  });
});

describe('kernel requests', () => {
  it('resolves with the matching answer and rejects with its error text', async () => {
    const link = new ScriptedLink((type, p) =>
      p.step === 'bad' ? { error: 'no such step' } : { step: p.step, tasks: [] }
    );
    await expect(request(link, 'step_details', { step: 'a' })).resolves.toMatchObject({
      step: 'a',
      tasks: []
    });
    await expect(request(link, 'step_details', { step: 'bad' })).rejects.toThrow('no such step');
    await expect(request(null, 'runs', {})).rejects.toThrow(/not connected/);
  });
});

describe('details pane', () => {
  const tasks = [1, 2, 3].map(i => ({
    pathspec: `F/1/classify/${i}`,
    id: String(i),
    label: `[${i - 1}]`,
    state: 'done',
    input: String(i * 10),
    next: i % 2 ? 'odd' : 'even',
    duration_ms: 20
  }));

  function kernel() {
    return new ScriptedLink((type, p) => {
      switch (type) {
        case 'step_details':
          return { run: 'F/1', step: p.step, tasks, cards: false };
        case 'show':
          return p.address.endsWith('/n')
            ? {
                data: {
                  version: 1,
                  kind: 'artifact',
                  header: { title: 'n', name: 'n' },
                  view: { kind: 'text', type: 'str', length: 40, preview: PAYLOAD }
                }
              }
            : {
                data: {
                  version: 1,
                  kind: 'task',
                  header: { title: 'classify/3' },
                  artifacts: [
                    { name: 'n', type: 'int', size: 5, preview: '30' },
                    { name: PAYLOAD, type: 'str', size: 5, preview: PAYLOAD }
                  ]
                }
              };
        case 'task_logs':
          return { pathspec: p.pathspec, stdout: `classified ${PAYLOAD}\n`, stderr: '' };
      }
      return { error: 'unexpected' };
    });
  }

  it('shows the tasks with their inputs and choices, the artifacts with their views and the logs', async () => {
    const link = kernel();
    const pane = new DetailsPane();
    document.body.appendChild(pane.node);
    pane.setTarget({
      step: 'classify',
      run: null,
      node: state({ status: 'done', switchCounts: { odd: 2, even: 1 } }),
      cellNumber: 2,
      link,
      switchStep: true
    });
    await until(() => !!pane.node.querySelector('.jp-mf-Details-stdout'));
    const rows = Array.from(pane.node.querySelectorAll('.jp-mf-Details-task'));
    expect(rows.map(r => r.querySelector('.jp-mf-Details-taskInput')!.textContent)).toEqual([
      '10',
      '20',
      '30'
    ]);
    expect(rows.map(r => r.textContent)).toEqual(
      expect.arrayContaining([expect.stringContaining('→ even')])
    );
    expect(pane.node.querySelector('.jp-mf-Details-facts')!.textContent).toContain(
      '2 → odd · 1 → even'
    );
    // the last task is chosen first; its artifacts and logs are shown
    expect(rows[2].getAttribute('aria-selected')).toBe('true');
    expect(link.sent.find(m => m.type === 'show')!.payload.address).toBe('F/1/classify/3');
    expect(pane.node.querySelector('.jp-mf-Details-stdout')!.textContent).toContain(PAYLOAD);
    const names = Array.from(pane.node.querySelectorAll('.jp-mf-Details-artifactName')).map(
      n => n.textContent
    );
    expect(names).toEqual(['n', PAYLOAD]);
    (pane.node.querySelector('[data-artifact="n"]') as HTMLElement).click();
    await until(() => !!pane.node.querySelector('.jp-mf-Show'));
    expect(link.sent.filter(m => m.type === 'show').pop()!.payload.address).toBe(
      'F/1/classify/3/n'
    );
    // picking another task reloads its artifacts and logs
    (rows[0] as HTMLElement).click();
    await until(() =>
      link.sent.some(m => m.type === 'task_logs' && m.payload.pathspec === 'F/1/classify/1')
    );
    expect(pane.node.querySelector('img')).toBeNull();
    expect((window as any).__pwned).toBeUndefined();
    pane.node.remove();
  });

  it('shows what a task chose only for a switch step', async () => {
    const pane = new DetailsPane();
    document.body.appendChild(pane.node);
    // a foreach body's splits all go on to the join: nothing was chosen
    pane.setTarget({
      step: 'work',
      run: null,
      node: state({ status: 'done' }),
      cellNumber: 2,
      link: kernel(),
      switchStep: false
    });
    await until(() => pane.node.querySelectorAll('.jp-mf-Details-task').length === 3);
    expect(pane.node.querySelector('.jp-mf-Details-tasks thead')!.textContent).not.toContain(
      'chose'
    );
    expect(pane.node.querySelector('.jp-mf-Details-tasks tbody')!.textContent).not.toContain('→');
    pane.node.remove();
  });

  it('says what to do for a step that has not run, and has an empty state', () => {
    const pane = new DetailsPane();
    expect(pane.node.textContent).toContain('No step selected');
    pane.setTarget({
      step: 'end',
      run: null,
      node: state({}),
      cellNumber: 5,
      link: kernel(),
      switchStep: false
    });
    expect(pane.node.textContent).toContain('has not run yet');
  });

  it('says why the tasks of a running step wait: the kernel answers when its cell ends', () => {
    const link = kernel();
    link.sessionContext = { session: { kernel: { status: 'busy' } } };
    const pane = new DetailsPane();
    pane.setTarget({
      step: 'work',
      run: null,
      node: state({ status: 'running', splits: { done: 2, total: 8 } }),
      cellNumber: 2,
      link,
      switchStep: false
    });
    expect(pane.node.querySelector('.jp-mf-Details-section')!.textContent).toContain(
      'Loading… (the kernel answers when the cell it runs ends)'
    );
  });
});

describe('run browser', () => {
  it('lists the runs, draws a picked run and compares two checked runs', async () => {
    const runs = [
      {
        pathspec: 'F/3',
        id: '3',
        origin: 'script',
        status: 'successful',
        created_at: '2026-12-07T06:00:00',
        tags: ['nightly']
      },
      {
        pathspec: 'F/2',
        id: '2',
        origin: 'runtime',
        status: 'failed',
        created_at: '2026-12-07T05:00:00',
        tags: []
      },
      {
        pathspec: 'F/1',
        id: '1',
        origin: 'notebook',
        status: 'unfinished',
        created_at: '2026-12-07T04:00:00',
        tags: []
      }
    ];
    let current = 'F/1';
    const link = new ScriptedLink((type, p) => {
      switch (type) {
        case 'runs':
          return { flow: 'F', current, runs };
        case 'use_run':
          current = p.run;
          return { run: p.run };
        case 'run_details':
          return {
            run: p.run,
            summary: runs[0],
            parameters: { alpha: '0.5' },
            steps: { start: { run_id: '3', step: 'start', state: 'done' } }
          };
        case 'show':
          return { data: { version: 1, kind: 'diff', header: { title: 'F/2 → F/3' }, rows: [] } };
      }
      return { error: 'unexpected' };
    });
    const browser = new RunBrowser();
    browser.setLink(link);
    const viewed: Array<string | null> = [];
    browser.viewed.connect((_, d) => viewed.push(d ? (d.run ?? '') : null));
    await browser.reload();
    const items = Array.from(browser.node.querySelectorAll('.jp-mf-Runs-run'));
    expect(items.map(i => i.getAttribute('data-origin'))).toEqual([
      'script',
      'runtime',
      'notebook'
    ]);
    expect(items[0].textContent).toContain('nightly');
    expect(items[2].getAttribute('aria-label')).toBe('run 1, unfinished, by notebook, current');
    (items[0] as HTMLElement).click();
    await until(() => viewed.length === 1);
    expect(viewed).toEqual(['F/3']);
    expect(browser.node.querySelector('.jp-mf-Runs-params')!.textContent).toContain('alpha0.5');
    const checks = Array.from(browser.node.querySelectorAll<HTMLInputElement>('.jp-mf-Runs-check'));
    const compare = browser.node.querySelector<HTMLButtonElement>('.jp-mf-Runs-compare')!;
    expect(compare.disabled).toBe(true);
    for (const c of checks.slice(0, 2)) {
      c.checked = true;
      c.dispatchEvent(new Event('change'));
    }
    expect(compare.disabled).toBe(false);
    compare.click();
    await until(() => !!browser.node.querySelector('.jp-mf-Runs-diff'));
    expect(link.sent.filter(m => m.type === 'show').pop()!.payload.diff).toEqual(['F/2', 'F/3']);
    (items[0] as HTMLElement).click(); // picking the drawn run again goes back to the notebook's run
    await until(() => viewed.length === 2);
    expect(viewed).toEqual(['F/3', null]);

    // make a run the notebook's current one: the kernel is asked, the list marks it current
    (browser.node.querySelector('.jp-mf-Runs-run[data-run="F/3"]') as HTMLElement).click();
    await until(() => !!browser.node.querySelector('.jp-mf-Runs-use'));
    (browser.node.querySelector('.jp-mf-Runs-use') as HTMLElement).click();
    await until(
      () => !!browser.node.querySelector('.jp-mf-Runs-run[data-run="F/3"] .jp-mf-Runs-current')
    );
    expect(link.sent.filter(m => m.type === 'use_run').map(m => m.payload.run)).toEqual(['F/3']);
    expect(browser.viewedRun).toBeNull();
  });
});

describe('small helpers', () => {
  it('names the exported file after the notebook', () => {
    expect(exportFileName('work/Train Model.ipynb')).toBe('Train Model.py');
    expect(exportFileName('x.IPYNB')).toBe('x.py');
  });

  it('writes times shortly', () => {
    const now = new Date('2026-12-07T10:00:00');
    expect(shortTime('2026-12-07T06:05:09', now)).toBe('06:05:09');
    expect(shortTime('2026-11-30T06:05:09', now)).toBe('2026-11-30 06:05');
    expect(shortTime(null, now)).toBe('');
  });
});

import { assemble } from '../assembly';
import {
  CONTEXT_STEP_ATTR,
  DagView,
  formatDuration,
  nodeDetail,
  stepAt,
  type INodeState
} from '../dagview';
import { layoutFlow } from '../layout';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

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

describe('DagView', () => {
  const model = assemble(
    ['%%step start\nself.next(self.train)', '%%step train', '%%step end'].map((source, index) => ({
      index,
      id: null,
      cell_type: 'code',
      source,
      tags: []
    }))
  );
  const layout = layoutFlow(model);

  it('draws one node per step with status, detail and edges', () => {
    const view = new DagView();
    view.render(
      layout,
      new Map([
        ['start', state({ status: 'done', durationMs: 1234 })],
        ['train', state({ status: 'running', splits: { done: 3, total: 5 } })],
        ['end', state({ stale: true, status: 'done' })]
      ])
    );
    const nodes = Array.from(view.node.querySelectorAll('.jp-mf-DagNode'));
    expect(nodes.map(n => n.getAttribute('data-step'))).toEqual(['start', 'train', 'end']);
    expect(nodes.map(n => n.getAttribute('data-status'))).toEqual(['done', 'running', 'done']);
    expect(nodes[2].getAttribute('data-stale')).toBe('true');
    expect(nodes[0].querySelector('.jp-mf-DagNode-detail')!.textContent).toBe('done · 1.2 s');
    expect(nodes[1].querySelector('.jp-mf-DagNode-detail')!.textContent).toBe('running · 3/5');
    expect(view.node.querySelectorAll('.jp-mf-DagEdge')).toHaveLength(2);
  });

  it('renders untrusted names and errors as text only', () => {
    const evil = assemble([
      { index: 0, id: null, cell_type: 'code', source: '%%step start', tags: [] },
      { index: 1, id: null, cell_type: 'code', source: `%%step ${PAYLOAD}`, tags: [] },
      { index: 2, id: null, cell_type: 'code', source: '%%step end', tags: [] }
    ]);
    // The bad step name is an error (not a step); draw a layout whose node is named by the payload.
    expect(evil.errors[0].message).toContain(PAYLOAD);
    const fake = { ...layout, nodes: [{ ...layout.nodes[0], name: PAYLOAD }] };
    const view = new DagView();
    document.body.appendChild(view.node);
    view.render(
      fake,
      new Map([[PAYLOAD, state({ status: 'failed', errors: [evil.errors[0].message, PAYLOAD] })]])
    );
    expect(view.node.querySelector('img')).toBeNull();
    const node = view.node.querySelector('.jp-mf-DagNode')!;
    expect(node.getAttribute('data-step')).toBe(PAYLOAD);
    expect(node.querySelector('.jp-mf-DagNode-name')!.textContent).toBe(PAYLOAD.slice(0, 21) + '…');
    expect(node.querySelector('.jp-mf-DagNode-error title')!.textContent).toContain(PAYLOAD);
    expect((window as any).__pwned).toBeUndefined();
    view.dispose();
  });

  it('reports clicks on nodes and marks the selection', () => {
    const picked: string[] = [];
    const view = new DagView({ onSelect: s => picked.push(s) });
    view.render(layout, new Map());
    const train = view.node.querySelector('[data-step="train"] rect')!;
    train.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(picked).toEqual(['train']);
    expect(view.node.querySelector('.jp-mod-selected')!.getAttribute('data-step')).toBe('train');
    expect(stepAt(train)).toBe('train');
    expect(stepAt(view.node)).toBeNull();
  });

  it('selects a focused node with Enter or Space, as a click does', () => {
    const picked: string[] = [];
    const view = new DagView({ onSelect: s => picked.push(s) });
    view.render(layout, new Map());
    const key = (step: string, k: string) => {
      const event = new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true });
      view.node.querySelector(`[data-step="${step}"]`)!.dispatchEvent(event);
      return event.defaultPrevented;
    };
    expect(key('train', 'Enter')).toBe(true);
    expect(key('end', ' ')).toBe(true);
    expect(key('start', 'a')).toBe(false);
    expect(picked).toEqual(['train', 'end']);
    expect(view.selected).toBe('end');
  });

  it('zooms around a point and pans', () => {
    const view = new DagView();
    view.render(layout, new Map());
    const before = view.transform;
    view.zoomBy(2, 100, 100);
    const after = view.transform;
    expect(after.k).toBeCloseTo(Math.min(3, before.k * 2));
    // the point under the cursor stays put
    expect((100 - after.x) / after.k).toBeCloseTo((100 - before.x) / before.k);
    view.panBy(10, -5);
    expect(view.transform.x).toBeCloseTo(after.x + 10);
    expect(view.transform.y).toBeCloseTo(after.y - 5);
    expect(view.node.querySelector('.jp-mf-DagRoot')!.getAttribute('transform')).toContain(
      'scale('
    );
  });

  it('formats details', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12345)).toBe('12.3 s');
    expect(formatDuration(245000)).toBe('4 min 05 s');
    expect(nodeDetail(state({ status: 'done', switchChoice: 'x' }))).toBe('done · → x');
    expect(nodeDetail(undefined)).toBe('');
  });
});

describe('DagView context menu', () => {
  it('names the node a context menu opens on, on its HTML host', () => {
    const model = assemble(
      ['%%step start', '%%step end'].map((source, index) => ({
        index,
        id: null,
        cell_type: 'code',
        source,
        tags: []
      }))
    );
    const host = document.createElement('div');
    const view = new DagView();
    host.appendChild(view.node);
    view.render(layoutFlow(model), new Map());
    view.node
      .querySelector('[data-step="end"] rect')!
      .dispatchEvent(new MouseEvent('contextmenu', { bubbles: true }));
    expect(host.getAttribute(CONTEXT_STEP_ATTR)).toBe('end');
    view.node.dispatchEvent(new MouseEvent('contextmenu', { bubbles: true }));
    expect(host.hasAttribute(CONTEXT_STEP_ATTR)).toBe(false);
  });
});

describe('DagView redraws', () => {
  const cells = (sources: string[]) =>
    sources.map((source, index) => ({ index, id: null, cell_type: 'code', source, tags: [] }));

  it('keeps the elements of a step node and updates them in place', () => {
    const view = new DagView();
    document.body.appendChild(view.node);
    view.render(layoutFlow(assemble(cells(['%%step start', '%%step end']))), new Map());
    const rect = view.node.querySelector('[data-step="start"] rect')!;
    const done = new Map([
      ['start', state({ status: 'done', durationMs: 850, errors: ['bad <b>x</b>'] })]
    ]);
    view.render(layoutFlow(assemble(cells(['%%step start', '%%step train', '%%step end']))), done);
    expect(rect.isConnected).toBe(true);
    expect(view.node.querySelector('[data-step="start"] rect')).toBe(rect);
    const start = view.node.querySelector('[data-step="start"]')!;
    expect(start.getAttribute('data-status')).toBe('done');
    expect(start.getAttribute('data-error')).toBe('true');
    expect(start.querySelector('.jp-mf-DagNode-detail')!.textContent).toBe('done · 850 ms');
    expect(start.querySelector('.jp-mf-DagNode-error title')!.textContent).toBe('bad <b>x</b>');
    expect(start.querySelector('b')).toBeNull();
    expect(
      Array.from(view.node.querySelectorAll('.jp-mf-DagNode')).map(g => g.getAttribute('data-step'))
    ).toEqual(['start', 'train', 'end']);
    view.render(layoutFlow(assemble(cells(['%%step start', '%%step end']))), new Map());
    expect(view.node.querySelector('[data-step="train"]')).toBeNull();
    expect(start.hasAttribute('data-error')).toBe(false);
    expect(start.querySelector('.jp-mf-DagNode-error')).toBeNull();
    expect(start.getAttribute('data-status')).toBe('none');
    view.dispose();
    view.node.remove();
  });
});

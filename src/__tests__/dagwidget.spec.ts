import { assemble } from '../assembly';
import {
  DagWidgetModel,
  DagWidgetView,
  MODULE_NAME,
  MODULE_VERSION,
  flowErrors,
  nodeStates,
  stateOf
} from '../widget/dagwidget';
import { widgetPlugin } from '../widget';
import { PACKAGE_VERSION } from '../version';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

function cells(sources: string[]) {
  return sources.map((source, index) => ({
    index,
    id: `c${index}`,
    cell_type: 'code',
    source,
    tags: []
  }));
}

/** A widget model as the manager would create it from the kernel's state (no comm needed). */
function widgetModel(state: { [key: string]: unknown }): DagWidgetModel {
  const manager: any = {};
  return new DagWidgetModel(state, { model_id: 'm1', widget_manager: manager } as any);
}

function render(model: DagWidgetModel): DagWidgetView {
  const view = new DagWidgetView({ model } as any);
  view.render();
  return view;
}

describe('DAG widget', () => {
  const flow = assemble(
    cells([
      '%%step start\nself.xs = [1, 2, 3]\nself.next(self.work, foreach="xs")',
      '%%step work',
      '%%step join\npass',
      '%%step end'
    ])
  );

  it('registers under the Python module name and the package version', () => {
    expect(MODULE_NAME).toBe('jupyter-metaflow');
    expect(MODULE_VERSION).toBe(PACKAGE_VERSION);
    const model = widgetModel({});
    expect(model.get('_model_name')).toBe('DagWidgetModel');
    expect(model.get('_view_name')).toBe('DagWidgetView');
    expect(model.get('_model_module')).toBe('jupyter-metaflow');
  });

  it('is registered with the widget manager under the range the kernel asks for', () => {
    const registered: any[] = [];
    const registry = { registerWidget: (data: any) => registered.push(data) };
    widgetPlugin.activate({} as any, registry, null);
    expect(registered).toEqual([
      {
        name: 'jupyter-metaflow',
        version: PACKAGE_VERSION,
        exports: { DagWidgetModel, DagWidgetView }
      }
    ]);
    // widget.py asks for "^" + __version__ (python/jupyter_metaflow/_version.py), which the
    // registered version satisfies as long as both equal package.json (test_versions.py).
    const py = require('fs').readFileSync(
      require('path').join(__dirname, '../../python/jupyter_metaflow/widget.py'),
      'utf-8'
    );
    expect(py).toContain('MODULE_NAME = "jupyter-metaflow"');
    expect(py).toContain('MODULE_VERSION = "^" + __version__');
  });

  it('draws the synced model with statuses and foreach progress', () => {
    const model = widgetModel({
      flow: 'ForeachFlow',
      run_id: '17',
      model: flow,
      status: {
        start: { run_id: '17', step: 'start', state: 'done', duration_ms: 1500 },
        work: {
          run_id: '17',
          step: 'work',
          state: 'running',
          split_index: 1,
          num_splits: 3,
          done_splits: [0]
        }
      },
      errors: []
    });
    const view = render(model);
    const nodes = Array.from(view.el.querySelectorAll('.jp-mf-DagNode'));
    expect(nodes.map(n => n.getAttribute('data-step'))).toEqual(['start', 'work', 'join', 'end']);
    expect(nodes.map(n => n.getAttribute('data-status'))).toEqual([
      'done',
      'running',
      'none',
      'none'
    ]);
    expect(nodes[0].querySelector('.jp-mf-DagNode-detail')!.textContent).toBe('done · 1.5 s');
    expect(nodes[1].querySelector('.jp-mf-DagNode-detail')!.textContent).toBe('running · 1/3');
    expect(view.el.querySelector('.jp-mf-DagWidget-header')!.textContent).toBe(
      'ForeachFlow: 4 steps · run 17'
    );
  });

  it('redraws when the kernel changes the status trait', () => {
    const model = widgetModel({ flow: 'F', model: flow, status: {}, errors: [] });
    const view = render(model);
    const status = () => view.el.querySelector('[data-step="work"]')!.getAttribute('data-status');
    expect(status()).toBe('none');
    model.set('status', {
      work: { run_id: '1', step: 'work', state: 'failed', error: 'ValueError: boom' }
    });
    expect(status()).toBe('failed');
    expect(view.el.querySelector('[data-step="work"]')!.getAttribute('data-error')).toBe('true');
    model.set('status', { work: { run_id: '1', step: 'work', state: 'stale' } });
    expect(view.el.querySelector('[data-step="work"]')!.getAttribute('data-stale')).toBe('true');
  });

  it('shows the case a switch step took', () => {
    const flowWithSwitch = assemble(
      cells([
        "%%step start\nself.mode = 'fast'\nself.next({'fast': self.quick, 'slow': self.careful}, condition='mode')",
        '%%step quick\nself.next(self.end)',
        '%%step careful\nself.next(self.end)',
        '%%step end'
      ])
    );
    expect(flowWithSwitch.errors).toEqual([]);
    const model = widgetModel({
      flow: 'F',
      model: flowWithSwitch,
      status: {
        start: { run_id: '5', step: 'start', state: 'done' },
        quick: { run_id: '5', step: 'quick', state: 'done' },
        careful: { run_id: '4', step: 'careful', state: 'done' }
      },
      errors: []
    });
    const view = render(model);
    expect(nodeStates(stateOf(model)).get('start')!.switchChoice).toBe('fast');
    expect(view.el.querySelector('[data-step="start"] .jp-mf-DagNode-detail')!.textContent).toBe(
      'done · → fast'
    );
  });

  it('renders untrusted step names and errors as text only', () => {
    const bad = assemble(cells(['%%step start\nself.next(self.nowhere)', '%%step end']));
    const model = widgetModel({
      flow: PAYLOAD,
      model: bad,
      status: { start: { run_id: '1', step: 'start', state: 'failed', error: PAYLOAD } },
      errors: [
        ...bad.errors,
        { code: 'lint', cell_index: null, cell_id: null, line: null, message: PAYLOAD, fix: '' }
      ]
    });
    const view = render(model);
    expect(view.el.querySelector('img')).toBeNull();
    expect((window as any).__pwned).toBeUndefined();
    expect(view.el.querySelector('.jp-mf-DagWidget-header')!.textContent).toContain(PAYLOAD);
    const listed = Array.from(view.el.querySelectorAll('.jp-mf-DagWidget-errors li')).map(
      li => li.textContent
    );
    expect(listed).toEqual([PAYLOAD]);
    const start = nodeStates(stateOf(model)).get('start')!;
    expect(start.errors).toEqual([expect.stringContaining('nowhere'), PAYLOAD]);
  });

  it('says so when there are no steps, and lists flow-level errors', () => {
    const empty = assemble(cells(['x = 1']));
    const model = widgetModel({ flow: 'F', model: empty, status: {}, errors: empty.errors });
    const view = render(model);
    expect(view.el.querySelector('.jp-mf-DagWidget-empty')!.textContent).toContain('%%step start');
    expect(flowErrors(stateOf(model))).toEqual(
      empty.errors.map(e =>
        `${e.cell_index === null ? '' : `cell ${e.cell_index + 1}: `}${e.message} ${e.fix}`.trim()
      )
    );
  });

  it('reports node clicks with the step cell id', () => {
    const model = widgetModel({ flow: 'F', model: flow, status: {}, errors: [] });
    const view = render(model);
    const seen: Array<[string, string | null]> = [];
    DagWidgetView.onSelect = (_view, step, cellId) => seen.push([step, cellId]);
    const events: any[] = [];
    view.el.addEventListener('jp-mf-select-step', e => events.push((e as CustomEvent).detail));
    (view.el.querySelector('[data-step="join"] rect') as SVGElement).dispatchEvent(
      new MouseEvent('click', { bubbles: true })
    );
    DagWidgetView.onSelect = null;
    expect(seen).toEqual([['join', 'c2']]);
    expect(events).toEqual([{ step: 'join', cellId: 'c2' }]);
  });
});

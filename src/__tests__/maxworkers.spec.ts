/**
 * The setting Maximum workers travels to the kernel with the notebook's cells
 * (the `flow` message), on the comm and in the silent request sent before the
 * comm is up, and again when it changes.
 */
import { NotebookModel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import { FlowState, maxWorkersSetting } from '../model';
import { parseEnvelope } from '../protocol';

const SETTINGS = require('../../schema/flow.json');

const CELLS = [
  '%%step start\nself.items = [1, 2]\nself.next(self.body, foreach="items")',
  '%%step body\nself.next(self.join)',
  '%%step join\nself.next(self.end)',
  '%%step end\npass'
];

function setup(linkState: string, maxWorkers: () => number | null) {
  const model = new NotebookModel();
  model.sharedModel.insertCells(
    0,
    CELLS.map(source => ({ cell_type: 'code', source, metadata: { trusted: true } }))
  );
  const requested: string[] = [];
  const sent: { type: string; payload: any }[] = [];
  const owner = {};
  const panel = {
    content: { model },
    context: { path: 'sweep.ipynb', pathChanged: new Signal(owner) },
    sessionContext: {
      statusChanged: new Signal(owner),
      kernelChanged: new Signal(owner),
      session: {
        kernel: {
          status: 'idle',
          requestExecute: (content: { code: string }) => {
            requested.push(content.code);
            return {};
          }
        }
      }
    }
  };
  const link = {
    state: linkState,
    messageReceived: new Signal(owner),
    stateChanged: new Signal(owner),
    send: (type: string, payload: unknown) => {
      sent.push({ type, payload });
      return true;
    }
  };
  const state = new FlowState(panel as any, link as any, { debounceMs: 0, maxWorkers });
  return { model, state, sent, requested };
}

describe('the setting Maximum workers', () => {
  it('is a positive integer or not set (0, the default)', () => {
    expect(SETTINGS.properties.maxWorkers.default).toBe(0);
    expect(SETTINGS.properties.maxWorkers.type).toBe('integer');
    expect(maxWorkersSetting(0)).toBeNull();
    expect(maxWorkersSetting(undefined)).toBeNull();
    expect(maxWorkersSetting(3)).toBe(3);
    expect(maxWorkersSetting(2.5)).toBeNull();
    expect(maxWorkersSetting('3')).toBeNull();
  });

  it('goes with the cells, and again when it changes', () => {
    let value: number | null = 3;
    const { state, sent } = setup('connected', () => value);
    const flows = () => sent.filter(m => m.type === 'flow').map(m => m.payload);
    expect(flows()).toHaveLength(1);
    expect(flows()[0].max_workers).toBe(3);
    // what the kernel receives is a valid 'flow' message of this protocol
    expect(parseEnvelope({ protocol: '1.8', type: 'flow', payload: flows()[0] })).not.toBeNull();
    state.settingsChanged(); // nothing changed: nothing sent
    expect(flows()).toHaveLength(1);
    value = null;
    state.settingsChanged();
    expect(flows()).toHaveLength(2);
    expect(flows()[1].max_workers).toBeNull();
    expect(parseEnvelope({ protocol: '1.8', type: 'flow', payload: flows()[1] })).not.toBeNull();
    state.dispose();
  });

  it('goes with the cells sent ahead of a step before the comm is up', () => {
    const { model, state, requested } = setup('not-loaded', () => 2);
    state.beforeExecution(model.cells.get(1).id);
    const silent = requested.find(code => code.includes('receive_notebook'));
    expect(silent).toBeDefined();
    expect(silent).toContain('\\"max_workers\\":2');
    state.dispose();
  });

  it('is refused by the protocol when not a positive integer', () => {
    const payload = { path: 'x.ipynb', cells: [], max_workers: 0 };
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(parseEnvelope({ protocol: '1.8', type: 'flow', payload })).toBeNull();
    warn.mockRestore();
  });
});

/**
 * JupyterLab's trust model: an untrusted notebook sends nothing to the kernel
 * and does not load the kernel side until the user runs a cell or trusts it.
 */
import { NotebookModel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import { FlowState, notebookTrusted } from '../model';
import { consentText } from '../panel';

const CELLS = ['%%step start\nself.next(self.end)', '%%step end\npass'];

function setup(trusted: boolean, linkState = 'not-loaded') {
  const model = new NotebookModel();
  model.sharedModel.insertCells(
    0,
    CELLS.map(source => ({ cell_type: 'code', source, metadata: { trusted } }))
  );
  const requested: string[] = [];
  const sent: string[] = [];
  const kernel = {
    status: 'idle',
    requestExecute: (content: { code: string }) => {
      requested.push(content.code);
      return {};
    }
  };
  const owner = {};
  const panel = {
    content: { model },
    context: { path: 'shared.ipynb', pathChanged: new Signal(owner) },
    sessionContext: {
      statusChanged: new Signal(owner),
      kernelChanged: new Signal(owner),
      session: { kernel }
    }
  };
  const link = {
    state: linkState,
    messageReceived: new Signal(owner),
    stateChanged: new Signal(owner),
    send: (type: string) => {
      sent.push(type);
      return true;
    }
  };
  const state = new FlowState(panel as any, link as any, { debounceMs: 0 });
  return { model, state, requested, sent };
}

describe('FlowState consent', () => {
  it('loads nothing and sends no cells for an untrusted notebook', () => {
    const { state, requested } = setup(false);
    expect(state.consent).toBeNull();
    expect(state.model.steps.map(s => s.name)).toEqual(['start', 'end']); // drawn from its own parsing
    expect(requested).toEqual([]);
    const connected = setup(false, 'connected');
    expect(connected.sent).toEqual([]);
    state.dispose();
    connected.state.dispose();
  });

  it('loads the kernel side when the user trusts the notebook', () => {
    const { model, state, requested } = setup(false);
    const cells = [...model.cells];
    cells[0].trusted = true;
    expect(state.consent).toBeNull(); // one trusted cell is not a trusted notebook
    cells[1].trusted = true;
    expect(state.consent).toBe('trusted');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toContain('load_ipython_extension');
    state.dispose();
  });

  it('loads the kernel side and sends the cells when the user runs a cell', () => {
    const { state, requested } = setup(false);
    state.executing();
    expect(state.consent).toBe('executed');
    expect(requested).toHaveLength(1);
    const connected = setup(false, 'connected');
    connected.state.executing();
    expect(connected.sent).toEqual(['flow']);
    state.dispose();
    connected.state.dispose();
  });

  it('keeps auto-load for a trusted notebook (one the user made)', () => {
    const { state, requested } = setup(true);
    expect(state.consent).toBe('trusted');
    expect(requested).toHaveLength(1);
    state.executing();
    expect(state.consent).toBe('trusted'); // the first reason stays
    state.dispose();
  });

  it('counts code cells only, as Jupyter signs notebooks', () => {
    const model = new NotebookModel();
    model.sharedModel.insertCells(0, [
      { cell_type: 'markdown', source: '# doc', metadata: {} },
      { cell_type: 'code', source: 'x = 1', metadata: { trusted: true } }
    ]);
    expect(notebookTrusted(model.cells)).toBe(true);
  });

  it('says in the panel which consent loaded the kernel side', () => {
    expect(consentText('trusted')).toContain('trusted');
    expect(consentText('executed')).toContain('first cell you ran');
    expect(consentText(null)).toContain('nothing in this notebook runs');
  });
});

describe('FlowState export', () => {
  it('ends the export wait with the error the kernel sent for it', async () => {
    const { state } = setup(true, 'connected');
    const link = state.link as any;
    link.send = (type: string, payload: { request_id?: string }) => {
      if (type === 'export') {
        setTimeout(() =>
          link.messageReceived.emit({
            protocol: '1.6',
            type: 'error',
            payload: {
              message: 'OSError: disk',
              in_reply_to: 'export',
              request_id: payload.request_id
            }
          })
        );
      }
      return true;
    };
    await expect(state.export()).resolves.toMatchObject({ ok: false, error: 'OSError: disk' });
    state.dispose();
  });
});

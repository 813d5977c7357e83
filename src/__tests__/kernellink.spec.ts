import { Signal } from '@lumino/signaling';

import { KernelLink } from '../kernellink';
import { COMM_TARGET, PROTOCOL_VERSION } from '../protocol';
import { LinkIndicator, describeLink } from '../status';

/**
 * A scripted kernel connection: records what the link sends and lets the test
 * play the kernel's part (the real kernel is exercised by pytest and Galata).
 */
class ScriptedKernel {
  status = 'idle';
  handleComms = true;
  isDisposed = false;
  commsOverSubshells = 'perCommTarget';
  targets = new Map<string, (comm: any, msg: any) => void>();
  opened: ScriptedComm[] = [];

  registerCommTarget(name: string, cb: (comm: any, msg: any) => void): void {
    this.targets.set(name, cb);
  }
  removeCommTarget(name: string): void {
    this.targets.delete(name);
  }
  createComm(target: string): ScriptedComm {
    const comm = new ScriptedComm(target);
    this.opened.push(comm);
    return comm;
  }
}

class ScriptedComm {
  constructor(readonly targetName: string) {}
  isDisposed = false;
  sent: any[] = [];
  openData: any = null;
  onMsg: (msg: any) => void = () => undefined;
  onClose: (msg: any) => void = () => undefined;
  open(data: any): void {
    this.openData = data;
  }
  send(data: any): void {
    this.sent.push(data);
  }
  close(): void {
    this.isDisposed = true;
  }
  receive(data: any): void {
    this.onMsg({ content: { data } });
  }
}

function sessionWith(kernel: ScriptedKernel | null): any {
  const session: any = {
    session: kernel ? { kernel } : null,
    kernelChanged: new Signal<any, any>({}),
    statusChanged: new Signal<any, any>({})
  };
  return session;
}

const kernelHello = {
  protocol: PROTOCOL_VERSION,
  type: 'hello',
  payload: { side: 'kernel', package_version: '0.1.0', metaflow_version: '2.19.39' }
};

describe('KernelLink', () => {
  it('probes an idle kernel with a frontend hello', () => {
    const kernel = new ScriptedKernel();
    const link = new KernelLink(sessionWith(kernel));
    expect(kernel.targets.has(COMM_TARGET)).toBe(true);
    expect(kernel.commsOverSubshells).toBe('disabled');
    expect(kernel.opened).toHaveLength(1);
    expect(kernel.opened[0].openData.type).toBe('hello');
    expect(kernel.opened[0].openData.payload.side).toBe('frontend');
    expect(link.state).toBe('not-loaded');
  });

  it('connects when the kernel answers the probe, without a second hello', () => {
    const kernel = new ScriptedKernel();
    const link = new KernelLink(sessionWith(kernel));
    const states: string[] = [];
    link.stateChanged.connect((_, s) => states.push(s));
    kernel.opened[0].receive(kernelHello);
    expect(link.state).toBe('connected');
    expect(link.kernelInfo?.metaflow_version).toBe('2.19.39');
    expect(kernel.opened[0].sent).toHaveLength(0);
    expect(states).toEqual(['connected']);
    expect(link.send('error', { message: 'x' })).toBe(true);
  });

  it('answers a kernel-opened comm (%load_ext) with a hello', () => {
    const kernel = new ScriptedKernel();
    const link = new KernelLink(sessionWith(kernel));
    kernel.opened[0].onClose({}); // the probe was refused: extension not loaded
    expect(link.state).toBe('not-loaded');
    expect(link.send('error', { message: 'x' })).toBe(false);
    const fromKernel = new ScriptedComm(COMM_TARGET);
    kernel.targets.get(COMM_TARGET)!(fromKernel, { content: { data: kernelHello } });
    expect(link.state).toBe('connected');
    expect(fromKernel.sent).toHaveLength(1);
    expect(fromKernel.sent[0].payload.side).toBe('frontend');
  });

  it('drops the connection on restart and probes again when idle', () => {
    const kernel = new ScriptedKernel();
    const session = sessionWith(kernel);
    const link = new KernelLink(session);
    kernel.opened[0].receive(kernelHello);
    session.statusChanged.emit('restarting');
    expect(link.state).toBe('not-loaded');
    session.statusChanged.emit('idle');
    expect(kernel.opened).toHaveLength(2);
  });

  it('marks an incompatible protocol', () => {
    const kernel = new ScriptedKernel();
    const link = new KernelLink(sessionWith(kernel));
    kernel.opened[0].receive({ ...kernelHello, protocol: '99.0' });
    expect(link.state).toBe('incompatible');
  });

  it('follows kernel changes', () => {
    const first = new ScriptedKernel();
    const session = sessionWith(first);
    const link = new KernelLink(session);
    const second = new ScriptedKernel();
    session.kernelChanged.emit({ oldValue: first, newValue: second });
    expect(first.targets.size).toBe(0);
    expect(second.targets.has(COMM_TARGET)).toBe(true);
    expect(link.state).toBe('not-loaded');
    session.kernelChanged.emit({ oldValue: second, newValue: null });
    expect(link.state).toBe('no-kernel');
  });
});

describe('link state display', () => {
  it('describes every state as text', () => {
    expect(describeLink(null).text).toBe('Metaflow: no kernel');
    const link: any = {
      state: 'connected',
      kernelInfo: { side: 'kernel', package_version: '0.1.0', metaflow_version: '2.19.39' }
    };
    expect(describeLink(link)).toEqual({
      state: 'connected',
      text: 'Metaflow: connected',
      title: 'jupyter-metaflow 0.1.0 in the kernel, Metaflow 2.19.39'
    });
    expect(describeLink({ ...link, state: 'not-loaded' }).title).toContain('%load_ext');
  });

  it('renders kernel-supplied text as text and follows the link', () => {
    const kernel = new ScriptedKernel();
    const link = new KernelLink(sessionWith(kernel));
    const indicator = new LinkIndicator(link);
    expect(indicator.node.getAttribute('data-jp-mf-status')).toBe('not-loaded');
    const payload = '<img src=x onerror="window.__pwned=1">';
    kernel.opened[0].receive({
      ...kernelHello,
      payload: { ...kernelHello.payload, metaflow_version: payload }
    });
    expect(indicator.node.getAttribute('data-jp-mf-status')).toBe('connected');
    expect(indicator.node.querySelector('img')).toBeNull();
    expect(indicator.node.title).toContain(payload);
    expect((window as any).__pwned).toBeUndefined();
  });
});

import type { ISessionContext } from '@jupyterlab/apputils';
import { CommsOverSubshells } from '@jupyterlab/services';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import {
  COMM_TARGET,
  envelope,
  isCompatible,
  parseEnvelope,
  type IEnvelope,
  type IHello,
  type IMessagePayloads,
  type MessageType
} from './protocol';
import type { IKernelLink, LinkState } from './tokens';
import { PACKAGE_VERSION } from './version';

/**
 * The comm link of one notebook session to the kernel side.
 *
 * Both sides may start the handshake: the frontend registers the comm target on
 * every kernel it sees (the kernel opens a comm when `%load_ext jupyter_metaflow`
 * runs) and also opens a comm itself whenever a kernel becomes idle (answered
 * if the extension is already loaded, closed at once otherwise). Restarts and
 * kernel changes drop the comm and start over.
 */
export class KernelLink implements IKernelLink {
  constructor(readonly sessionContext: ISessionContext) {
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    this._attach(sessionContext.session?.kernel ?? null);
  }

  get state(): LinkState {
    return this._state;
  }

  get kernelInfo(): IHello | null {
    return this._kernelInfo;
  }

  get stateChanged(): ISignal<this, LinkState> {
    return this._stateChanged;
  }

  get messageReceived(): ISignal<this, IEnvelope> {
    return this._messageReceived;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  send<T extends MessageType>(type: T, payload: IMessagePayloads[T]): boolean {
    if (this._state !== 'connected' || !this._comm || this._comm.isDisposed) {
      return false;
    }
    this._comm.send(envelope(type, payload) as any);
    return true;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._detach();
    Signal.clearData(this);
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { oldValue: Kernel.IKernelConnection | null; newValue: Kernel.IKernelConnection | null }
  ): void {
    this._detach();
    this._attach(change.newValue);
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._dropComm();
      this._setState(this._kernel ? 'not-loaded' : 'no-kernel');
      this._probePending = true;
    } else if (status === 'idle' && this._probePending) {
      this._probe();
    }
  }

  private _attach(kernel: Kernel.IKernelConnection | null): void {
    this._kernel = kernel;
    if (!kernel || !kernel.handleComms) {
      this._setState('no-kernel');
      return;
    }
    // Comm messages must reach the kernel's main thread: the handlers touch the
    // executor's state, which steps running on the main thread also use. With
    // subshells per comm target (JupyterLab 4.6's default), closing our probe comm
    // also deletes the subshell the live comm is bound to, after which the kernel
    // drops its messages ("Unknown subshell_id"; ipykernel#1557, jupyterlab#19722).
    kernel.commsOverSubshells = CommsOverSubshells.Disabled;
    kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
    this._setState('not-loaded');
    this._probePending = true;
    if (kernel.status === 'idle') {
      this._probe();
    }
  }

  private _detach(): void {
    this._dropComm();
    if (this._kernel && !this._kernel.isDisposed && this._kernel.handleComms) {
      this._kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
    }
    this._kernel = null;
  }

  /** Open a comm from our side; the kernel answers only if the extension is loaded. */
  private _probe(): void {
    const kernel = this._kernel;
    this._probePending = false;
    if (!kernel || kernel.isDisposed || this._state === 'connected') {
      return;
    }
    let comm: Kernel.IComm;
    try {
      comm = kernel.createComm(COMM_TARGET);
    } catch (err) {
      console.warn('jupyter-metaflow: cannot open a comm', err);
      return;
    }
    this._adopt(comm);
    comm.open(envelope('hello', this._hello()) as any);
  }

  private _onCommOpen = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    this._adopt(comm);
    this._mustAnswerHello = true;
    this._handle(msg.content.data);
  };

  private _adopt(comm: Kernel.IComm): void {
    if (this._comm && this._comm !== comm && !this._comm.isDisposed) {
      // The newest comm wins; the kernel keeps serving both.
      this._comm.onClose = undefined as any;
      this._comm.close();
    }
    this._comm = comm;
    this._mustAnswerHello = false;
    comm.onMsg = msg => this._handle(msg.content.data);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        this._kernelInfo = null;
        this._setState(this._kernel ? 'not-loaded' : 'no-kernel');
      }
    };
  }

  private _handle(data: unknown): void {
    const message = parseEnvelope(data);
    if (!message) {
      const protocol = (data as { protocol?: unknown } | null)?.protocol;
      if (typeof protocol === 'string' && !isCompatible(protocol)) {
        this._setState('incompatible');
      }
      return;
    }
    if (message.type === 'hello') {
      const hello = message.payload as IHello;
      this._kernelInfo = hello;
      if (this._mustAnswerHello && this._comm) {
        this._mustAnswerHello = false;
        this._comm.send(envelope('hello', this._hello()) as any);
      }
      this._setState('connected');
    }
    this._messageReceived.emit(message);
  }

  private _hello(): IHello {
    return { side: 'frontend', package_version: PACKAGE_VERSION };
  }

  private _dropComm(): void {
    const comm = this._comm;
    this._comm = null;
    this._kernelInfo = null;
    if (comm && !comm.isDisposed) {
      comm.onClose = undefined as any;
      try {
        comm.close();
      } catch {
        // The kernel is gone; nothing to close.
      }
    }
  }

  private _setState(state: LinkState): void {
    if (this._state !== state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _kernelInfo: IHello | null = null;
  private _state: LinkState = 'no-kernel';
  private _probePending = false;
  private _mustAnswerHello = false;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, LinkState>(this);
  private _messageReceived = new Signal<this, IEnvelope>(this);
}

import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';
import type { ISessionContext } from '@jupyterlab/apputils';
import type { NotebookPanel } from '@jupyterlab/notebook';

import type { IEnvelope, IHello, IMessagePayloads, MessageType } from './protocol';

/** Connection state of one notebook's kernel link. */
export type LinkState =
  | 'no-kernel' // the notebook has no kernel (yet)
  | 'not-loaded' // a kernel, but `%load_ext jupyter_metaflow` has not run
  | 'connected' // handshake done, compatible versions
  | 'incompatible'; // handshake done, protocol major versions differ

/**
 * The link between one notebook session and the kernel side of jupyter-metaflow.
 * Views of the same notebook share one session, hence one link.
 */
export interface IKernelLink {
  /** The notebook session this link belongs to. */
  readonly sessionContext: ISessionContext;
  /** Current state. */
  readonly state: LinkState;
  /** The kernel's handshake, once received. */
  readonly kernelInfo: IHello | null;
  /** Emits the new state on every change. */
  readonly stateChanged: ISignal<IKernelLink, LinkState>;
  /** Emits every valid message from the kernel. */
  readonly messageReceived: ISignal<IKernelLink, IEnvelope>;
  /** Send a message to the kernel; false if not connected. */
  send<T extends MessageType>(type: T, payload: IMessagePayloads[T]): boolean;
}

/** Tracks one {@link IKernelLink} per open notebook. */
export interface IKernelLinks {
  /** The link of a notebook panel, if it is tracked. */
  get(panel: NotebookPanel): IKernelLink | undefined;
  /** The link of the active notebook. */
  readonly current: IKernelLink | null;
  /** Emits a link when it is created (a notebook opened). */
  readonly linkAdded: ISignal<IKernelLinks, IKernelLink>;
  /** Emits whenever any link's state changes, or the active notebook changes. */
  readonly changed: ISignal<IKernelLinks, IKernelLink | null>;
}

/** The kernel links service. */
export const IKernelLinks = new Token<IKernelLinks>(
  'jupyter-metaflow:IKernelLinks',
  'One comm link per notebook to the kernel side of jupyter-metaflow.'
);

import type { NotebookPanel, INotebookTracker } from '@jupyterlab/notebook';
import type { ISessionContext } from '@jupyterlab/apputils';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import { KernelLink } from './kernellink';
import type { IKernelLink, IKernelLinks } from './tokens';

/** One {@link KernelLink} per notebook session, created as notebooks open. */
export class KernelLinks implements IKernelLinks {
  constructor(private readonly _tracker: INotebookTracker) {
    _tracker.widgetAdded.connect((_, panel) => this._track(panel));
    _tracker.currentChanged.connect(() => this._changed.emit(this.current));
    _tracker.forEach(panel => this._track(panel));
  }

  get(panel: NotebookPanel): IKernelLink | undefined {
    return this._links.get(panel.sessionContext);
  }

  get current(): IKernelLink | null {
    const panel = this._tracker.currentWidget;
    return (panel && this.get(panel)) ?? null;
  }

  get linkAdded(): ISignal<this, IKernelLink> {
    return this._linkAdded;
  }

  get changed(): ISignal<this, IKernelLink | null> {
    return this._changed;
  }

  private _track(panel: NotebookPanel): void {
    const session = panel.sessionContext;
    let link = this._links.get(session);
    if (!link) {
      link = new KernelLink(session);
      this._links.set(session, link);
      link.stateChanged.connect(l => this._changed.emit(l));
      session.disposed.connect(() => {
        this._links.get(session)?.dispose();
        this._links.delete(session);
      });
      this._linkAdded.emit(link);
    }
  }

  private _links = new Map<ISessionContext, KernelLink>();
  private _linkAdded = new Signal<this, IKernelLink>(this);
  private _changed = new Signal<this, IKernelLink | null>(this);
}

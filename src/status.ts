import { Widget } from '@lumino/widgets';

import type { IKernelLink, IKernelLinks, LinkState } from './tokens';

const LABELS: Record<LinkState, string> = {
  'no-kernel': 'Metaflow: no kernel',
  'not-loaded': 'Metaflow: not loaded',
  connected: 'Metaflow: connected',
  incompatible: 'Metaflow: incompatible kernel'
};

/** Status bar item showing whether the active notebook's kernel side is connected. */
export class LinkStatus extends Widget {
  constructor(private readonly _links: IKernelLinks) {
    super();
    this.addClass('jp-mf-LinkStatus');
    this.node.setAttribute('data-jp-mf-status', 'no-kernel');
    _links.changed.connect(this.update, this);
    this.update();
  }

  /** Text shown for a link (also used as the tooltip's first line). */
  static describe(link: IKernelLink | null): { state: LinkState; text: string; title: string } {
    const state = link?.state ?? 'no-kernel';
    const info = link?.kernelInfo;
    const title =
      state === 'connected' && info
        ? `jupyter-metaflow ${info.package_version} in the kernel, Metaflow ${info.metaflow_version ?? '?'}`
        : state === 'not-loaded'
          ? 'Run %load_ext jupyter_metaflow in the notebook'
          : LABELS[state];
    return { state, text: LABELS[state], title };
  }

  protected onUpdateRequest(): void {
    const { state, text, title } = LinkStatus.describe(this._links.current);
    this.node.textContent = text; // text only: nothing from the kernel is parsed as HTML
    this.node.title = title;
    this.node.setAttribute('data-jp-mf-status', state);
  }

  update(): void {
    this.onUpdateRequest();
  }
}

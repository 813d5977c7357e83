import { Widget } from '@lumino/widgets';

import type { IKernelLink, IKernelLinks, LinkState } from './tokens';

const LABELS: Record<LinkState, string> = {
  'no-kernel': 'Metaflow: no kernel',
  'not-loaded': 'Metaflow: not loaded',
  connected: 'Metaflow: connected',
  incompatible: 'Metaflow: incompatible kernel'
};

/** The text, tooltip and state attribute shown for a link (null: no notebook). */
export function describeLink(link: IKernelLink | null): {
  state: LinkState;
  text: string;
  title: string;
} {
  const state = link?.state ?? 'no-kernel';
  const info = link?.kernelInfo;
  const title =
    state === 'connected' && info
      ? `jupyter-metaflow ${info.package_version} in the kernel, Metaflow ${info.metaflow_version ?? '?'}`
      : state === 'not-loaded'
        ? 'Run %load_ext jupyter_metaflow in the notebook'
        : state === 'incompatible'
          ? 'The kernel runs a jupyter-metaflow with another protocol version: upgrade one side'
          : LABELS[state];
  return { state, text: LABELS[state], title };
}

/** Renders a link's state as text (never HTML: versions come from the kernel). */
function render(node: HTMLElement, link: IKernelLink | null): void {
  const { state, text, title } = describeLink(link);
  node.textContent = text;
  node.title = title;
  node.setAttribute('data-jp-mf-status', state);
}

/** Status bar item (JupyterLab) for the active notebook's link. */
export class LinkStatus extends Widget {
  constructor(private readonly _links: IKernelLinks) {
    super();
    this.addClass('jp-mf-LinkStatus');
    _links.changed.connect(() => render(this.node, this._links.current), this);
    render(this.node, this._links.current);
  }
}

/** Notebook toolbar item for one notebook's link (JupyterLab and Notebook 7). */
export class LinkIndicator extends Widget {
  constructor(private readonly _link: IKernelLink) {
    super();
    this.addClass('jp-mf-LinkStatus');
    this.addClass('jp-mf-LinkIndicator');
    _link.stateChanged.connect(() => render(this.node, this._link), this);
    render(this.node, this._link);
  }
}

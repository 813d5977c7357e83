/**
 * `%mf_show` outputs in JupyterLab: the renderer for
 * `application/vnd.jupyter-metaflow.artifact+json`, registered from a plugin
 * (not a `mimeExtension`) because frame paging needs the notebook's kernel link.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { IKernelLinks } from '../tokens';
import { createRendererFactory } from './renderer';
import { RENDERER_RANK } from './types';

export { ArtifactRenderer, createRendererFactory, renderHeader, requestPage } from './renderer';
export { MIME_TYPE, RENDERER_RANK } from './types';

/** Registers the `%mf_show` renderer (rank 20, below text/html's 50). */
export const showPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:show',
  description: 'Renders %mf_show artifact views, paging frames through the kernel link.',
  autoStart: true,
  requires: [IRenderMimeRegistry, IKernelLinks, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    links: IKernelLinks,
    tracker: INotebookTracker
  ): void => {
    const findLink = (node: HTMLElement) => {
      const panel = tracker.find(p => p.node.contains(node));
      return panel ? (links.get(panel) ?? null) : null;
    };
    rendermime.addFactory(createRendererFactory(findLink), RENDERER_RANK);
  }
};

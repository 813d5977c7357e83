import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { flowPlugins } from './flowplugins';
import { KernelLinks } from './links';
import { LinkIndicator, LinkStatus } from './status';
import { IKernelLinks } from './tokens';
import { widgetPlugin } from './widget';
import { showPlugin } from './mime';

export * from './tokens';
export * from './protocol';

/** Keeps one comm link per notebook to the kernel side of jupyter-metaflow. */
const linksPlugin: JupyterFrontEndPlugin<IKernelLinks> = {
  id: 'jupyter-metaflow:links',
  description: 'Links each notebook to the kernel side of jupyter-metaflow over a comm.',
  autoStart: true,
  requires: [INotebookTracker],
  provides: IKernelLinks,
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker): IKernelLinks => {
    console.log('jupyter-metaflow: links plugin activated');
    return new KernelLinks(tracker);
  }
};

/**
 * Shows the link state in each notebook's toolbar (JupyterLab and Notebook 7)
 * and, where there is a status bar, for the active notebook there.
 */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:status',
  description: 'Shows whether the kernel side of jupyter-metaflow is connected.',
  autoStart: true,
  requires: [IKernelLinks, INotebookTracker],
  optional: [IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    links: IKernelLinks,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null
  ): void => {
    const addIndicator = (panel: NotebookPanel): void => {
      const link = links.get(panel);
      if (link) {
        panel.toolbar.insertAfter('spacer', 'jupyter-metaflow-status', new LinkIndicator(link));
      }
    };
    tracker.forEach(addIndicator);
    tracker.widgetAdded.connect((_, panel) => addIndicator(panel));
    if (!statusBar) {
      return;
    }
    const item = new LinkStatus(links);
    statusBar.registerStatusItem('jupyter-metaflow:status', {
      item,
      align: 'left',
      rank: 4,
      isActive: () => links.current !== null
    });
  }
};

export default [linksPlugin, statusPlugin, widgetPlugin, showPlugin, ...flowPlugins];

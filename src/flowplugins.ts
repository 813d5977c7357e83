/**
 * The plugins of the live flow: per-notebook flow states, cell decorations,
 * the DAG panel and the commands (wired into src/index.ts).
 */
import { ILabShell, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { treeViewIcon } from '@jupyterlab/ui-components';

import { CellDecorations } from './celldecorations';
import { addCommands, CommandIDs } from './commands';
import { FlowStates, IFlowStates } from './model';
import { DagPanel } from './panel';
import { IKernelLinks } from './tokens';

/** One live flow state per notebook (assembly, kernel statuses, stale steps, auto-load). */
export const flowPlugin: JupyterFrontEndPlugin<IFlowStates> = {
  id: 'jupyter-metaflow:flow',
  description: 'Assembles the flow of each notebook live and tracks its step statuses.',
  autoStart: true,
  requires: [INotebookTracker, IKernelLinks],
  optional: [ISettingRegistry],
  provides: IFlowStates,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    links: IKernelLinks,
    settings: ISettingRegistry | null
  ): IFlowStates => {
    let autoLoad = true;
    settings
      ?.load(flowPlugin.id)
      .then(s => {
        const read = () => (autoLoad = s.get('autoLoad').composite !== false);
        read();
        s.changed.connect(read);
      })
      .catch(err => console.warn('jupyter-metaflow: cannot read settings', err));
    return new FlowStates(tracker, links, { autoLoad: () => autoLoad });
  }
};

/** Step badges, statuses and errors on the cells. */
export const decorationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:cell-decorations',
  description: 'Shows a step badge with status and duration, and errors, on step cells.',
  autoStart: true,
  requires: [IFlowStates],
  activate: (app: JupyterFrontEnd, states: IFlowStates): void => {
    states.added.connect((_, state) => {
      const decorations = new CellDecorations(state);
      state.panel.disposed.connect(() => decorations.dispose());
    });
  }
};

/** The DAG panel of the active notebook, in the right (or left) sidebar. */
export const dagPanelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:dag-panel',
  description: 'Draws the active notebook flow as a DAG in a sidebar.',
  autoStart: true,
  requires: [IFlowStates],
  optional: [ILabShell, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    states: IFlowStates,
    labShell: ILabShell | null,
    settings: ISettingRegistry | null
  ): Promise<void> => {
    const panel = new DagPanel(states, app.commands, {
      runAll: CommandIDs.runAll,
      export: CommandIDs.exportFlow
    });
    panel.title.icon = treeViewIcon;
    let area: 'left' | 'right' = 'right';
    if (settings) {
      try {
        const s = await settings.load(dagPanelPlugin.id);
        area = s.get('position').composite === 'left' ? 'left' : 'right';
      } catch (err) {
        console.warn('jupyter-metaflow: cannot read settings', err);
      }
    }
    app.shell.add(panel, area, { rank: 600 });
  }
};

/** Run step / Run to here / Run all / Export / Show DAG / Show artifacts. */
export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:commands',
  description: 'Commands to run steps, export the flow and show the DAG.',
  autoStart: true,
  requires: [IFlowStates, INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    states: IFlowStates,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ): void => {
    addCommands(app, states, tracker, 'jp-mf-dag-panel', palette);
  }
};

/** All of the above, in activation order. */
export const flowPlugins = [flowPlugin, decorationsPlugin, dagPanelPlugin, commandsPlugin];

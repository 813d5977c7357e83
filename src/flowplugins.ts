/**
 * The plugins of the live flow: per-notebook flow states, cell decorations,
 * the DAG panel and the commands (wired into src/index.ts).
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  ISessionContextDialogs,
  IToolbarWidgetRegistry
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Token } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { CellDecorations } from './celldecorations';
import { addCommands, CommandIDs, type IDagPanelAccess } from './commands';
import { flowDagIcon } from './icons';
import { FlowStates, IFlowStates, maxWorkersSetting } from './model';
import { DagPanel } from './panel';
import { IKernelLinks } from './tokens';

/** The DAG panel, for the commands that show a step's details in it. */
export const IDagPanel = new Token<IDagPanelAccess>(
  'jupyter-metaflow:IDagPanel',
  'The DAG panel of the active notebook (details of a step, run browser).'
);

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
    let maxWorkers: number | null = null;
    const states = new FlowStates(tracker, links, {
      autoLoad: () => autoLoad,
      maxWorkers: () => maxWorkers
    });
    settings
      ?.load(flowPlugin.id)
      .then(s => {
        const read = () => {
          autoLoad = s.get('autoLoad').composite !== false;
          maxWorkers = maxWorkersSetting(s.get('maxWorkers').composite);
          states.settingsChanged();
        };
        read();
        s.changed.connect(read);
      })
      .catch(err => console.warn('jupyter-metaflow: cannot read settings', err));
    return states;
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

/** The DAG panel of the active notebook, in the right (or left) sidebar; restored on reload. */
export const dagPanelPlugin: JupyterFrontEndPlugin<IDagPanelAccess> = {
  id: 'jupyter-metaflow:dag-panel',
  description:
    'Draws the active notebook flow as a DAG in a sidebar, with step details and past runs.',
  autoStart: true,
  requires: [IFlowStates],
  optional: [ILayoutRestorer, ISettingRegistry],
  provides: IDagPanel,
  activate: async (
    app: JupyterFrontEnd,
    states: IFlowStates,
    restorer: ILayoutRestorer | null,
    settings: ISettingRegistry | null
  ): Promise<IDagPanelAccess> => {
    const panel = new DagPanel(states, app.commands, {
      runAll: CommandIDs.runAll,
      export: CommandIDs.exportFlow
    });
    panel.title.icon = flowDagIcon;
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
    // brings the panel back, open if it was, after a page reload
    restorer?.add(panel, 'jupyter-metaflow-dag-panel');
    return { id: panel.id, showDetails: step => panel.showDetails(step) };
  }
};

/** Run step / Run to here / Run all / Export / Show DAG / Show details / Show artifacts. */
export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:commands',
  description: 'Commands to run steps, export the flow and show the DAG.',
  autoStart: true,
  requires: [IFlowStates, INotebookTracker],
  optional: [ICommandPalette, IDagPanel, ISessionContextDialogs, IToolbarWidgetRegistry],
  activate: (
    app: JupyterFrontEnd,
    states: IFlowStates,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    dagPanel: IDagPanelAccess | null,
    sessionDialogs: ISessionContextDialogs | null,
    toolbarRegistry: IToolbarWidgetRegistry | null
  ): void => {
    addCommands(app, states, tracker, dagPanel, palette, sessionDialogs);
    // the line between JupyterLab's own buttons and ours in the notebook toolbar
    toolbarRegistry?.addFactory('Notebook', 'mf-separator', () => {
      const separator = new Widget();
      separator.addClass('jp-mf-ToolbarSeparator');
      separator.node.setAttribute('role', 'separator');
      separator.node.setAttribute('aria-orientation', 'vertical');
      return separator;
    });
  }
};

/** All of the above, in activation order. */
export const flowPlugins = [flowPlugin, decorationsPlugin, dagPanelPlugin, commandsPlugin];

/**
 * Commands: Run step, Run to here, Run all steps, Export the flow, Show DAG,
 * Show step details, Show artifacts. Steps run by executing their CELLS with
 * JupyterLab's own NotebookActions (outputs land in the cells as with
 * Shift+Enter; without a kernel JupyterLab's kernel dialog opens, as for Run).
 * Menus, toolbar buttons and shortcuts come from schema/commands.json.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  Notification,
  showDialog,
  type ICommandPalette,
  type ISessionContext
} from '@jupyterlab/apputils';
import { NotebookActions, type INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { topologicalOrder, upstreamInOrder, type IFlowModel } from './assembly';
import { CONTEXT_STEP_ATTR, ellipsis, stepAt } from './dagview';
import { exportFlowIcon, flowDagIcon, runAllStepsIcon, runStepIcon } from './icons';
import type { FlowState, IFlowStates } from './model';
import { selectCell } from './panel';
import type { IExportResult } from './protocol';
import type { LinkState } from './tokens';

/** Command ids. */
export namespace CommandIDs {
  export const runStep = 'jupyter-metaflow:run-step';
  export const runToHere = 'jupyter-metaflow:run-to-here';
  export const runAll = 'jupyter-metaflow:run-all';
  export const exportFlow = 'jupyter-metaflow:export';
  export const showDag = 'jupyter-metaflow:show-dag';
  export const showArtifacts = 'jupyter-metaflow:show-artifacts';
  export const showDetails = 'jupyter-metaflow:show-details';
  export const stepInputs = 'jupyter-metaflow:step-inputs';
}

/** The file Export writes for a notebook: `<notebook>.py` beside it. */
export function exportFileName(notebookPath: string): string {
  const name = notebookPath.split('/').pop() ?? notebookPath;
  return `${name.replace(/\.ipynb$/i, '')}.py`;
}

/** What the DAG panel offers the commands. */
export interface IDagPanelAccess {
  /** The panel's id (to activate it). */
  id: string;
  /** Show a step's details in the panel. */
  showDetails(step: string): void;
}

/** The steps "Run to here" runs: the target's upstream in order, minus up-to-date ones. */
export function stepsToHere(
  state: Pick<FlowState, 'model' | 'isUpToDate'>,
  target: string
): string[] {
  return upstreamInOrder(state.model, target).filter(s => s === target || !state.isUpToDate(s));
}

/**
 * The cells the steps need before they run: the module cells (imports, helpers,
 * constants) and the flow cell (parameters), in notebook order.
 */
export function setupCells(model: Pick<IFlowModel, 'module_cells' | 'flow'>): number[] {
  const cells = [...model.module_cells];
  if (model.flow) {
    cells.push(model.flow.cell_index);
  }
  return cells.sort((a, b) => a - b);
}

/** Register the commands (and palette entries). */
export function addCommands(
  app: JupyterFrontEnd,
  states: IFlowStates,
  tracker: INotebookTracker,
  dagPanel: IDagPanelAccess | null,
  palette: ICommandPalette | null,
  sessionDialogs: ISessionContext.IDialogs | null = null
): void {
  const current = (): FlowState | null => {
    const panel = tracker.currentWidget;
    return (panel && states.get(panel)) ?? null;
  };
  /** The step a command is about: its `step` arg, the DAG node clicked, or the active cell's. */
  const target = (args: ReadonlyPartialJSONObject): string | null => {
    const state = current();
    if (!state) {
      return null;
    }
    if (typeof args.step === 'string') {
      return args.step;
    }
    if (args.origin === 'dag') {
      // the node with keyboard focus (a shortcut pressed on it), else the one a context menu opened on
      const focused = stepAt(document.activeElement);
      if (focused !== null) {
        return focused;
      }
      const hit = app.contextMenuHitTest(node => node.hasAttribute(CONTEXT_STEP_ATTR));
      return hit?.getAttribute(CONTEXT_STEP_ATTR) ?? null;
    }
    return state.stepOfCell(state.panel.content.activeCellIndex);
  };
  const hasStep = (args: ReadonlyPartialJSONObject) => target(args) !== null;

  app.commands.addCommand(CommandIDs.runStep, {
    // a long step name is cut: menus and tooltips are as wide as their labels
    label: args => (target(args) ? `Run Step ${ellipsis(target(args)!, 40)}` : 'Run Step'),
    caption: 'Run the step of this cell in the kernel',
    icon: runStepIcon,
    // enabled without a kernel: running then opens JupyterLab's kernel dialog, as Run does
    isEnabled: hasStep,
    execute: async args => {
      const state = current();
      const step = target(args);
      if (state && step) {
        await runSteps(state, [step], { sessionDialogs });
      }
    }
  });

  app.commands.addCommand(CommandIDs.runToHere, {
    label: 'Run to Here',
    caption: 'Run the steps upstream of this one that are not up to date, then this one',
    isEnabled: hasStep,
    execute: async args => {
      const state = current();
      const step = target(args);
      if (state && step) {
        await runSteps(state, stepsToHere(state, step), { sessionDialogs });
      }
    }
  });

  app.commands.addCommand(CommandIDs.runAll, {
    label: 'Run All Steps',
    caption: 'Run the module and flow cells, then every step of the flow, in order',
    icon: runAllStepsIcon,
    isEnabled: () => !!current()?.model.steps.length,
    execute: async () => {
      const state = current();
      if (state) {
        await runSteps(state, topologicalOrder(state.model), { setup: 'all', sessionDialogs });
      }
    }
  });

  app.commands.addCommand(CommandIDs.exportFlow, {
    label: () => {
      const state = current();
      return state
        ? `Export Flow to ${ellipsis(exportFileName(state.panel.context.path), 40)}`
        : 'Export Flow';
    },
    caption: 'Write the notebook flow to a Python flow file (<notebook>.py) next to the notebook',
    icon: exportFlowIcon,
    // Without step cells there is no flow to export (the kernel would refuse it).
    isEnabled: () => !!current()?.model.steps.length,
    execute: async () => {
      const state = current();
      if (state) {
        await exportFlow(state, path => void app.commands.execute('docmanager:open', { path }));
      }
    }
  });

  app.commands.addCommand(CommandIDs.showDag, {
    label: 'Show Metaflow DAG',
    caption: 'Open the DAG panel of the active notebook',
    icon: flowDagIcon,
    execute: () => {
      if (dagPanel) {
        app.shell.activateById(dagPanel.id);
      }
    }
  });

  app.commands.addCommand(CommandIDs.showDetails, {
    label: args =>
      target(args) ? `Show Details of ${ellipsis(target(args)!, 40)}` : 'Show Step Details',
    caption: "Show the step's status, tasks, artifacts, logs and card in the DAG panel",
    isEnabled: args => hasStep(args) && !!dagPanel,
    execute: args => {
      const step = target(args);
      if (dagPanel && step) {
        app.shell.activateById(dagPanel.id);
        dagPanel.showDetails(step);
      }
    }
  });

  app.commands.addCommand(CommandIDs.showArtifacts, {
    label: 'Show Artifacts',
    caption: 'Insert a %mf_show cell below the step and run it',
    isEnabled: hasStep,
    execute: async args => {
      const state = current();
      const step = target(args);
      if (state && step) {
        await insertBelowAndRun(state, step, `%mf_show ${step}`);
      }
    }
  });

  app.commands.addCommand(CommandIDs.stepInputs, {
    label: 'Step Inputs in Notebook',
    caption:
      'Insert a %mf_inputs cell below the step: self (inputs for a join) then reads what the step ' +
      'receives in the current run, to write its body in scratch cells',
    isEnabled: hasStep,
    execute: async args => {
      const state = current();
      const step = target(args);
      if (state && step) {
        await insertBelowAndRun(state, step, `%mf_inputs ${step}`);
      }
    }
  });

  // Enabled states and labels follow the active notebook's flow (toolbar, menus).
  let shown = '';
  const refresh = () => {
    const state = current();
    const now = JSON.stringify([!!state, state?.model.steps.length, state && target({})]);
    if (now !== shown) {
      shown = now;
      app.commands.notifyCommandChanged();
    }
  };
  states.currentChanged.connect(refresh);
  states.added.connect((_, state) => state.changed.connect(refresh));
  tracker.activeCellChanged.connect(refresh);

  if (palette) {
    const category = 'Metaflow';
    for (const command of [
      CommandIDs.runStep,
      CommandIDs.runToHere,
      CommandIDs.runAll,
      CommandIDs.exportFlow,
      CommandIDs.showDag,
      CommandIDs.showDetails,
      CommandIDs.showArtifacts,
      CommandIDs.stepInputs
    ]) {
      palette.addItem({ command, category });
    }
  }
}

/**
 * Run the cells of `steps` one after the other, like Shift+Enter; stop at the
 * first that fails. The module and flow cells run first: all of them (`setup:
 * 'all'`, Run All Steps) or those this kernel has not run as they read now (the
 * default), so a step never meets a NameError for an import its notebook holds.
 * Returns whether all succeeded.
 */
export async function runSteps(
  state: FlowState,
  steps: string[],
  options: { setup?: 'all' | 'missing'; sessionDialogs?: ISessionContext.IDialogs | null } = {}
): Promise<boolean> {
  state.refresh();
  const panel: NotebookPanel = state.panel;
  const setup = setupCells(state.model).filter(
    index => options.setup === 'all' || !state.ranInKernel(index)
  );
  const setupWidgets = setup.map(index => panel.content.widgets[index]).filter(cell => !!cell);
  if (setupWidgets.length) {
    selectCell(panel, setup[0]);
    if (
      !(await NotebookActions.runCells(
        panel.content,
        setupWidgets,
        panel.sessionContext,
        options.sessionDialogs ?? undefined
      ))
    ) {
      return false;
    }
  }
  for (const step of steps) {
    const index = state.cellIndexOf(step);
    const cell = panel.content.widgets[index];
    if (!cell) {
      Notification.error(`Step ${step} has no cell in this notebook.`, { autoClose: 5000 });
      return false;
    }
    selectCell(panel, index);
    const ok = await NotebookActions.runCells(
      panel.content,
      [cell],
      panel.sessionContext,
      options.sessionDialogs ?? undefined
    );
    if (!ok || state.book.get(step)?.state === 'failed') {
      return false;
    }
  }
  return true;
}

/** What an `export_result` means for the user: the kernel says whether the file exists. */
export type ExportOutcome = 'ask-overwrite' | 'up-to-date' | 'exported' | 'failed';

export function exportOutcome(result: IExportResult): ExportOutcome {
  if (!result.ok) {
    return result.exists ? 'ask-overwrite' : 'failed';
  }
  return result.written === false ? 'up-to-date' : 'exported';
}

/** The overwrite dialog's question for the flow file at `path` (which holds other content). */
export function overwriteQuestion(path: string): string {
  return `${path} already exists with other content. Overwrite it with the flow exported from this notebook?`;
}

/** Why the kernel cannot export, by link state (the kernel writes the flow file). */
const NOT_CONNECTED: Record<Exclude<LinkState, 'connected'>, string> = {
  'no-kernel':
    'This notebook has no kernel: start one (Kernel › Change Kernel), then export again.',
  'not-loaded':
    'Metaflow is not loaded in this kernel: run %load_ext jupyter_metaflow in the notebook, then export again.',
  incompatible:
    "The kernel's jupyter-metaflow speaks another protocol version: install the same jupyter-metaflow " +
    "version in the kernel's environment, restart the kernel, then export again."
};

/**
 * Export through the kernel (the one exporter); ask before overwriting. The
 * success notification offers to open the written file (`open(path)`).
 */
export async function exportFlow(
  state: FlowState,
  open: ((path: string) => void) | null = null
): Promise<void> {
  const link = state.link?.state ?? 'no-kernel';
  if (link !== 'connected') {
    const message =
      link === 'not-loaded' && state.consent === null
        ? 'This notebook is not trusted, so Metaflow is not loaded for it: run a cell or trust the ' +
          'notebook (Trust Notebook in the command palette), then export again.'
        : NOT_CONNECTED[link];
    Notification.warning(message, { autoClose: 8000 });
    return;
  }
  try {
    let result = await state.export();
    if (exportOutcome(result) === 'ask-overwrite') {
      const answer = await showDialog({
        title: 'Overwrite the flow file?',
        body: overwriteQuestion(result.output_path ?? 'The flow file'),
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Overwrite' })]
      });
      if (!answer.button.accept) {
        return;
      }
      result = await state.export({ force: true });
    }
    const path = result.output_path;
    const actions =
      open && path && !path.startsWith('/')
        ? [{ label: 'Open', caption: `Open ${path}`, callback: () => open(path) }]
        : [];
    switch (exportOutcome(result)) {
      case 'up-to-date':
        Notification.info(`${path ?? 'The flow file'} is already up to date with this notebook.`, {
          autoClose: 8000,
          actions
        });
        break;
      case 'exported':
        Notification.success(`Exported the flow to ${path ?? 'flow.py'}`, {
          autoClose: 8000,
          actions
        });
        break;
      default:
        Notification.error(`Export failed: ${result.error ?? 'unknown error'}`, {
          autoClose: false
        });
    }
  } catch (err) {
    Notification.error(`Export failed: ${(err as Error).message}`, { autoClose: false });
  }
}

/** Insert a cell holding `source` (`%mf_show STEP`, `%mf_inputs STEP`) below the step's cell and run it. */
async function insertBelowAndRun(state: FlowState, step: string, source: string): Promise<void> {
  const panel = state.panel;
  const index = state.cellIndexOf(step);
  if (index < 0) {
    return;
  }
  selectCell(panel, index);
  NotebookActions.insertBelow(panel.content);
  const cell = panel.content.activeCell;
  if (!cell) {
    return;
  }
  cell.model.sharedModel.setSource(source);
  await NotebookActions.runCells(panel.content, [cell], panel.sessionContext);
}

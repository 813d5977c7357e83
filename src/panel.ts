/**
 * The DAG panel: the active notebook's flow drawn as a DAG in a sidebar, with
 * an icon toolbar in JupyterLab's style, a legend, empty states, and below the
 * graph the details of the selected step and the run browser. The graph is
 * redrawn when the flow or its statuses change (the flow state debounces
 * edits), keeps readable text (it scrolls rather than shrinking below 90%)
 * and refits when the panel is resized or another notebook becomes active.
 * Clicking a node selects its cell and shows its details.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import {
  CommandToolbarButton,
  Toolbar,
  ToolbarButton,
  refreshIcon
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import { Panel, SplitPanel, TabPanel, Widget } from '@lumino/widgets';

import { DagView, type INodeState } from './dagview';
import { DetailsPane } from './details';
import { fitIcon, zoomInIcon, zoomOutIcon } from './icons';
import { layoutFlow, layoutKey, type ILayout } from './layout';
import {
  computeNodeStates,
  StatusBook,
  type FlowState,
  type IFlowStates,
  type KernelConsent
} from './model';
import type { IRunDetailsResult } from './protocol';
import { ORIGIN_LABELS, RunBrowser } from './runs';

/** The commands the panel's toolbar runs. */
export interface IDagPanelCommandIds {
  runAll: string;
  export: string;
}

/** Smallest zoom a fit chooses: below it the text gets too small to read, the graph scrolls. */
export const MIN_FIT_ZOOM = 0.9;

/** The sidebar widget. */
export class DagPanel extends Panel {
  constructor(states: IFlowStates, commands: CommandRegistry, ids: IDagPanelCommandIds) {
    super();
    this.id = 'jp-mf-dag-panel';
    this.addClass('jp-mf-DagPanel');
    this.title.caption = 'Metaflow DAG';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Metaflow DAG');

    const header = new Widget();
    header.addClass('jp-mf-DagPanel-header');
    this._title = document.createElement('h2');
    this._title.className = 'jp-mf-DagPanel-title';
    this._subtitle = document.createElement('span');
    this._subtitle.className = 'jp-mf-DagPanel-subtitle';
    header.node.append(this._title, this._subtitle);

    this._toolbar = new Toolbar();
    this._toolbar.addClass('jp-mf-DagPanel-toolbar');
    this._toolbar.node.setAttribute('aria-label', 'DAG actions');
    const button = (
      name: string,
      icon: ToolbarButton['props']['icon'],
      tooltip: string,
      onClick: () => void
    ) =>
      this._toolbar.addItem(
        name,
        new ToolbarButton({ icon, tooltip, onClick, className: `jp-mf-DagPanel-${name}` })
      );
    button('fit', fitIcon, 'Fit the graph to the panel', () => this._view.fit());
    button('zoom-in', zoomInIcon, 'Zoom in (Ctrl+wheel)', () => this._zoom(1.25));
    button('zoom-out', zoomOutIcon, 'Zoom out (Ctrl+wheel)', () => this._zoom(0.8));
    this._toolbar.addItem('separator', Private.separator());
    for (const [name, id] of [
      ['run-all', ids.runAll],
      ['export', ids.export]
    ]) {
      this._toolbar.addItem(
        name,
        new CommandToolbarButton({ commands, id, label: '', args: { origin: 'panel' } })
      );
    }
    button('refresh', refreshIcon, 'Read the notebook and the runs again', () => this._refresh());

    this._view = new DagView({
      onSelect: step => this._selectStep(step),
      scroll: true,
      minFitZoom: MIN_FIT_ZOOM
    });
    const graph = new Widget();
    graph.addClass('jp-mf-DagPanel-graph');
    this._banner = document.createElement('div');
    this._banner.className = 'jp-mf-DagPanel-banner';
    this._banner.setAttribute('role', 'status');
    this._canvas = document.createElement('div');
    this._canvas.className = 'jp-mf-DagPanel-canvas';
    this._canvas.appendChild(this._view.node);
    this._errors = document.createElement('ul');
    this._errors.className = 'jp-mf-DagPanel-errors';
    this._errors.setAttribute('aria-label', 'Problems of the flow');
    this._empty = document.createElement('div');
    this._empty.className = 'jp-mf-DagPanel-empty';
    this._consent = document.createElement('div');
    this._consent.className = 'jp-mf-DagPanel-consent';
    graph.node.append(
      this._consent,
      this._banner,
      this._canvas,
      Private.legend(),
      this._errors,
      this._empty
    );

    this._details = new DetailsPane({ onGoToCell: step => this._goToCell(step) });
    this._runs = new RunBrowser();
    this._runs.viewed.connect((_, details) => this._onViewed(details));
    const tabs = new TabPanel();
    tabs.addClass('jp-mf-DagPanel-tabs');
    tabs.addWidget(this._details);
    tabs.addWidget(this._runs);
    this._tabs = tabs;

    const split = new SplitPanel({ orientation: 'vertical', spacing: 1 });
    split.addClass('jp-mf-DagPanel-split');
    split.addWidget(graph);
    split.addWidget(tabs);
    split.setRelativeSizes([3, 2]);
    SplitPanel.setStretch(graph, 3);
    SplitPanel.setStretch(tabs, 2);
    this.addWidget(header);
    this.addWidget(this._toolbar);
    this.addWidget(split);

    states.currentChanged.connect((_, state) => this._follow(state), this);
    this._follow(states.current);
  }

  /** The flow state shown. */
  get state(): FlowState | null {
    return this._state;
  }

  /** The DAG view (for tests and benchmarks). */
  get view(): DagView {
    return this._view;
  }

  /** The details pane. */
  get details(): DetailsPane {
    return this._details;
  }

  /** The run browser. */
  get runs(): RunBrowser {
    return this._runs;
  }

  /** The step selected in the graph, or null. */
  get selectedStep(): string | null {
    return this._view.selected;
  }

  /** Show the details of `step` (selecting its node) and bring the details tab forward. */
  showDetails(step: string): void {
    this._view.selected = step;
    this._tabs.currentWidget = this._details;
    this._updateDetails();
  }

  /** Redraw now. */
  redraw(): void {
    const state = this._state;
    if (!state) {
      this._title.textContent = 'No notebook';
      this._subtitle.textContent = '';
      this._setEmpty('No notebook', 'Open a notebook to see its flow here.');
      this._view.render({ nodes: [], edges: [], width: 0, height: 0 }, new Map());
      this._errors.textContent = '';
      this._consent.textContent = '';
      this._layoutKey = null;
      this.node.setAttribute('data-steps', '0');
      this._updateDetails();
      return;
    }
    const model = state.drawnModel;
    this._consent.textContent = consentText(state.consent);
    this.node.setAttribute('data-consent', state.consent ?? 'none');
    this._title.textContent = model.name;
    this._title.title = model.name;
    const count = state.model.steps.length;
    this._subtitle.textContent = count ? `${count} step${count === 1 ? '' : 's'}` : '';
    const t0 = performance.now();
    const key = layoutKey(model);
    const relayout = key !== this._layoutKey || !this._dagLayout;
    if (relayout) {
      this._dagLayout = layoutFlow(model);
      this._layoutKey = key;
      this.node.setAttribute('data-layout-ms', (performance.now() - t0).toFixed(1));
    }
    const t1 = performance.now();
    this._view.render(this._dagLayout!, this._nodeStates());
    if (relayout && this._dagLayout!.nodes.length) {
      this._view.fit(); // a new shape: nothing may sit outside the panel
    }
    // Timings of the last redraw, read by bench/dag_bench.spec.ts.
    this.node.setAttribute('data-render-ms', (performance.now() - t1).toFixed(1));
    this.node.setAttribute('data-assemble-ms', state.lastRefreshMs.toFixed(1));
    this._errors.textContent = '';
    // Without step cells the empty state says what to do: "no step cells" is not an error then.
    const errors = state.flowErrors.filter(e => e.code !== 'no-steps');
    for (const e of errors) {
      const li = document.createElement('li');
      const where =
        e.cell_index !== null
          ? `Cell ${e.cell_index + 1}${e.line !== null ? `, line ${e.line}` : ''}: `
          : '';
      li.textContent = `${where}${e.message} ${e.fix}`; // untrusted: text only
      li.setAttribute('data-code', e.code);
      this._errors.appendChild(li);
    }
    if (model.steps.length) {
      this._setEmpty(null);
    } else {
      this._setEmpty(
        'No steps yet',
        'This notebook has no step cells. Start a cell with %%step start, then %%step end ' +
          '(or tag a cell step:NAME); the flow is drawn here as you type.'
      );
    }
    this.node.setAttribute('data-steps', String(model.steps.length));
    this._view.node.setAttribute('aria-label', `Steps of ${model.name}`);
    this._updateDetails();
    this._followRuns(state);
  }

  protected onAfterShow(): void {
    this.redraw();
    this._view.fit();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    requestAnimationFrame(() => this._view.fit());
  }

  dispose(): void {
    this._view.dispose();
    super.dispose();
  }

  private _setEmpty(title: string | null, text = ''): void {
    this._empty.replaceChildren();
    this.node.toggleAttribute('data-empty', title !== null);
    if (title !== null) {
      const head = document.createElement('p');
      head.className = 'jp-mf-DagPanel-emptyTitle';
      head.textContent = title;
      const body = document.createElement('p');
      body.textContent = text;
      this._empty.append(head, body);
    }
  }

  /** Node states: the notebook's, or those of the run picked in the run browser. */
  private _nodeStates(): Map<string, INodeState> {
    const state = this._state!;
    if (!this._viewedBook) {
      return state.nodes;
    }
    return computeNodeStates(state.drawnModel, this._viewedBook, () => null, [], state.broken)
      .nodes;
  }

  private _onViewed(details: IRunDetailsResult | null): void {
    if (details && details.run) {
      const book = new StatusBook();
      const [flow, runId] = details.run.split('/');
      book.reset({ flow, run_id: runId, steps: details.steps ?? {} });
      this._viewedBook = book;
      const summary = details.summary;
      const back = document.createElement('button');
      back.className = 'jp-Button jp-mod-minimal jp-mod-styled jp-mf-DagPanel-back';
      back.textContent = 'Back';
      back.title = "Back to the notebook's run";
      back.setAttribute('aria-label', "Back to the notebook's run");
      back.addEventListener('click', () => void this._runs.view(null));
      const text = document.createElement('span');
      text.textContent = `Run ${details.run}${summary ? ` · ${summary.status} · ${ORIGIN_LABELS[summary.origin]}` : ''}`;
      text.title = text.textContent;
      this._banner.replaceChildren(text, back);
      this.node.setAttribute('data-viewing', details.run);
    } else {
      this._viewedBook = null;
      this._banner.replaceChildren();
      this.node.removeAttribute('data-viewing');
    }
    this.redraw();
  }

  private _follow(state: FlowState | null): void {
    this._state?.changed.disconnect(this.redraw, this);
    this._state?.link?.stateChanged.disconnect(this._onLinkState, this);
    this._state?.panel.content.activeCellChanged.disconnect(this._onActiveCell, this);
    this._state = state;
    this._layoutKey = null;
    this._dagLayout = null;
    state?.changed.connect(this.redraw, this);
    state?.link?.stateChanged.connect(this._onLinkState, this);
    state?.panel.content.activeCellChanged.connect(this._onActiveCell, this);
    this._runs.setLink(state?.link ?? null);
    this._runsKey = null;
    this.redraw();
    this._onActiveCell();
    this._view.fit();
  }

  private _onActiveCell(): void {
    const state = this._state;
    if (state) {
      const step = state.stepOfCell(state.panel.content.activeCellIndex);
      if (step !== null) {
        this._view.selected = step;
        this._updateDetails();
      }
    }
  }

  /** Point the details pane at the selected step; reload it when the step's run state changed. */
  private _updateDetails(): void {
    const state = this._state;
    const step = this._view.selected;
    if (!state || step === null || !state.drawnModel.steps.some(s => s.name === step)) {
      this._detailsKey = '';
      this._details.setTarget(null);
      return;
    }
    const node = this._nodeStates().get(step);
    const run = this._runs.viewedRun;
    const key = JSON.stringify([
      step,
      run,
      node?.status,
      node?.durationMs,
      node?.splits,
      node?.switchCounts,
      state.link?.state
    ]);
    const changed = key !== this._detailsKey;
    this._detailsKey = key;
    const index = state.cellIndexOf(step);
    this._details.setTarget(
      {
        step,
        run,
        node,
        cellNumber: index >= 0 ? index + 1 : null,
        link: state.link,
        switchStep: state.drawnModel.steps.find(s => s.name === step)?.transition?.kind === 'switch'
      },
      changed && node?.status !== 'running' && node?.status !== 'queued'
    );
  }

  private _selectStep(step: string): void {
    this._tabs.currentWidget = this._details;
    this._updateDetails();
    this._goToCell(step, false);
  }

  private _goToCell(step: string, focus = true): void {
    const state = this._state;
    const index = state ? state.cellIndexOf(step) : -1;
    if (state && index >= 0) {
      selectCell(state.panel, index, focus);
    }
  }

  private _zoom(factor: number): void {
    const host = this._canvas;
    this._view.zoomBy(factor, host.clientWidth / 2, host.clientHeight / 2);
  }

  private _onLinkState(): void {
    if (this._state) {
      this._followRuns(this._state);
    }
  }

  /**
   * Have the run browser list the runs again when the link connects or a step of the
   * notebook's run settles in another state or run (a re-executed step begins a new run).
   */
  private _followRuns(state: FlowState): void {
    const book = state.book;
    const settled = book.steps().flatMap(step => {
      const record = book.get(step);
      return record && record.state !== 'running' && record.state !== 'queued'
        ? [[step, record.runId, record.state]]
        : [];
    });
    const key = JSON.stringify([state.link?.state ?? null, settled]);
    if (this._runsKey !== null && key !== this._runsKey) {
      this._runs.runsChanged();
    }
    this._runsKey = key;
  }

  private _refresh(): void {
    this._state?.refresh();
    void this._runs.reload();
    this._detailsKey = '';
    this._updateDetails();
  }

  private _state: FlowState | null = null;
  private _view: DagView;
  private _toolbar: Toolbar;
  private _title: HTMLHeadingElement;
  private _subtitle: HTMLSpanElement;
  private _banner: HTMLDivElement;
  private _canvas: HTMLDivElement;
  private _errors: HTMLUListElement;
  private _empty: HTMLDivElement;
  private _details: DetailsPane;
  private _runs: RunBrowser;
  private _tabs: TabPanel;
  private _viewedBook: StatusBook | null = null;
  private _detailsKey = '';
  private _runsKey: string | null = null;
  private _consent: HTMLDivElement;
  private _dagLayout: ILayout | null = null;
  private _layoutKey: string | null = null;
}

/** What the panel says about when the kernel side loads (JupyterLab's trust model). */
export function consentText(consent: KernelConsent): string {
  switch (consent) {
    case 'trusted':
      return 'Kernel side loads with this notebook: it is trusted.';
    case 'executed':
      return 'Kernel side loaded at the first cell you ran (the notebook is not trusted).';
    default:
      return (
        'Not trusted: nothing in this notebook runs until you run a cell or trust it ' +
        '(Trust Notebook in the command palette). The DAG is drawn from the cells.'
      );
  }
}

/**
 * Make a cell the active one and scroll it into view; with `focus` (Go to cell,
 * running cells) the cell also takes the keyboard focus, as JupyterLab's
 * scrollToCell gives it. Selecting a node in the graph leaves the focus there.
 */
export function selectCell(panel: NotebookPanel, index: number, focus = true): void {
  const notebook = panel.content;
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  const cell = notebook.widgets[index];
  if (cell && focus) {
    void notebook.scrollToCell(cell, 'start');
  } else if (cell) {
    void notebook.scrollToItem(index, 'start');
  }
}

namespace Private {
  /** A vertical line between toolbar groups, as JupyterLab's toolbars draw them. */
  export function separator(): Widget {
    const w = new Widget();
    w.addClass('jp-mf-ToolbarSeparator');
    w.node.setAttribute('role', 'separator');
    w.node.setAttribute('aria-orientation', 'vertical');
    return w;
  }

  /** What the colours and lines mean. */
  export function legend(): HTMLElement {
    const details = document.createElement('details');
    details.className = 'jp-mf-DagLegend';
    const summary = document.createElement('summary');
    summary.textContent = 'Legend';
    details.appendChild(summary);
    const list = document.createElement('ul');
    const items: Array<[string, string, string]> = [
      ['none', '', 'not run'],
      ['running', '', 'queued or running'],
      ['done', '', 'done'],
      ['failed', '', 'failed'],
      ['skipped', '', 'not on the path a switch took'],
      ['done', 'stale', 'stale: code changed since it ran'],
      ['none', 'error', 'error in the cell (!)']
    ];
    for (const [status, mod, text] of items) {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'jp-mf-DagLegend-swatch';
      swatch.setAttribute('data-status', status);
      if (mod) {
        swatch.setAttribute(`data-${mod}`, 'true');
      }
      li.append(swatch, document.createTextNode(text));
      list.appendChild(li);
    }
    for (const [cls, text] of [
      ['foreach', 'foreach, parallel: one task per item'],
      ['taken', 'the case a switch took (× tasks)']
    ]) {
      const li = document.createElement('li');
      const line = document.createElement('span');
      line.className = `jp-mf-DagLegend-line jp-mod-${cls}`;
      li.append(line, document.createTextNode(text));
      list.appendChild(li);
    }
    details.appendChild(list);
    return details;
  }
}

/**
 * The DAG panel: the active notebook's flow drawn as a DAG in a sidebar,
 * redrawn when the flow or its statuses change (the flow state debounces
 * edits). Clicking a node selects and scrolls to its cell.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { DagView } from './dagview';
import { layoutFlow, layoutKey, type ILayout } from './layout';
import type { FlowState, IFlowStates } from './model';

/** Commands the panel's buttons run. */
export interface IDagPanelCommands {
  execute(id: string, args?: Record<string, unknown>): Promise<unknown>;
}

/** The sidebar widget. */
export class DagPanel extends Widget {
  constructor(
    states: IFlowStates,
    private readonly _commands: IDagPanelCommands,
    private readonly _ids: { runAll: string; export: string }
  ) {
    super();
    this.id = 'jp-mf-dag-panel';
    this.addClass('jp-mf-DagPanel');
    this.title.caption = 'Metaflow DAG';

    const header = document.createElement('div');
    header.className = 'jp-mf-DagPanel-header';
    this._title = document.createElement('span');
    this._title.className = 'jp-mf-DagPanel-title';
    header.appendChild(this._title);
    header.appendChild(this._button('Fit', 'Fit the DAG to the panel', () => this._view.fit()));
    header.appendChild(this._button('Run all', 'Run all steps', () => this._commands.execute(this._ids.runAll)));
    header.appendChild(this._button('Export', 'Export to flow.py', () => this._commands.execute(this._ids.export)));
    this._view = new DagView({ onSelect: step => this._selectStep(step) });
    this._canvas = document.createElement('div');
    this._canvas.className = 'jp-mf-DagPanel-canvas';
    this._canvas.appendChild(this._view.node);
    this._errors = document.createElement('ul');
    this._errors.className = 'jp-mf-DagPanel-errors';
    this._empty = document.createElement('div');
    this._empty.className = 'jp-mf-DagPanel-empty';
    this.node.append(header, this._canvas, this._errors, this._empty);

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

  /** Redraw now. */
  redraw(): void {
    const state = this._state;
    if (!state) {
      this._title.textContent = 'No notebook';
      this._empty.textContent = 'Open a notebook with %%step cells to see its flow.';
      this._view.render({ nodes: [], edges: [], width: 0, height: 0 }, new Map());
      this._errors.textContent = '';
      this._layoutKey = null;
      return;
    }
    const model = state.model;
    this._title.textContent = model.name;
    this._title.title = `${model.name}: ${model.steps.length} steps`;
    this._empty.textContent = model.steps.length ? '' : 'No %%step cells in this notebook yet.';
    const t0 = performance.now();
    const key = layoutKey(model);
    if (key !== this._layoutKey || !this._dagLayout) {
      this._dagLayout = layoutFlow(model);
      this._layoutKey = key;
      this.node.setAttribute('data-layout-ms', (performance.now() - t0).toFixed(1));
    }
    const t1 = performance.now();
    this._view.render(this._dagLayout, state.nodes);
    // Timings of the last redraw, read by bench/dag_bench.spec.ts.
    this.node.setAttribute('data-render-ms', (performance.now() - t1).toFixed(1));
    this.node.setAttribute('data-assemble-ms', state.lastRefreshMs.toFixed(1));
    this._errors.textContent = '';
    for (const e of state.flowErrors) {
      const li = document.createElement('li');
      const where = e.cell_index !== null ? `Cell ${e.cell_index + 1}${e.line !== null ? `, line ${e.line}` : ''}: ` : '';
      li.textContent = `${where}${e.message} ${e.fix}`; // untrusted: text only
      li.setAttribute('data-code', e.code);
      this._errors.appendChild(li);
    }
    this.node.setAttribute('data-steps', String(model.steps.length));
  }

  protected onAfterShow(): void {
    this.redraw();
    this._view.fit();
  }

  protected onResize(): void {
    this._view.fit();
  }

  dispose(): void {
    this._view.dispose();
    super.dispose();
  }

  private _follow(state: FlowState | null): void {
    this._state?.changed.disconnect(this.redraw, this);
    this._state?.panel.content.activeCellChanged.disconnect(this._onActiveCell, this);
    this._state = state;
    this._layoutKey = null;
    this._dagLayout = null;
    state?.changed.connect(this.redraw, this);
    state?.panel.content.activeCellChanged.connect(this._onActiveCell, this);
    this.redraw();
    this._onActiveCell();
  }

  private _onActiveCell(): void {
    const state = this._state;
    if (state) {
      this._view.selected = state.stepOfCell(state.panel.content.activeCellIndex);
    }
  }

  private _selectStep(step: string): void {
    const state = this._state;
    if (!state) {
      return;
    }
    const index = state.cellIndexOf(step);
    if (index >= 0) {
      selectCell(state.panel, index);
    }
  }

  private _button(label: string, title: string, onClick: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-mf-DagPanel-button jp-Button jp-mod-minimal';
    button.textContent = label;
    button.title = title;
    button.addEventListener('click', onClick);
    return button;
  }

  private _state: FlowState | null = null;
  private _view: DagView;
  private _title: HTMLSpanElement;
  private _canvas: HTMLDivElement;
  private _errors: HTMLUListElement;
  private _empty: HTMLDivElement;
  private _dagLayout: ILayout | null = null;
  private _layoutKey: string | null = null;
}

/** Make a cell the active one and scroll it into view. */
export function selectCell(panel: NotebookPanel, index: number): void {
  const notebook = panel.content;
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  const cell = notebook.widgets[index];
  if (cell) {
    void notebook.scrollToCell(cell, 'start');
  }
}

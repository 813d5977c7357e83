/**
 * The inline DAG ipywidget (`%mf_dag` in the kernel, python/jupyter_metaflow/widget.py):
 * a DOMWidgetModel holding the flow model, step statuses and errors the kernel
 * syncs, and a DOMWidgetView drawing them with the DAG panel's dagre layout
 * (src/layout.ts) and SVG renderer (src/dagview.ts). Step names and error texts
 * are untrusted: they only ever reach the DOM as textContent.
 */
import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import type { ISerializers } from '@jupyter-widgets/base';

import type { IFlowModel } from '../assembly';
import { DagView, type INodeState } from '../dagview';
import { layoutFlow, layoutKey, type ILayout } from '../layout';
import type { ICellError, IStepStatus } from '../protocol';
import { switchChoice } from '../runsummary';
import { PACKAGE_VERSION } from '../version';

/** The module name the kernel asks for (`_model_module`). */
export const MODULE_NAME = 'jupyter-metaflow';

/** The exact version registered with the widget manager (the kernel sends a `^` range). */
export const MODULE_VERSION = PACKAGE_VERSION;

/**
 * A step status as the widget syncs it: the protocol's, with a foreach step's
 * finished splits in `done_splits` (as in `run_state`) and their total time.
 */
export type IWidgetStepStatus = IStepStatus;

/** The synced state of a {@link DagWidgetModel}. */
export interface IDagWidgetState {
  flow: string;
  run_id: string | null;
  model: IFlowModel | Record<string, never>;
  status: { [step: string]: IWidgetStepStatus };
  errors: ICellError[];
}

/** Kernel-synced state of one DAG widget. */
export class DagWidgetModel extends DOMWidgetModel {
  defaults(): any {
    return {
      ...super.defaults(),
      _model_name: 'DagWidgetModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: 'DagWidgetView',
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      flow: '',
      run_id: null,
      model: {},
      status: {},
      errors: []
    };
  }

  static serializers: ISerializers = { ...DOMWidgetModel.serializers };
}

/** Called with the step name and its cell id when a node is clicked. */
export type StepSelectHandler = (view: DagWidgetView, step: string, cellId: string | null) => void;

/** Draws a {@link DagWidgetModel}; redraws on every change of its state. */
export class DagWidgetView extends DOMWidgetView {
  /** Set by the widget plugin: what a click on a node does (select the step's cell). */
  static onSelect: StepSelectHandler | null = null;

  render(): void {
    this.el.classList.add('jp-mf-DagWidget');
    this._header = document.createElement('div');
    this._header.className = 'jp-mf-DagWidget-header';
    this._dag = new DagView({ onSelect: step => this._select(step) });
    this._dag.node.classList.add('jp-mf-DagWidget-svg');
    this._errors = document.createElement('ul');
    this._errors.className = 'jp-mf-DagWidget-errors';
    this._empty = document.createElement('div');
    this._empty.className = 'jp-mf-DagWidget-empty';
    this.el.append(this._header, this._dag.node, this._empty, this._errors);
    this.listenTo(this.model, 'change', this._update);
    this._update();
  }

  remove(): any {
    this._dag?.dispose();
    return super.remove();
  }

  processLuminoMessage(msg: any): void {
    super.processLuminoMessage(msg);
    if (msg.type === 'after-attach' || msg.type === 'resize') {
      this._dag?.fit();
    }
  }

  private _update(): void {
    const state = stateOf(this.model);
    const model = state.model as IFlowModel;
    const steps = Array.isArray(model.steps) ? model.steps : [];
    const run = state.run_id ? ` · run ${state.run_id}` : '';
    this._header.textContent = `${state.flow || 'Flow'}: ${steps.length} step${steps.length === 1 ? '' : 's'}${run}`;
    this._empty.textContent = steps.length ? '' : 'No step cells yet: add a %%step start cell.';
    this._dag.node.style.display = steps.length ? '' : 'none';
    if (steps.length) {
      const key = layoutKey(model);
      if (key !== this._layoutKey || !this._layout) {
        this._layout = layoutFlow(model);
        this._layoutKey = key;
      }
      this._dag.node.style.height = `${Math.min(Math.max(this._layout.height, 120), 520)}px`;
      this._dag.render(this._layout, nodeStates(state));
    }
    this._errors.textContent = '';
    for (const text of flowErrors(state)) {
      const li = document.createElement('li');
      li.textContent = text;
      this._errors.appendChild(li);
    }
  }

  private _select(step: string): void {
    const model = stateOf(this.model).model as IFlowModel;
    const cellId = model.steps?.find(s => s.name === step)?.cell_id ?? null;
    DagWidgetView.onSelect?.(this, step, cellId);
    this.el.dispatchEvent(
      new CustomEvent('jp-mf-select-step', { bubbles: true, detail: { step, cellId } })
    );
  }

  private _header!: HTMLDivElement;
  private _dag!: DagView;
  private _errors!: HTMLUListElement;
  private _empty!: HTMLDivElement;
  private _layout: ILayout | null = null;
  private _layoutKey = '';
}

/** The widget's synced state, read from the model. */
export function stateOf(model: DOMWidgetModel): IDagWidgetState {
  return {
    flow: model.get('flow') ?? '',
    run_id: model.get('run_id') ?? null,
    model: model.get('model') ?? {},
    status: model.get('status') ?? {},
    errors: model.get('errors') ?? []
  };
}

/** What each node shows: status, duration, foreach progress, stale, errors located in its cell. */
export function nodeStates(state: IDagWidgetState): Map<string, INodeState> {
  const states = new Map<string, INodeState>();
  const steps = (state.model as IFlowModel).steps ?? [];
  for (const step of steps) {
    const st = state.status[step.name];
    const errors = state.errors
      .filter(e =>
        e.cell_id !== null ? e.cell_id === step.cell_id : e.cell_index === step.cell_index
      )
      .map(e => e.message);
    if (st?.state === 'failed' && st.error) {
      errors.push(st.error);
    }
    states.set(step.name, {
      status: st?.state ?? null,
      durationMs: st?.duration_ms ?? null,
      splits: st?.num_splits ? { done: st.done_splits?.length ?? 0, total: st.num_splits } : null,
      switchChoice: st ? switchChoice(step, name => state.status[name]?.run_id) : null,
      stale: st?.state === 'stale',
      errors
    });
  }
  return states;
}

/** Error texts not located in a step's cell (missing start, lint on no cell, ...), as plain text. */
export function flowErrors(state: IDagWidgetState): string[] {
  const steps = (state.model as IFlowModel).steps ?? [];
  const stepCells = new Set(steps.map(s => s.cell_id ?? `#${s.cell_index}`));
  return state.errors
    .filter(e => !stepCells.has(e.cell_id ?? `#${e.cell_index}`))
    .map(e => {
      const where =
        e.cell_index === null
          ? ''
          : `cell ${e.cell_index + 1}${e.line === null ? '' : `, line ${e.line}`}: `;
      return `${where}${e.message} ${e.fix}`.trim();
    });
}

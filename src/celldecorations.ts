/**
 * Cell decorations: a step badge above each step cell (name, status colour,
 * last duration, stale marker) and the errors of a cell under its input. Text
 * only: step names and errors are untrusted.
 *
 * Both are widgets of the cell's own layout, next to its input: JupyterLab
 * re-inserts a code cell's children when it attaches the cell again (windowed
 * notebooks, cells rendered late, moved cells), and a bare element in the
 * cell's node would end up below the outputs.
 */
import type { Cell, ICodeCellModel } from '@jupyterlab/cells';
import type { IDisposable } from '@lumino/disposable';
import { Widget, type PanelLayout } from '@lumino/widgets';

import { formatDuration } from './dagview';
import type { FlowState } from './model';

const BADGE = 'jp-mf-StepBadge';
const ERRORS = 'jp-mf-CellErrors';

/** Keeps the decorations of one notebook in step with its flow state. */
export class CellDecorations implements IDisposable {
  constructor(private readonly _state: FlowState) {
    _state.changed.connect(this.update, this);
    this.update();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Redecorate every cell of the notebook. */
  update(): void {
    const state = this._state;
    const steps = new Map(state.model.steps.map(s => [s.cell_index, s]));
    const errors = new Map<number, string[]>();
    const add = (index: number, text: string) => {
      const list = errors.get(index) ?? [];
      if (!list.includes(text)) {
        list.push(text);
      }
      errors.set(index, list);
    };
    for (const e of [...state.model.errors, ...(state.kernelModel?.lint_errors ?? [])]) {
      if (e.cell_index !== null) {
        add(e.cell_index, `${e.line !== null ? `Line ${e.line}: ` : ''}${e.message} ${e.fix}`);
      }
    }
    const cells = state.panel.content.widgets;
    for (const step of state.model.steps) {
      const record = state.book.get(step.name);
      const cell = cells[step.cell_index];
      // A cell whose output shows the step's traceback already says why: the error once.
      if (record?.state === 'failed' && record.error && !(cell && this._showsError(cell))) {
        add(step.cell_index, `Step ${step.name} failed: ${record.error}`);
      }
    }
    cells.forEach((cell, index) => {
      if (cell.isPlaceholder()) {
        // Not rendered yet (no input to place the decorations by): decorate once it is.
        if (!this._waiting.has(cell)) {
          this._waiting.add(cell);
          void cell.ready.then(() => {
            this._waiting.delete(cell);
            if (!this._isDisposed) {
              this.update();
            }
          });
        }
        return;
      }
      const step = steps.get(index);
      const node = step ? state.nodes.get(step.name) : undefined;
      const cellErrors = errors.get(index) ?? [];
      // Touch the DOM only for cells whose decoration changed (large notebooks).
      const signature = JSON.stringify([
        step?.name,
        node?.status,
        node?.durationMs,
        node?.stale,
        cellErrors
      ]);
      if (this._drawn.get(cell) === signature) {
        return;
      }
      this._drawn.set(cell, signature);
      if (step) {
        decorateStep(
          cell,
          step.name,
          node?.status ?? null,
          node?.durationMs ?? null,
          node?.stale ?? false
        );
      } else {
        part(cell, BADGE, false)?.dispose();
      }
      showErrors(cell, cellErrors);
    });
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._state.changed.disconnect(this.update, this);
    for (const cell of this._state.panel.content.widgets) {
      part(cell, BADGE, false)?.dispose();
      part(cell, ERRORS, false)?.dispose();
    }
  }

  private _isDisposed = false;
  /** Whether the cell's outputs hold an error; its outputs changing redecorates. */
  private _showsError(cell: Cell): boolean {
    const outputs = cell.model.type === 'code' ? (cell.model as ICodeCellModel).outputs : null;
    if (!outputs) {
      return false;
    }
    if (!this._watched.has(outputs)) {
      this._watched.add(outputs);
      outputs.changed.connect(() => {
        if (!this._isDisposed) {
          this.update();
        }
      });
    }
    for (let i = 0; i < outputs.length; i++) {
      if (outputs.get(i).type === 'error') {
        return true;
      }
    }
    return false;
  }

  private _drawn = new WeakMap<Cell, string>();
  private _waiting = new WeakSet<Cell>();
  private _watched = new WeakSet<object>();
}

/**
 * The badge (`BADGE`, above the input) or error box (`ERRORS`, under it) of a
 * rendered cell; created when `create` is set, else null when missing.
 */
function part(cell: Cell, className: string, create: boolean): Widget | null {
  const layout = cell.layout as PanelLayout | null;
  if (!layout) {
    return null;
  }
  const found = layout.widgets.find(w => w.hasClass(className));
  if (found || !create) {
    return found ?? null;
  }
  const widget = new Widget();
  widget.addClass(className);
  const input = layout.widgets.findIndex(w => w.hasClass('jp-Cell-inputWrapper'));
  const at = input < 0 ? 0 : className === BADGE ? input : input + 1;
  layout.insertWidget(at, widget);
  return widget;
}

/** Put (or refresh) the badge of a step cell. */
export function decorateStep(
  cell: Cell,
  name: string,
  status: string | null,
  durationMs: number | null,
  stale: boolean
): void {
  const badge = part(cell, BADGE, true)!.node;
  if (!badge.children.length) {
    for (const name of ['name', 'status', 'duration']) {
      const span = document.createElement('span');
      span.className = `${BADGE}-${name}`;
      badge.appendChild(span);
    }
  }
  badge.setAttribute('data-status', status ?? 'none');
  badge.toggleAttribute('data-stale', stale);
  badge.setAttribute('data-step', name);
  const [nameEl, statusEl, durationEl] = Array.from(badge.children) as HTMLElement[];
  nameEl.textContent = name;
  statusEl.textContent = stale ? 'stale' : (status ?? 'not run');
  durationEl.textContent = durationMs !== null ? formatDuration(durationMs) : '';
  badge.title = stale
    ? `Step ${name}: its code (or an upstream step's) changed since the last run`
    : `Step ${name}: ${status ?? 'not run yet'}`;
}

/** Show a cell's errors under its input (or remove them). */
export function showErrors(cell: Cell, errors: string[]): void {
  if (!errors.length) {
    part(cell, ERRORS, false)?.dispose();
    return;
  }
  const box = part(cell, ERRORS, true)!.node;
  box.textContent = '';
  for (const text of errors) {
    const line = document.createElement('div');
    line.className = `${ERRORS}-item`;
    line.textContent = text; // untrusted: text only
    box.appendChild(line);
  }
}

/**
 * Cell decorations: a step badge above each step cell (name, status colour,
 * last duration, stale marker) and the errors of a cell under its input. Text
 * only: step names and errors are untrusted.
 */
import type { Cell } from '@jupyterlab/cells';
import type { IDisposable } from '@lumino/disposable';

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
    for (const step of state.model.steps) {
      const record = state.book.get(step.name);
      if (record?.state === 'failed' && record.error) {
        add(step.cell_index, `Step ${step.name} failed: ${record.error}`);
      }
    }
    state.panel.content.widgets.forEach((cell, index) => {
      const step = steps.get(index);
      const node = step ? state.nodes.get(step.name) : undefined;
      const cellErrors = errors.get(index) ?? [];
      // Touch the DOM only for cells whose decoration changed (large notebooks).
      const signature = JSON.stringify([step?.name, node?.status, node?.durationMs, node?.stale, cellErrors]);
      if (this._drawn.get(cell) === signature) {
        return;
      }
      this._drawn.set(cell, signature);
      if (step) {
        decorateStep(cell, step.name, node?.status ?? null, node?.durationMs ?? null, node?.stale ?? false);
      } else {
        cell.node.querySelector(`:scope > .${BADGE}`)?.remove();
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
      cell.node.querySelector(`:scope > .${BADGE}`)?.remove();
      cell.node.querySelector(`:scope > .${ERRORS}`)?.remove();
    }
  }

  private _isDisposed = false;
  private _drawn = new WeakMap<Cell, string>();
}

/** Put (or refresh) the badge of a step cell. */
export function decorateStep(
  cell: Cell,
  name: string,
  status: string | null,
  durationMs: number | null,
  stale: boolean
): void {
  let badge = cell.node.querySelector<HTMLDivElement>(`:scope > .${BADGE}`);
  if (!badge) {
    badge = document.createElement('div');
    badge.className = BADGE;
    for (const part of ['name', 'status', 'duration']) {
      const span = document.createElement('span');
      span.className = `${BADGE}-${part}`;
      badge.appendChild(span);
    }
    cell.node.insertBefore(badge, cell.node.querySelector(':scope > .jp-Cell-inputWrapper'));
  }
  badge.setAttribute('data-status', status ?? 'none');
  badge.toggleAttribute('data-stale', stale);
  badge.setAttribute('data-step', name);
  const [nameEl, statusEl, durationEl] = Array.from(badge.children) as HTMLElement[];
  nameEl.textContent = name;
  statusEl.textContent = stale ? 'stale' : status ?? 'not run';
  durationEl.textContent = durationMs !== null ? formatDuration(durationMs) : '';
  badge.title = stale
    ? `Step ${name}: its code (or an upstream step's) changed since the last run`
    : `Step ${name}: ${status ?? 'not run yet'}`;
}

/** Show a cell's errors under its input (or remove them). */
export function showErrors(cell: Cell, errors: string[]): void {
  let box = cell.node.querySelector<HTMLDivElement>(`:scope > .${ERRORS}`);
  if (!errors.length) {
    box?.remove();
    return;
  }
  if (!box) {
    box = document.createElement('div');
    box.className = ERRORS;
    const input = cell.node.querySelector(':scope > .jp-Cell-inputWrapper');
    cell.node.insertBefore(box, input ? input.nextSibling : null);
  }
  box.textContent = '';
  for (const text of errors) {
    const line = document.createElement('div');
    line.className = `${ERRORS}-item`;
    line.textContent = text; // untrusted: text only
    box.appendChild(line);
  }
}

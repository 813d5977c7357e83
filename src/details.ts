/**
 * The DAG panel's details pane: what the selected step did in the run shown
 * (the notebook's current run, or one picked in the run browser): status,
 * duration, error, its tasks (foreach splits with their inputs, switch
 * choices, recursive iterations), and for the chosen task its artifacts with
 * the `%mf_show` views, its logs and its cards. Everything is asked of the
 * kernel over the notebook's link; nothing is inserted into the notebook.
 * Texts from the kernel are untrusted: text nodes only, cards in a sandboxed
 * iframe as `%mf_show` shows them.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { formatDuration, nodeDetail, type INodeState } from './dagview';
import { append, h, type Child } from './mime/dom';
import { ArtifactRenderer } from './mime/renderer';
import { MIME_TYPE, type IArtifactRow, type IShowData } from './mime/types';
import type { ITaskSummary } from './protocol';
import { request } from './requests';
import type { IKernelLink } from './tokens';

/** What the pane shows: a step of a run (null run: the notebook's current run). */
export interface IDetailsTarget {
  step: string;
  run: string | null;
  /** The node's state as the panel draws it. */
  node: INodeState | undefined;
  /** The step's cell (1-based), for the "Go to cell" action; null when unknown. */
  cellNumber: number | null;
  link: IKernelLink | null;
  /** The step ends in a switch: its tasks' next steps are choices worth a column. */
  switchStep: boolean;
}

/** Callbacks of a {@link DetailsPane}. */
export interface IDetailsPaneOptions {
  /** Select the step's cell in the notebook. */
  onGoToCell?: (step: string) => void;
}

/** A human time from an ISO text: "14:03:12" today, else "2026-12-07 14:03". */
export function shortTime(iso: string | null | undefined, now = new Date()): string {
  if (!iso) {
    return '';
  }
  const t = new Date(iso);
  if (isNaN(t.getTime())) {
    return iso;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  if (t.toDateString() === now.toDateString()) {
    return `${clock}:${pad(t.getSeconds())}`;
  }
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${clock}`;
}

/** The details of the selected step. */
export class DetailsPane extends Widget {
  constructor(private readonly _options: IDetailsPaneOptions = {}) {
    super();
    this.addClass('jp-mf-Details');
    this.id = 'jp-mf-dag-details';
    this.title.label = 'Details';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Step details');
    this.node.tabIndex = -1;
    this.setTarget(null);
  }

  /** The step shown, or null. */
  get target(): IDetailsTarget | null {
    return this._target;
  }

  /**
   * Show `target`; a new step or run reloads everything, the same one after a
   * status change reloads what the kernel knows (tasks, artifacts).
   */
  setTarget(target: IDetailsTarget | null, reload = false): void {
    const previous = this._target;
    this._target = target;
    const same = previous && target && previous.step === target.step && previous.run === target.run;
    if (!target) {
      this._generation++;
      this.node.replaceChildren(
        h(
          'div',
          'jp-mf-Details-empty',
          h('p', 'jp-mf-Details-emptyTitle', 'No step selected'),
          h(
            'p',
            '',
            'Select a step in the graph (click it, or focus it and press Enter) to see its status, tasks, artifacts, logs and cards here.'
          )
        )
      );
      return;
    }
    if (same && !reload) {
      this._renderSummary();
      return;
    }
    if (!same) {
      this._task = null;
    }
    this._generation++;
    this._build();
    void this._load();
  }

  private _build(): void {
    const target = this._target!;
    this._summary = h('div', 'jp-mf-Details-summary');
    this._tasks = h('section', 'jp-mf-Details-section');
    this._artifacts = h('section', 'jp-mf-Details-section');
    this._logs = h('section', 'jp-mf-Details-section');
    this._cards = h('section', 'jp-mf-Details-section');
    const goto = h('button', 'jp-mf-Details-link jp-Button jp-mod-minimal', 'Go to cell');
    goto.title = `Select the cell of step ${target.step} in the notebook`;
    goto.addEventListener('click', () => this._options.onGoToCell?.(target.step));
    const heading = h(
      'div',
      'jp-mf-Details-heading',
      h('h3', 'jp-mf-Details-step', target.step),
      goto
    );
    this.node.replaceChildren(
      heading,
      this._summary,
      this._tasks,
      this._artifacts,
      this._logs,
      this._cards
    );
    this._renderSummary();
  }

  private _renderSummary(): void {
    const target = this._target;
    if (!target || !this._summary) {
      return;
    }
    const node = target.node;
    const status = node?.broken
      ? 'does not parse'
      : node?.stale
        ? 'stale'
        : (node?.status ?? 'not run');
    const facts: HTMLElement[] = [h('span', 'jp-mf-Details-status', status)];
    facts[0].setAttribute('data-status', node?.status ?? 'none');
    facts[0].toggleAttribute('data-stale', !node?.broken && !!node?.stale);
    const detail = nodeDetail(
      node ? { ...node, status: null, stale: false, broken: false } : undefined
    );
    if (detail) {
      facts.push(h('span', 'jp-mf-Details-fact', detail));
    }
    if (target.cellNumber !== null) {
      facts.push(h('span', 'jp-mf-Details-fact', `cell ${target.cellNumber}`));
    }
    facts.push(
      h('span', 'jp-mf-Details-fact', target.run ? `run ${target.run}` : "the notebook's run")
    );
    const errors = node?.errors ?? [];
    fill(
      this._summary,
      h('div', 'jp-mf-Details-facts', ...facts),
      errors.length ? h('pre', 'jp-mf-Details-error', errors.join('\n')) : null
    );
  }

  private async _load(): Promise<void> {
    const target = this._target!;
    const generation = this._generation;
    const current = () => generation === this._generation;
    const ran = target.run !== null || (target.node?.status && target.node.status !== 'queued');
    if (!ran) {
      this._tasks.replaceChildren(
        h(
          'p',
          'jp-mf-Details-note',
          'This step has not run yet. Run it (Run Step) to see its tasks, artifacts and logs.'
        )
      );
      return;
    }
    // the kernel reads requests between cells: a running step's tasks wait for its cell's end
    const busy = target.link?.sessionContext?.session?.kernel?.status === 'busy';
    this._tasks.replaceChildren(
      h('h4', '', 'Tasks'),
      h(
        'p',
        'jp-mf-Details-note',
        busy ? 'Loading… (the kernel answers when the cell it runs ends)' : 'Loading…'
      )
    );
    let tasks: ITaskSummary[];
    let cards = false;
    try {
      const result = await request(
        target.link,
        'step_details',
        target.run ? { step: target.step, run: target.run } : { step: target.step }
      );
      tasks = result.tasks ?? [];
      cards = !!result.cards;
      if (!current()) {
        return;
      }
      this._renderTasks(tasks, result.tasks_omitted ?? 0);
    } catch (err) {
      if (current()) {
        this._tasks.replaceChildren(
          h('h4', '', 'Tasks'),
          h('p', 'jp-mf-Details-note', (err as Error).message)
        );
      }
      return;
    }
    const task = tasks.find(t => t.pathspec === this._task) ?? tasks[tasks.length - 1];
    if (task) {
      this._selectTask(task, tasks, cards);
    }
  }

  private _renderTasks(tasks: ITaskSummary[], omitted: number): void {
    const switchStep = this._target?.switchStep ?? false;
    const rows = tasks.map(t => {
      const row = h(
        'tr',
        'jp-mf-Details-task',
        h('td', 'jp-mf-Details-taskLabel', t.label),
        h('td', 'jp-mf-Details-taskInput', t.input ?? ''),
        h('td', 'jp-mf-Details-taskState', t.state),
        h('td', '', t.next && switchStep ? `→ ${t.next}` : ''),
        h(
          'td',
          'jp-mf-Details-taskTime',
          t.duration_ms !== undefined ? formatDuration(t.duration_ms) : ''
        )
      );
      row.tabIndex = 0;
      row.setAttribute('data-pathspec', t.pathspec);
      row.setAttribute('data-state', t.state);
      row.setAttribute(
        'aria-label',
        `task ${t.label}${t.input ? `, input ${t.input}` : ''}, ${t.state}`
      );
      row.title = t.pathspec;
      const choose = () => this._selectTask(t, tasks, this._hasCards);
      row.addEventListener('click', choose);
      row.addEventListener('keydown', e => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          choose();
        }
      });
      return row;
    });
    const hasInput = tasks.some(t => t.input !== undefined);
    const hasNext = switchStep && tasks.some(t => t.next !== undefined);
    const head = h(
      'tr',
      '',
      h('th', '', 'task'),
      h('th', '', hasInput ? 'input' : ''),
      h('th', '', 'state'),
      h('th', '', hasNext ? 'chose' : ''),
      h('th', '', 'time')
    );
    const table = h('table', 'jp-mf-Details-tasks', h('thead', '', head), h('tbody', '', ...rows));
    table.setAttribute('data-has-input', String(hasInput));
    fill(
      this._tasks,
      h('h4', '', tasks.length > 1 ? `Tasks (${tasks.length + omitted})` : 'Task'),
      table,
      omitted ? h('p', 'jp-mf-Details-note', `${omitted} more tasks not listed`) : null
    );
  }

  private _selectTask(task: ITaskSummary, tasks: ITaskSummary[], cards: boolean): void {
    this._task = task.pathspec;
    this._hasCards = cards;
    for (const row of Array.from(this._tasks.querySelectorAll('.jp-mf-Details-task'))) {
      const on = row.getAttribute('data-pathspec') === task.pathspec;
      row.classList.toggle('jp-mod-selected', on);
      row.setAttribute('aria-selected', String(on));
    }
    const generation = this._generation;
    void this._loadArtifacts(task, tasks.length > 1, generation);
    void this._loadLogs(task, generation);
    this._renderCards(task, cards);
  }

  private async _loadArtifacts(
    task: ITaskSummary,
    several: boolean,
    generation: number
  ): Promise<void> {
    const link = this._target!.link;
    const title = several ? `Artifacts of ${task.label}` : 'Artifacts';
    this._artifacts.replaceChildren(h('h4', '', title), h('p', 'jp-mf-Details-note', 'Loading…'));
    this._artifacts.setAttribute('data-task', task.pathspec);
    try {
      const result = await request(link, 'show', { address: task.pathspec });
      if (generation !== this._generation || this._task !== task.pathspec) {
        return;
      }
      const data = result.data as unknown as IShowData;
      const rows = data.artifacts ?? [];
      const view = h('div', 'jp-mf-Details-view');
      const list = h('ul', 'jp-mf-Details-artifacts');
      list.setAttribute('aria-label', title);
      for (const row of rows) {
        list.appendChild(this._artifactItem(row, task, view));
      }
      fill(
        this._artifacts,
        h('h4', '', title),
        rows.length
          ? list
          : h(
              'p',
              'jp-mf-Details-note',
              task.state === 'done'
                ? 'No artifacts.'
                : 'No artifacts stored (the task did not finish).'
            ),
        view
      );
    } catch (err) {
      if (generation === this._generation) {
        this._artifacts.replaceChildren(
          h('h4', '', title),
          h('p', 'jp-mf-Details-note', (err as Error).message)
        );
      }
    }
  }

  private _artifactItem(row: IArtifactRow, task: ITaskSummary, view: HTMLElement): HTMLElement {
    const button = h(
      'button',
      'jp-mf-Details-artifact',
      h('span', 'jp-mf-Details-artifactName', row.name),
      h('span', 'jp-mf-Details-artifactType', row.type ?? ''),
      h('span', 'jp-mf-Details-artifactPreview', row.preview ?? '')
    );
    button.title = `Show ${row.name} (%mf_show ${task.pathspec}/${row.name})`;
    button.setAttribute('data-artifact', row.name);
    button.addEventListener('click', () => void this._showArtifact(task, row.name, view, button));
    return h('li', '', button);
  }

  private async _showArtifact(
    task: ITaskSummary,
    name: string,
    view: HTMLElement,
    button: HTMLElement
  ): Promise<void> {
    for (const b of Array.from(this._artifacts.querySelectorAll('.jp-mf-Details-artifact'))) {
      b.classList.toggle('jp-mod-selected', b === button);
      b.setAttribute('aria-pressed', String(b === button));
    }
    view.replaceChildren(h('p', 'jp-mf-Details-note', 'Loading…'));
    view.setAttribute('data-artifact', name);
    const generation = this._generation;
    try {
      const result = await request(this._target!.link, 'show', {
        address: `${task.pathspec}/${name}`
      });
      if (generation !== this._generation || view.getAttribute('data-artifact') !== name) {
        return;
      }
      view.replaceChildren(
        renderShowData(result.data as unknown as IShowData, () => this._target?.link ?? null)
      );
    } catch (err) {
      view.replaceChildren(h('p', 'jp-mf-Details-note', (err as Error).message));
    }
  }

  private async _loadLogs(task: ITaskSummary, generation: number): Promise<void> {
    this._logs.replaceChildren(h('h4', '', 'Logs'), h('p', 'jp-mf-Details-note', 'Loading…'));
    try {
      const logs = await request(this._target!.link, 'task_logs', { pathspec: task.pathspec });
      if (generation !== this._generation || this._task !== task.pathspec) {
        return;
      }
      const block = (name: 'stdout' | 'stderr') => {
        const text = logs[name] ?? '';
        const omitted = logs[`${name}_omitted`];
        if (!text) {
          return null;
        }
        const pre = h(
          'pre',
          `jp-mf-Details-log jp-mf-Details-${name}`,
          omitted ? `… (${omitted} characters before)\n${text}` : text
        );
        pre.setAttribute('aria-label', name);
        pre.tabIndex = 0;
        return h('div', '', h('div', 'jp-mf-Details-logName', name), pre);
      };
      const out = block('stdout');
      const err = block('stderr');
      fill(
        this._logs,
        h('h4', '', 'Logs'),
        out,
        err,
        out || err ? null : h('p', 'jp-mf-Details-note', 'The task printed nothing.')
      );
    } catch (err) {
      if (generation === this._generation) {
        this._logs.replaceChildren(
          h('h4', '', 'Logs'),
          h('p', 'jp-mf-Details-note', (err as Error).message)
        );
      }
    }
  }

  private _renderCards(task: ITaskSummary, cards: boolean): void {
    if (!cards) {
      this._cards.replaceChildren();
      return;
    }
    const button = h(
      'button',
      'jp-mf-Details-showCard jp-Button jp-mod-styled jp-mod-accept',
      'Show card'
    );
    const holder = h('div', 'jp-mf-Details-cards');
    button.addEventListener('click', async () => {
      holder.replaceChildren(h('p', 'jp-mf-Details-note', 'Loading…'));
      try {
        const result = await request(this._target!.link, 'task_cards', { pathspec: task.pathspec });
        holder.replaceChildren(
          ...(result.cards ?? []).map(card => {
            if (!card.html) {
              return h('p', 'jp-mf-Details-note', `The ${card.type} card is too big to show here.`);
            }
            const frame = document.createElement('iframe');
            frame.className = 'jp-mf-Card';
            // scripts run (Metaflow's cards need them) in an opaque origin: no access to the page
            frame.setAttribute('sandbox', 'allow-scripts');
            frame.title = `${card.type} card of ${task.pathspec}`;
            frame.srcdoc = card.html;
            return frame;
          })
        );
      } catch (err) {
        holder.replaceChildren(h('p', 'jp-mf-Details-note', (err as Error).message));
      }
    });
    this._cards.replaceChildren(h('h4', '', 'Card'), button, holder);
  }

  private _target: IDetailsTarget | null = null;
  private _task: string | null = null;
  private _hasCards = false;
  private _generation = 0;
  private _summary!: HTMLElement;
  private _tasks!: HTMLElement;
  private _artifacts!: HTMLElement;
  private _logs!: HTMLElement;
  private _cards!: HTMLElement;
}

/** A `%mf_show` JSON object drawn by the notebook's own renderer (frames page through `link`). */
export function renderShowData(data: IShowData, link: () => IKernelLink | null): HTMLElement {
  const renderer = new ArtifactRenderer(() => link());
  const model = {
    trusted: true,
    data: { [MIME_TYPE]: data as any },
    metadata: {},
    setData: () => undefined
  } as unknown as IRenderMime.IMimeModel;
  void renderer.renderModel(model);
  return renderer.node;
}

/** Replace the children of `el` (null children are left out, strings become text). */
export function fill(el: HTMLElement, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

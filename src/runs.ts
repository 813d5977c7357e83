/**
 * The DAG panel's run browser: the flow's past runs (steps run in the
 * notebook, `%mf_run` runs, runs of the exported file by `python flow.py
 * run`) with status, time, tags and origin. Picking one shows its parameters
 * and draws its step states on the DAG (the details pane then shows that run);
 * it can be made the notebook's current run (the next step attaches to it);
 * two checked runs are compared with the `%mf_show --diff` view. Run data
 * comes from the kernel (Metaflow's Client API); texts are untrusted.
 */
import { Widget } from '@lumino/widgets';
import { Signal, type ISignal } from '@lumino/signaling';

import { renderShowData, shortTime } from './details';
import { formatDuration } from './dagview';
import { h } from './mime/dom';
import type { IShowData } from './mime/types';
import type { IRunDetailsResult, IRunSummary } from './protocol';
import { request } from './requests';
import type { IKernelLink } from './tokens';

/** Who made a run, as the list says it. */
export const ORIGIN_LABELS: Record<IRunSummary['origin'], string> = {
  notebook: 'notebook',
  runtime: '%mf_run',
  script: 'flow file'
};

/** The run browser of the active notebook's flow. */
export class RunBrowser extends Widget {
  constructor() {
    super();
    this.addClass('jp-mf-Runs');
    this.id = 'jp-mf-dag-runs';
    this.title.label = 'Runs';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Runs of the flow');
    this._bar = h('div', 'jp-mf-Runs-bar');
    this._refresh = h(
      'button',
      'jp-mf-Runs-refresh jp-Button jp-mod-minimal jp-mod-styled',
      'Refresh'
    );
    this._refresh.title = 'List the runs again';
    this._refresh.addEventListener('click', () => void this.reload());
    this._compare = h('button', 'jp-mf-Runs-compare jp-Button jp-mod-styled', 'Compare');
    this._compare.title = 'Compare the two checked runs (%mf_show --diff)';
    this._compare.disabled = true;
    this._compare.addEventListener('click', () => void this._showDiff());
    this._status = h('span', 'jp-mf-Runs-status');
    this._status.setAttribute('role', 'status');
    this._bar.append(this._refresh, this._compare, this._status);
    this._list = h('ul', 'jp-mf-Runs-list');
    this._list.setAttribute('role', 'listbox');
    this._list.setAttribute('aria-label', 'Runs, newest first');
    this._detail = h('div', 'jp-mf-Runs-detail');
    this.node.append(this._bar, this._list, this._detail);
  }

  /** Emits the run picked to be drawn on the DAG (its details), or null for the notebook's run. */
  get viewed(): ISignal<this, IRunDetailsResult | null> {
    return this._viewed;
  }

  /** The run drawn on the DAG, or null (the notebook's current run). */
  get viewedRun(): string | null {
    return this._viewedRun;
  }

  /** The runs listed. */
  get runs(): IRunSummary[] {
    return this._runs;
  }

  /** Follow another notebook's link (or none): forget the list and what was viewed. */
  setLink(link: IKernelLink | null): void {
    if (link === this._link) {
      return;
    }
    this._link = link;
    this._runs = [];
    this._checked.clear();
    this._list.replaceChildren();
    this._detail.replaceChildren();
    this.view(null);
    if (this.isVisible) {
      void this.reload();
    } else {
      this._stale = true;
    }
  }

  /**
   * The notebook's runs changed (a step ended, a new run began, the kernel side connected):
   * list them again now when shown, else when next shown.
   */
  runsChanged(): void {
    if (this.isVisible) {
      void this.reload();
    } else {
      this._stale = true;
    }
  }

  /** List the runs again. */
  async reload(): Promise<void> {
    this._stale = false;
    const generation = ++this._generation;
    this._status.textContent = 'Loading runs…';
    try {
      const result = await request(this._link, 'runs', {});
      if (generation !== this._generation) {
        return;
      }
      this._runs = result.runs ?? [];
      this._current = result.current ?? null;
      this._renderList();
      this._status.textContent = this._runs.length
        ? `${this._runs.length} run${this._runs.length > 1 ? 's' : ''} of ${result.flow ?? 'the flow'}`
        : `No runs of ${result.flow ?? 'the flow'} yet: run the start step.`;
    } catch (err) {
      if (generation === this._generation) {
        this._runs = [];
        this._list.replaceChildren();
        this._status.textContent = (err as Error).message;
      }
    }
  }

  /** Draw `run` on the DAG (null: back to the notebook's current run). */
  async view(run: string | null): Promise<void> {
    this._viewedRun = run;
    this._markViewed();
    if (run === null) {
      this._detail.replaceChildren();
      this._viewed.emit(null);
      return;
    }
    this._detail.replaceChildren(h('p', 'jp-mf-Details-note', 'Loading…'));
    try {
      const details = await request(this._link, 'run_details', { run });
      if (this._viewedRun !== run) {
        return;
      }
      this._renderDetail(details);
      this._viewed.emit(details);
    } catch (err) {
      this._detail.replaceChildren(h('p', 'jp-mf-Details-note', (err as Error).message));
    }
  }

  protected onAfterShow(): void {
    if (this._stale || (!this._runs.length && this._link)) {
      void this.reload();
    }
  }

  private _renderList(): void {
    const items = this._runs.map(run => {
      const check = h('input', 'jp-mf-Runs-check');
      check.type = 'checkbox';
      check.checked = this._checked.has(run.pathspec);
      check.setAttribute('aria-label', `Compare run ${run.id}`);
      check.addEventListener('click', e => e.stopPropagation());
      check.addEventListener('change', () => {
        if (check.checked) {
          this._checked.add(run.pathspec);
        } else {
          this._checked.delete(run.pathspec);
        }
        this._compare.disabled = this._checked.size !== 2;
      });
      const facts = [
        ORIGIN_LABELS[run.origin],
        shortTime(run.created_at),
        run.duration_ms !== undefined ? formatDuration(run.duration_ms) : ''
      ].filter(x => x);
      const item = h(
        'li',
        'jp-mf-Runs-run',
        check,
        h(
          'div',
          'jp-mf-Runs-main',
          h(
            'div',
            'jp-mf-Runs-line',
            h('span', 'jp-mf-Runs-id', run.id),
            h('span', 'jp-mf-Runs-runStatus', run.status),
            run.pathspec === this._current ? h('span', 'jp-mf-Runs-current', 'current') : null
          ),
          h('div', 'jp-mf-Runs-facts', facts.join(' · ')),
          run.tags?.length
            ? h('div', 'jp-mf-Runs-tags', ...run.tags.map(t => h('span', 'jp-mf-Runs-tag', t)))
            : null
        )
      );
      item.setAttribute('role', 'option');
      item.setAttribute('data-run', run.pathspec);
      item.setAttribute('data-status', run.status);
      item.setAttribute('data-origin', run.origin);
      item.setAttribute(
        'aria-label',
        `run ${run.id}, ${run.status}, by ${ORIGIN_LABELS[run.origin]}${run.pathspec === this._current ? ', current' : ''}`
      );
      item.tabIndex = 0;
      item.title = run.pathspec;
      const pick = () => void this.view(this._viewedRun === run.pathspec ? null : run.pathspec);
      item.addEventListener('click', pick);
      item.addEventListener('keydown', e => {
        if (e.target !== item) {
          return;
        }
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          pick();
        } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          e.preventDefault();
          const next = (
            e.key === 'ArrowDown' ? item.nextElementSibling : item.previousElementSibling
          ) as HTMLElement | null;
          next?.focus();
        }
      });
      return item;
    });
    this._list.replaceChildren(...items);
    this._compare.disabled = this._checked.size !== 2;
    this._markViewed();
  }

  private _markViewed(): void {
    for (const item of Array.from(this._list.children)) {
      const on = item.getAttribute('data-run') === this._viewedRun;
      item.classList.toggle('jp-mod-selected', on);
      item.setAttribute('aria-selected', String(on));
    }
  }

  private _renderDetail(details: IRunDetailsResult): void {
    const params = Object.entries(details.parameters ?? {});
    const back = h(
      'button',
      'jp-mf-Runs-back jp-Button jp-mod-minimal jp-mod-styled',
      "Back to the notebook's run"
    );
    back.addEventListener('click', () => void this.view(null));
    const current = details.run === this._current;
    const use = h(
      'button',
      'jp-mf-Runs-use jp-Button jp-mod-styled jp-mod-accept',
      current ? "The notebook's current run" : 'Make current'
    );
    use.disabled = current;
    use.title = "Make this run the notebook's current run: the next step you run attaches to it";
    use.addEventListener('click', () => void this._use(details.run ?? '', use));
    const summary = details.summary;
    this._detail.replaceChildren(
      h(
        'div',
        'jp-mf-Runs-detailHead',
        h('strong', '', details.run ?? ''),
        summary
          ? h('span', 'jp-mf-Runs-facts', ` ${summary.status} · ${ORIGIN_LABELS[summary.origin]}`)
          : null
      ),
      h(
        'p',
        'jp-mf-Details-note',
        'Its step states are drawn on the graph; select a step for its tasks and artifacts.'
      ),
      params.length
        ? h(
            'table',
            'jp-mf-Runs-params',
            h('thead', '', h('tr', '', h('th', '', 'parameter'), h('th', '', 'value'))),
            h('tbody', '', ...params.map(([k, v]) => h('tr', '', h('td', '', k), h('td', '', v))))
          )
        : h('p', 'jp-mf-Details-note', 'No parameters.'),
      h('div', 'jp-mf-Runs-actions', use, back)
    );
  }

  /** Make `run` the notebook's current run, then show the notebook's run again. */
  private async _use(run: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this._status.textContent = `Making ${run} the current run…`;
    try {
      await request(this._link, 'use_run', { run });
      await this.view(null);
      await this.reload();
    } catch (err) {
      button.disabled = false;
      this._status.textContent = (err as Error).message;
    }
  }

  private async _showDiff(): Promise<void> {
    const [a, b] = this._runs.filter(r => this._checked.has(r.pathspec)).reverse(); // older first
    if (!a || !b) {
      return;
    }
    this._detail.replaceChildren(h('p', 'jp-mf-Details-note', `Comparing ${a.id} and ${b.id}…`));
    try {
      const result = await request(this._link, 'show', {
        address: '',
        diff: [a.pathspec, b.pathspec]
      });
      const view = h(
        'div',
        'jp-mf-Runs-diff',
        renderShowData(result.data as unknown as IShowData, () => this._link)
      );
      this._detail.replaceChildren(view);
    } catch (err) {
      this._detail.replaceChildren(h('p', 'jp-mf-Details-note', (err as Error).message));
    }
  }

  private _link: IKernelLink | null = null;
  private _runs: IRunSummary[] = [];
  private _current: string | null = null;
  private _checked = new Set<string>();
  private _viewedRun: string | null = null;
  private _generation = 0;
  private _stale = true;
  private _bar: HTMLElement;
  private _refresh: HTMLButtonElement;
  private _compare: HTMLButtonElement;
  private _status: HTMLElement;
  private _list: HTMLUListElement;
  private _detail: HTMLElement;
  private _viewed = new Signal<this, IRunDetailsResult | null>(this);
}

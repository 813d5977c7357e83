/**
 * A pandas DataFrame/Series view with a pager. Pages inside the embedded head
 * and tail come from the bundle; others are fetched from the kernel (when a
 * fetcher is given) without re-running the cell.
 */
import type { IFrameRows } from '../protocol';
import { count, h, humanBytes } from './dom';
import type { IFrameView, PageFetcher } from './types';

/** The frame element and its pager; `show(offset)` moves to a page. */
export class FrameTable {
  constructor(
    private readonly _view: IFrameView,
    private readonly _fetch: PageFetcher | null
  ) {
    const v = _view;
    this.pageSize = Math.max(1, v.page_size);
    this.total = v.shape[0];
    const omitted = v.columns_omitted ? ` (${count(v.columns_omitted)} more not shown)` : '';
    this.node = h(
      'div',
      'jp-mf-Show-frame',
      h(
        'div',
        'jp-mf-Show-info',
        `${count(v.shape[0])} rows \u00d7 ${count(v.shape[1])} columns${omitted}` +
          ` \u00b7 ${humanBytes(v.memory_bytes)} in memory`
      ),
      this._table,
      this._pager()
    );
    this._render(v.head);
  }

  /** The root element. */
  readonly node: HTMLDivElement;
  /** Rows per page. */
  readonly pageSize: number;
  /** Rows in the frame. */
  readonly total: number;

  /** The first row of the page on display. */
  get offset(): number {
    return this._offset;
  }

  /** Show the page starting at `offset` (clamped); resolves once it is on screen. */
  async show(offset: number): Promise<void> {
    const lastPage = Math.max(0, this.total - this.pageSize);
    const start = Math.max(0, Math.min(offset, lastPage));
    const token = ++this._request;
    const embedded = this._embedded(start);
    if (embedded) {
      this._render(embedded);
      return;
    }
    if (!this._fetch) {
      this._status.textContent =
        'Only the first and last rows are stored in this output; run ' +
        '%load_ext jupyter_metaflow in the notebook\u2019s kernel to page through the rest.';
      return;
    }
    this._status.textContent = 'Loading\u2026';
    try {
      const page = await this._fetch(start, this.pageSize);
      if (token === this._request) {
        this._render(page.rows);
      }
    } catch (err) {
      if (token === this._request) {
        this._status.textContent = `Could not load rows: ${String((err as Error)?.message ?? err)}`;
      }
    }
  }

  private _embedded(start: number): IFrameRows | null {
    const end = Math.min(this.total, start + this.pageSize);
    for (const part of [this._view.head, this._view.tail]) {
      const partEnd = part.start + part.cells.length;
      if (part.cells.length && start >= part.start && end <= partEnd) {
        const from = start - part.start;
        const to = end - part.start;
        return {
          start,
          index: part.index.slice(from, to),
          cells: part.cells.slice(from, to)
        };
      }
    }
    return null;
  }

  private _render(rows: IFrameRows): void {
    const v = this._view;
    this._offset = rows.start;
    this._table.replaceChildren();
    const thead = h('thead');
    const headRow = h('tr', '', h('th', 'jp-mf-Show-index', v.index_name ?? ''));
    v.columns.forEach((name, i) => {
      headRow.appendChild(
        h('th', '', h('div', '', name), h('div', 'jp-mf-Show-dtype', v.dtypes[i]))
      );
    });
    thead.appendChild(headRow);
    const tbody = h('tbody');
    rows.cells.forEach((cells, r) => {
      const tr = h('tr', '', h('th', 'jp-mf-Show-index', rows.index[r]));
      // a fetched page has the kernel's default column count; a view shrunk to fit the
      // output limit shows fewer columns
      for (const cell of cells.slice(0, v.columns.length)) {
        tr.appendChild(h('td', '', cell));
      }
      tbody.appendChild(tr);
    });
    this._table.append(thead, tbody);
    const last = rows.start + rows.cells.length;
    this._status.textContent = this.total
      ? `rows ${count(rows.start + 1)}\u2013${count(last)} of ${count(this.total)}`
      : 'no rows';
    this._buttons.first.disabled = this._buttons.prev.disabled = rows.start <= 0;
    this._buttons.next.disabled = this._buttons.last.disabled = last >= this.total;
  }

  private _pager(): HTMLDivElement {
    const make = (label: string, title: string, target: () => number): HTMLButtonElement => {
      const button = h('button', 'jp-mf-Show-pageButton jp-Button', label);
      button.type = 'button';
      button.title = title;
      button.setAttribute('aria-label', title);
      button.addEventListener('click', () => void this.show(target()));
      return button;
    };
    this._buttons = {
      first: make('\u00ab', 'First page', () => 0),
      prev: make('\u2039', 'Previous page', () => this._offset - this.pageSize),
      next: make('\u203a', 'Next page', () => this._offset + this.pageSize),
      last: make('\u00bb', 'Last page', () => this.total - this.pageSize)
    };
    const b = this._buttons;
    return h('div', 'jp-mf-Show-pager', b.first, b.prev, this._status, b.next, b.last);
  }

  private _table = h('table', 'jp-mf-Show-table jp-mf-Show-frameTable');
  private _status = h('span', 'jp-mf-Show-pageStatus');
  private _buttons!: Record<'first' | 'prev' | 'next' | 'last', HTMLButtonElement>;
  private _offset = 0;
  private _request = 0;
}

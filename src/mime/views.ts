/**
 * DOM for each view kind of `%mf_show` (see python/jupyter_metaflow/show/views.py)
 * and for each bundle kind (artifact, splits, step/task, run, diff).
 */
import { count, h, humanBytes, pngImage, sandboxedHtml, table } from './dom';
import { FrameTable } from './frame';
import type {
  IArrayGrid,
  IArrayView,
  IPageSource,
  IShowData,
  ITreeNode,
  PageFetcher,
  View
} from './types';

/** The element for one value's view; frames get a pager using `fetch`. */
export function renderView(view: View, fetch: PageFetcher | null): HTMLElement {
  switch (view.kind) {
    case 'dataframe':
      return new FrameTable(view, fetch).node;
    case 'ndarray':
      return renderArray(view);
    case 'image':
      return h(
        'div',
        'jp-mf-Show-imageView',
        view.detail && h('div', 'jp-mf-Show-info', view.detail),
        pngImage(view.image.png, 'artifact image')
      );
    case 'estimator':
      return h(
        'div',
        'jp-mf-Show-estimator',
        view.html ? sandboxedHtml(view.html, 'estimator') : h('pre', 'jp-mf-Show-pre', view.text),
        h('div', 'jp-mf-Show-subtitle', 'Parameters'),
        table(['parameter', 'value'], view.params)
      );
    case 'text':
      return h(
        'div',
        'jp-mf-Show-textView',
        h(
          'div',
          'jp-mf-Show-info',
          `${view.type} \u00b7 ${count(view.length)} ${view.type === 'str' ? 'characters' : 'bytes'}` +
            (view.lines !== undefined ? ` \u00b7 ${count(view.lines)} lines` : '')
        ),
        h('pre', 'jp-mf-Show-pre', view.preview)
      );
    case 'tree':
      return h('div', 'jp-mf-Show-tree', renderTree(view.root, null, 0));
    case 'rich':
      return h(
        'div',
        'jp-mf-Show-rich',
        view.html !== undefined && sandboxedHtml(view.html, 'object view'),
        view.image && pngImage(view.image.png, 'object image'),
        view.html_omitted !== undefined &&
          h(
            'div',
            'jp-mf-Show-note',
            `Its own HTML view (${humanBytes(view.html_omitted)}) is too large to include.`
          ),
        h('pre', 'jp-mf-Show-pre', view.text)
      );
    default:
      return h('pre', 'jp-mf-Show-pre', (view as { text?: string }).text ?? '');
  }
}

function renderArray(view: IArrayView): HTMLElement {
  const stats = view.stats;
  const numbers = stats ? Object.entries(stats).filter(([key]) => key !== 'sampled') : [];
  return h(
    'div',
    'jp-mf-Show-array',
    h(
      'div',
      'jp-mf-Show-info',
      `shape (${view.shape.join(', ')}${view.shape.length === 1 ? ',' : ''})` +
        ` \u00b7 ${view.dtype} \u00b7 ${humanBytes(view.nbytes)}`
    ),
    numbers.length > 0 &&
      table(
        numbers.map(([key]) => key),
        [
          numbers.map(([, value]) =>
            typeof value === 'number' ? formatNumber(value) : String(value)
          )
        ]
      ),
    stats?.sampled === true &&
      h('div', 'jp-mf-Show-note', 'statistics from an evenly strided sample'),
    view.image && pngImage(view.image.png, 'array as image'),
    view.grid ? renderGrid(view.grid, view.shape) : h('pre', 'jp-mf-Show-pre', view.preview)
  );
}

/**
 * A 2-D data matrix as a table whose cells are shaded by value (a heatmap
 * readable as numbers): the first and last rows, a gap row between them.
 */
export function renderGrid(grid: IArrayGrid, shape: number[]): HTMLElement {
  const [rows, columns] = shape;
  const shown = columns - grid.columns_omitted;
  const el = h('table', 'jp-mf-Show-table jp-mf-Show-grid');
  const headRow = h('tr', '', h('th', 'jp-mf-Show-index', ''));
  for (let c = 0; c < shown; c++) {
    headRow.appendChild(h('th', 'jp-mf-Show-index', c));
  }
  if (grid.columns_omitted) {
    headRow.appendChild(h('th', 'jp-mf-Show-index', '\u2026'));
  }
  el.appendChild(h('thead', '', headRow));
  const body = h('tbody');
  const addRows = (part: IArrayGrid['head']) => {
    part.cells.forEach((cells, r) => {
      const tr = h('tr', '', h('th', 'jp-mf-Show-index', part.start + r));
      cells.forEach((text, c) => {
        const td = h('td', '', text);
        const shade = part.shades[r]?.[c];
        if (typeof shade === 'number' && Number.isFinite(shade)) {
          td.style.setProperty(
            '--jp-mf-shade',
            `${Math.round(Math.min(1, Math.max(0, shade)) * 70)}%`
          );
        }
        tr.appendChild(td);
      });
      if (grid.columns_omitted) {
        tr.appendChild(h('td', 'jp-mf-Show-index', ''));
      }
      body.appendChild(tr);
    });
  };
  addRows(grid.head);
  const hidden = grid.tail.start - (grid.head.start + grid.head.cells.length);
  if (hidden > 0) {
    const gap = h('td', 'jp-mf-Show-gap', `\u22ee ${count(hidden)} more rows`);
    gap.colSpan = shown + 1 + (grid.columns_omitted ? 1 : 0);
    body.appendChild(h('tr', '', gap));
  }
  if (grid.tail.start >= grid.head.start + grid.head.cells.length) {
    addRows(grid.tail);
  }
  el.appendChild(body);
  const legend = h(
    'div',
    'jp-mf-Show-info',
    `shade: ${formatNumber(grid.low)} `,
    h('span', 'jp-mf-Show-gridScale'),
    ` ${formatNumber(grid.high)}` +
      (grid.columns_omitted
        ? ` \u00b7 ${count(grid.columns_omitted)} more columns not shown`
        : '') +
      (rows > grid.head.cells.length + grid.tail.cells.length ? ` \u00b7 ${count(rows)} rows` : '')
  );
  return h('div', 'jp-mf-Show-gridView', legend, h('div', 'jp-mf-Show-gridScroll', el));
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
}

/** A collapsible tree: each container is a `<details>` (the first two levels open). */
function renderTree(node: ITreeNode, key: string | null, depth: number): HTMLElement {
  const label = key !== null ? h('span', 'jp-mf-Show-key', `${key}: `) : null;
  if (!node.entries) {
    return h('div', 'jp-mf-Show-leaf', label, h('span', 'jp-mf-Show-value', node.text ?? ''));
  }
  const details = h(
    'details',
    'jp-mf-Show-branch',
    h(
      'summary',
      '',
      label,
      h('span', 'jp-mf-Show-type', `${node.type} (${count(node.length ?? 0)})`)
    )
  );
  details.open = depth < 2;
  for (const entry of node.entries) {
    details.appendChild(renderTree(entry.value, entry.key, depth + 1));
  }
  if (node.omitted) {
    details.appendChild(h('div', 'jp-mf-Show-note', `\u2026 ${count(node.omitted)} more`));
  }
  return details;
}

/** The body for a whole bundle (everything under the header). */
export function renderBody(
  data: IShowData,
  fetchFor: (page: IPageSource | undefined) => PageFetcher | null
): HTMLElement {
  const body = h('div', 'jp-mf-Show-body');
  switch (data.kind) {
    case 'artifact':
      if (data.view) {
        body.appendChild(renderView(data.view, fetchFor(data.page)));
      }
      break;
    case 'splits':
      body.appendChild(renderSplits(data, fetchFor));
      if (data.omitted) {
        const more = `${count(data.omitted)} more tasks; show one with step[i].name or its pathspec`;
        body.appendChild(h('div', 'jp-mf-Show-note', more));
      }
      break;
    case 'step':
    case 'task':
      if ((data.tasks ?? []).length > 1) {
        body.appendChild(
          table(
            ['task', 'position', 'status'],
            (data.tasks ?? []).map(t => [
              t.task,
              t.label,
              t.successful ? 'ok' : t.finished ? 'failed' : 'not finished'
            ])
          )
        );
      }
      // the header holds the run's path: the task is named by its id only
      body.appendChild(
        h(
          'div',
          'jp-mf-Show-subtitle',
          `Artifacts of task ${(data.artifacts_of ?? '').split('/').pop()}`
        )
      );
      body.appendChild(
        table(
          ['name', 'type', 'size', 'preview'],
          (data.artifacts ?? []).map(a => [
            a.name,
            typeName(a.type),
            sizeOf(a.size),
            a.preview ?? ''
          ])
        )
      );
      if (data.artifacts_omitted) {
        body.appendChild(
          h('div', 'jp-mf-Show-note', `${count(data.artifacts_omitted)} more artifacts`)
        );
      }
      break;
    case 'run':
      body.appendChild(
        table(
          ['step', 'tasks', 'status', 'artifacts'],
          (data.steps ?? []).map(s => [
            s.step,
            s.tasks,
            s.status,
            s.artifacts.join(', ') +
              (s.artifacts_omitted ? `, \u2026 ${s.artifacts_omitted} more` : '')
          ])
        )
      );
      break;
    case 'diff':
      body.appendChild(
        h('div', 'jp-mf-Show-info', `${count(data.unchanged ?? 0)} artifacts unchanged`)
      );
      body.appendChild(
        table(
          ['step', 'artifact', 'status', 'A', 'B'],
          (data.rows ?? []).map(r => {
            const where = r.step + (r.split ?? '');
            if (r.changes) {
              return [where, r.artifact, r.status, table(['', 'A', 'B'], r.changes), ''];
            }
            const a = r.value_a ?? r.note ?? sizeOf(r.size_a);
            return [where, r.artifact, r.status, a, r.value_b ?? sizeOf(r.size_b)];
          })
        )
      );
      if (data.rows_omitted) {
        body.appendChild(h('div', 'jp-mf-Show-note', `${count(data.rows_omitted)} more changes`));
      }
      break;
  }
  for (const note of data.notes ?? []) {
    body.appendChild(h('div', 'jp-mf-Show-note', note));
  }
  return body;
}

/**
 * A type as its class name (`LogisticRegression`), the full dotted name in its
 * tooltip: the module path would push the preview column off-screen.
 */
export function typeName(type: string | null | undefined): HTMLElement | string {
  if (!type) {
    return '';
  }
  const short = type.slice(type.lastIndexOf('.') + 1);
  const el = h('span', 'jp-mf-Show-typeName', short);
  el.title = type;
  return el;
}

/** A value short enough to sit in a table cell: scalars and one-line reprs or strings. */
function inlineText(view: View): string | null {
  if (view.kind === 'scalar' || view.kind === 'repr') {
    return !view.text.includes('\n') && view.text.length <= 120 ? view.text : null;
  }
  if (view.kind === 'text') {
    return (view.lines ?? 1) <= 1 && view.preview.length <= 120 ? view.preview : null;
  }
  return null;
}

/**
 * One artifact across foreach splits: one row per split (position, the input
 * its foreach gave it, the value) when every value fits a line; else one block
 * per split under the same caption.
 */
export function renderSplits(
  data: IShowData,
  fetchFor: (page: IPageSource | undefined) => PageFetcher | null
): HTMLElement {
  const splits = data.splits ?? [];
  const withInput = splits.some(s => s.input);
  const inputHead = data.header.over ?? 'input';
  const showType = !data.header.type;
  const texts = splits.map(s => inlineText(s.view));
  if (texts.every(t => t !== null)) {
    const head = [
      'split',
      withInput && inputHead,
      data.header.name ?? 'value',
      showType && 'type',
      'task'
    ];
    const rows = splits.map((s, i) => [
      s.label,
      withInput && (s.input?.value ?? ''),
      texts[i]!,
      showType && s.type,
      s.task
    ]);
    const keep = (cells: Array<string | false>) => cells.filter((c): c is string => c !== false);
    return table(keep(head), rows.map(keep), 'jp-mf-Show-table jp-mf-Show-splitTable');
  }
  const out = h('div', 'jp-mf-Show-splits');
  for (const split of splits) {
    const caption = [
      split.label,
      split.input && `${split.input.var} = ${split.input.value}`,
      showType && split.type,
      `task ${split.task}`
    ].filter(c => !!c);
    out.appendChild(
      h(
        'div',
        'jp-mf-Show-split',
        h('div', 'jp-mf-Show-subtitle', caption.join(' \u00b7 ')),
        renderView(split.view, fetchFor(split.page))
      )
    );
  }
  return out;
}

function sizeOf(size: number | null): string {
  return size === null ? '\u2014' : humanBytes(size);
}

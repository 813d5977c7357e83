/**
 * DOM for each view kind of `%mf_show` (see python/jupyter_metaflow/show/views.py)
 * and for each bundle kind (artifact, splits, step/task, run, diff).
 */
import { count, h, humanBytes, pngImage, sandboxedHtml, table } from './dom';
import { FrameTable } from './frame';
import type { IArrayView, IPageSource, IShowData, ITreeNode, PageFetcher, View } from './types';

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
  const numbers = stats
    ? Object.entries(stats).filter(([key]) => key !== 'sampled')
    : [];
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
        [numbers.map(([, value]) => (typeof value === 'number' ? formatNumber(value) : String(value)))]
      ),
    stats?.sampled === true && h('div', 'jp-mf-Show-note', 'statistics from an evenly strided sample'),
    view.image && pngImage(view.image.png, 'array as image'),
    h('pre', 'jp-mf-Show-pre', view.preview)
  );
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
    h('summary', '', label, h('span', 'jp-mf-Show-type', `${node.type} (${count(node.length ?? 0)})`))
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
      for (const split of data.splits ?? []) {
        body.appendChild(
          h(
            'div',
            'jp-mf-Show-split',
            h('div', 'jp-mf-Show-subtitle', `${split.label} \u00b7 task ${split.task} \u00b7 ${split.type}`),
            renderView(split.view, fetchFor(split.page))
          )
        );
      }
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
      body.appendChild(h('div', 'jp-mf-Show-subtitle', `Artifacts of ${data.artifacts_of ?? ''}`));
      body.appendChild(
        table(
          ['name', 'type', 'size', 'preview'],
          (data.artifacts ?? []).map(a => [a.name, a.type ?? '', sizeOf(a.size), a.preview ?? ''])
        )
      );
      if (data.artifacts_omitted) {
        body.appendChild(h('div', 'jp-mf-Show-note', `${count(data.artifacts_omitted)} more artifacts`));
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
            s.artifacts.join(', ') + (s.artifacts_omitted ? `, \u2026 ${s.artifacts_omitted} more` : '')
          ])
        )
      );
      break;
    case 'diff':
      body.appendChild(h('div', 'jp-mf-Show-info', `${count(data.unchanged ?? 0)} artifacts unchanged`));
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

function sizeOf(size: number | null): string {
  return size === null ? '\u2014' : humanBytes(size);
}

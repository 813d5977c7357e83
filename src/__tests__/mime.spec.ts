import { Signal } from '@lumino/signaling';

import { ArtifactRenderer, createRendererFactory, requestPage } from '../mime';
import { FrameTable } from '../mime/frame';
import { pngImage } from '../mime/dom';
import { renderSplits, renderView, typeName } from '../mime/views';
import { MIME_TYPE, RENDERER_RANK } from '../mime/types';
import type { IFrameView, IShowData } from '../mime/types';
import type { IEnvelope, IMessagePayloads, MessageType } from '../protocol';
import type { IKernelLink, LinkState } from '../tokens';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

function frameView(total: number, pageSize = 2): IFrameView {
  const rows = (start: number, end: number) => ({
    start,
    index: Array.from({ length: end - start }, (_, i) => String(start + i)),
    cells: Array.from({ length: end - start }, (_, i) => [String(start + i), PAYLOAD])
  });
  return {
    kind: 'dataframe',
    series: false,
    shape: [total, 2],
    columns: ['n', PAYLOAD],
    dtypes: ['int64', 'object'],
    columns_omitted: 0,
    index_name: null,
    memory_bytes: 2048,
    page_size: pageSize,
    head: rows(0, Math.min(total, pageSize)),
    tail: rows(Math.max(pageSize, total - pageSize), total)
  };
}

function bundle(data: Partial<IShowData>): IShowData {
  return {
    version: 1,
    kind: 'artifact',
    header: {
      title: 'df',
      name: 'df',
      type: 'pandas.DataFrame',
      size: 2048,
      step: 'start',
      pathspec: 'F/1/start/2/df'
    },
    ...data
  };
}

async function render(
  data: IShowData,
  renderer = new ArtifactRenderer(null),
  trusted = true
): Promise<HTMLElement> {
  await renderer.renderModel({ data: { [MIME_TYPE]: data as any }, trusted } as any);
  return renderer.node;
}

/** A kernel link whose kernel answers page requests from `rows`. */
class FakeLink implements IKernelLink {
  constructor(private readonly _answer: (payload: any) => any) {}
  sessionContext = null as any;
  state: LinkState = 'connected';
  kernelInfo = null;
  stateChanged: Signal<IKernelLink, LinkState> = new Signal<IKernelLink, LinkState>(this);
  messageReceived: Signal<IKernelLink, IEnvelope> = new Signal<IKernelLink, IEnvelope>(this);
  sent: any[] = [];
  send<T extends MessageType>(type: T, payload: IMessagePayloads[T]): boolean {
    this.sent.push({ type, payload });
    const answer = this._answer(payload);
    setTimeout(() =>
      this.messageReceived.emit({
        protocol: '1.2',
        type: 'artifact_page_result',
        payload: answer
      } as any)
    );
    return true;
  }
}

/** A kernel link answering every page request with rows 2 and 3 of a 10-row frame. */
function pagingLink(): FakeLink {
  return new FakeLink(p => ({
    request_id: p.request_id,
    pathspec: p.pathspec,
    artifact: p.artifact,
    offset: p.offset,
    total: 10,
    rows: {
      start: p.offset,
      index: ['2', '3'],
      cells: [
        ['2', 'x'],
        ['3', 'y']
      ]
    }
  }));
}

describe('%mf_show renderer', () => {
  it('registers for the custom type below text/html', () => {
    const factory = createRendererFactory(null);
    expect(factory.mimeTypes).toEqual(['application/vnd.jupyter-metaflow.artifact+json']);
    expect(RENDERER_RANK).toBeLessThan(50);
    expect(factory.defaultRank).toBe(RENDERER_RANK);
    expect(factory.safe).toBe(true);
  });

  it('shows the header and renders HTML payloads as text', async () => {
    const node = await render(bundle({ view: frameView(10) }));
    expect(node.querySelector('.jp-mf-Show-title')!.textContent).toBe('df');
    expect(node.querySelector('.jp-mf-Show-facts')!.textContent).toBe(
      'pandas.DataFrame \u00b7 2.0 KB \u00b7 step start'
    );
    expect(node.querySelector('.jp-mf-Show-pathspec')!.textContent).toBe('F/1/start/2/df');
    expect(node.querySelectorAll('img')).toHaveLength(0);
    const headers = Array.from(node.querySelectorAll('thead th div:first-child')).map(
      e => e.textContent
    );
    expect(headers).toEqual(['n', PAYLOAD]);
    expect(node.querySelector('tbody td:nth-child(3)')!.textContent).toBe(PAYLOAD);
  });

  it('pages through embedded head and tail without a kernel', async () => {
    const table = new FrameTable(frameView(10), null);
    const status = () => table.node.querySelector('.jp-mf-Show-pageStatus')!.textContent;
    expect(status()).toBe('rows 1\u20132 of 10');
    await table.show(8);
    expect(status()).toBe('rows 9\u201310 of 10');
    expect(table.node.querySelector('tbody th')!.textContent).toBe('8');
    await table.show(4);
    expect(status()).toContain('%load_ext jupyter_metaflow');
  });

  it('fetches other pages from the kernel link', async () => {
    const link = pagingLink();
    const renderer = new ArtifactRenderer(() => link);
    const node = await render(
      bundle({ view: frameView(10), page: { pathspec: 'F/1/start/2', artifact: 'df' } }),
      renderer
    );
    const next = node.querySelector('button[title="Next page"]') as HTMLButtonElement;
    next.click();
    await new Promise(r => setTimeout(r, 10));
    expect(link.sent[link.sent.length - 1]).toMatchObject({
      type: 'artifact_page',
      payload: { pathspec: 'F/1/start/2', artifact: 'df', offset: 2, limit: 2 }
    });
    const cells = Array.from(node.querySelectorAll('tbody td')).map(e => e.textContent);
    expect(cells).toEqual(['2', 'x', '3', 'y']);
    expect(node.querySelector('.jp-mf-Show-pageStatus')!.textContent).toBe('rows 3\u20134 of 10');
  });

  it('never asks the kernel for a page of an untrusted output', async () => {
    const link = pagingLink();
    const node = await render(
      bundle({ view: frameView(10), page: { pathspec: 'Other/1/start/2', artifact: 'secret' } }),
      new ArtifactRenderer(() => link),
      false
    );
    (node.querySelector('button[title="Next page"]') as HTMLButtonElement).click();
    await new Promise(r => setTimeout(r, 10));
    expect(link.sent).toEqual([]);
    expect(node.querySelector('.jp-mf-Show-pageStatus')!.textContent).toContain('not trusted');
  });

  it.each([
    ['a frame without rows', { kind: 'artifact', view: { kind: 'dataframe', shape: 'x' } }],
    ['splits that are not a list', { kind: 'splits', splits: 7 }],
    ['a header that is text', { kind: 'artifact', header: 'df' }],
    ['a tree without children', { kind: 'artifact', view: { kind: 'tree', root: null } }]
  ])('shows %s of another version as text, without throwing', async (_, parts) => {
    const data = { ...bundle({ view: frameView(2) }), ...parts } as any;
    const node = await render(data);
    expect(node.textContent).toContain('another jupyter-metaflow version');
  });

  it('keeps fetched pages to the columns of a view shrunk to fit the output limit', async () => {
    const view = { ...frameView(10), columns: ['n'], dtypes: ['int64'], columns_omitted: 1 };
    const link = pagingLink();
    const node = await render(
      bundle({ view, page: { pathspec: 'F/1/start/2', artifact: 'df' } }),
      new ArtifactRenderer(() => link)
    );
    (node.querySelector('button[title="Next page"]') as HTMLButtonElement).click();
    await new Promise(r => setTimeout(r, 10));
    const rows = Array.from(node.querySelectorAll('tbody tr')).map(tr =>
      Array.from(tr.children).map(c => c.textContent)
    );
    expect(rows).toEqual([
      ['2', '2'],
      ['3', '3']
    ]); // index + the one shown column
  });

  it('pages a frame split through the kernel with its own task', async () => {
    const link = pagingLink();
    const split = (task: string) => ({
      index: Number(task) - 2,
      label: `[${Number(task) - 2}]`,
      task,
      pathspec: `F/1/mid/${task}/df`,
      type: 'pandas.DataFrame',
      size: 2048,
      view: frameView(10),
      page: { pathspec: `F/1/mid/${task}`, artifact: 'df' }
    });
    const node = await render(
      bundle({ kind: 'splits', splits: [split('2'), split('3')], omitted: 0 }),
      new ArtifactRenderer(() => link)
    );
    const next = node.querySelectorAll('button[title="Next page"]')[1] as HTMLButtonElement;
    next.click();
    await new Promise(r => setTimeout(r, 10));
    expect(link.sent[link.sent.length - 1]).toMatchObject({
      type: 'artifact_page',
      payload: { pathspec: 'F/1/mid/3', artifact: 'df', offset: 2, limit: 2 }
    });
    const status = node.querySelectorAll('.jp-mf-Show-pageStatus')[1].textContent;
    expect(status).toBe('rows 3\u20134 of 10'); // was: run %load_ext ... to page through the rest
  });

  it('rejects a page request with the kernel error as text', async () => {
    const link = new FakeLink(p => ({
      request_id: p.request_id,
      pathspec: '',
      artifact: '',
      error: 'KeyError: <b>nope</b>'
    }));
    await expect(
      requestPage(link, { pathspec: 'F/1/s/2', artifact: 'nope', offset: 0, limit: 5 })
    ).rejects.toThrow('KeyError: <b>nope</b>');
  });

  it("isolates own HTML in an iframe where nothing runs, in the theme's colours", async () => {
    document.body.dataset.jpThemeLight = 'false';
    document.body.style.setProperty('--jp-layout-color0', '#111111');
    const node = await render(
      bundle({
        view: {
          kind: 'estimator',
          params: [['C', '0.5']],
          text: 'LogisticRegression(C=0.5)',
          html: '<script>window.__pwned=1</script><b>est</b>'
        }
      })
    );
    const frame = node.querySelector('iframe')!;
    expect(frame.getAttribute('sandbox')).toBe('allow-same-origin');
    expect(frame.srcdoc).toContain('<b>est</b>');
    expect(frame.srcdoc).toContain('color-scheme:dark');
    expect(frame.srcdoc).toContain('--sklearn-color-background:#111111');
    delete document.body.dataset.jpThemeLight;
    expect(node.querySelector('b')).toBeNull();
    expect(node.querySelector('td')!.textContent).toBe('C');
  });

  it('draws containers as a collapsible tree with counts', async () => {
    const node = await render(
      bundle({
        view: {
          kind: 'tree',
          root: {
            type: 'dict',
            length: 3,
            entries: [{ key: `'${PAYLOAD}'`, value: { type: 'int', text: '1' } }],
            omitted: 2
          }
        }
      })
    );
    const details = node.querySelector('details')!;
    expect(details.open).toBe(true);
    expect(details.querySelector('summary')!.textContent).toBe('dict (3)');
    expect(node.querySelector('.jp-mf-Show-key')!.textContent).toBe(`'${PAYLOAD}': `);
    expect(node.querySelector('.jp-mf-Show-note')!.textContent).toBe('\u2026 2 more');
    expect(node.querySelectorAll('img')).toHaveLength(0);
  });

  it('accepts only base64 PNG data', () => {
    expect(pngImage('iVBORw0KGgo=', 'x')!.src).toBe('data:image/png;base64,iVBORw0KGgo=');
    expect(pngImage('x" onerror="alert(1)', 'x')).toBeNull();
  });

  it('renders step, run and diff tables', async () => {
    const step = await render(
      bundle({
        kind: 'step',
        header: { title: 'train', step: 'train', pathspec: 'F/1/train' },
        tasks: [
          {
            task: '3',
            index: 0,
            label: '[0]',
            pathspec: 'F/1/train/3',
            finished: true,
            successful: true
          },
          {
            task: '4',
            index: null,
            label: 'iteration 2',
            pathspec: 'F/1/train/4',
            finished: true,
            successful: false
          }
        ],
        artifacts_of: 'F/1/train/3',
        artifacts: [{ name: 'model', size: 10, type: 'int', preview: '10' }]
      })
    );
    expect(Array.from(step.querySelectorAll('tbody tr')).map(r => r.textContent)).toEqual([
      '3[0]ok',
      '4iteration 2failed',
      'modelint10 B10'
    ]);
    const diff = await render(
      bundle({
        kind: 'diff',
        header: { title: 'F/1 \u2192 F/2', scope: 'all steps' },
        unchanged: 4,
        rows: [
          {
            step: 'train',
            split: '[2]',
            artifact: 'score',
            status: 'changed',
            size_a: 5,
            size_b: 5,
            value_a: '30',
            value_b: '60'
          }
        ]
      })
    );
    expect(diff.querySelector('.jp-mf-Show-info')!.textContent).toBe('4 artifacts unchanged');
    expect(diff.querySelector('tbody tr')!.textContent).toBe('train[2]scorechanged3060');
  });
});

describe('2-D data matrix', () => {
  it('is a table shaded by value with a gap row, never an image', () => {
    const part = (start: number) => ({
      start,
      cells: [['0', '16', PAYLOAD]],
      shades: [[0, 1, null]]
    });
    const node: HTMLElement = renderView(
      {
        kind: 'ndarray',
        shape: [1347, 64],
        dtype: 'int64',
        size: 1347 * 64,
        nbytes: 1347 * 64 * 8,
        stats: { min: 0, max: 16, nan: 0, sampled: false },
        preview: '[[0, 16, ...]]',
        grid: { columns_omitted: 61, low: 0, high: 16, head: part(0), tail: part(1346) }
      },
      null
    );
    expect(node.querySelector('img')).toBeNull();
    const cells = node.querySelectorAll(
      '.jp-mf-Show-grid tbody td:not(.jp-mf-Show-gap):not(.jp-mf-Show-index)'
    );
    expect(Array.from(cells).map(c => c.textContent)).toEqual([
      '0',
      '16',
      PAYLOAD,
      '0',
      '16',
      PAYLOAD
    ]);
    expect((cells[0] as HTMLElement).style.getPropertyValue('--jp-mf-shade')).toBe('0%');
    expect((cells[1] as HTMLElement).style.getPropertyValue('--jp-mf-shade')).toBe('70%');
    expect((cells[2] as HTMLElement).style.getPropertyValue('--jp-mf-shade')).toBe('');
    expect(node.querySelector('.jp-mf-Show-gap')?.textContent).toBe('\u22ee 1,345 more rows');
    expect(node.textContent).toContain('61 more columns not shown');
    expect(node.querySelectorAll('.jp-mf-Show-grid tbody th').length).toBe(2);
    expect((window as any).__pwned).toBeUndefined();
  });
});

describe('an artifact across foreach splits', () => {
  const split = (i: number, view: any) => ({
    index: i,
    label: `[${i}]`,
    task: String(10 + i),
    input: { var: 'c_values', value: String([0.001, 0.01][i]) },
    pathspec: `DigitsFlow/5/train/${10 + i}/accuracy`,
    type: 'float',
    size: 20,
    view
  });
  const data = (views: any[]): IShowData =>
    bundle({
      kind: 'splits',
      header: {
        title: 'train.accuracy',
        name: 'accuracy',
        type: 'float',
        over: 'c_values',
        splits: 2
      },
      splits: views.map((v, i) => split(i, v))
    });

  it('is one row per split with the input that split received', () => {
    const node = renderSplits(
      data([
        { kind: 'scalar', text: '0.87' },
        { kind: 'scalar', text: PAYLOAD }
      ]),
      () => null
    );
    const rows = Array.from(node.querySelectorAll('tbody tr')).map(r =>
      Array.from(r.querySelectorAll('td')).map(c => c.textContent)
    );
    expect(Array.from(node.querySelectorAll('th')).map(c => c.textContent)).toEqual([
      'split',
      'c_values',
      'accuracy',
      'task'
    ]);
    expect(rows).toEqual([
      ['[0]', '0.001', '0.87', '10'],
      ['[1]', '0.01', PAYLOAD, '11']
    ]);
    expect(node.textContent).not.toContain('DigitsFlow/5');
  });

  it('keeps a block per split, captioned with its input, when a value needs more room', () => {
    const tree = { kind: 'tree', root: { type: 'list', length: 0, entries: [] } };
    const node = renderSplits(data([tree, tree]), () => null);
    expect(
      Array.from(node.querySelectorAll('.jp-mf-Show-subtitle')).map(c => c.textContent)
    ).toEqual([
      '[0] \u00b7 c_values = 0.001 \u00b7 task 10',
      '[1] \u00b7 c_values = 0.01 \u00b7 task 11'
    ]);
  });

  it('names a type by its class, the dotted name in the tooltip', () => {
    const el = typeName('sklearn.linear_model._logistic.LogisticRegression') as HTMLElement;
    expect(el.textContent).toBe('LogisticRegression');
    expect(el.title).toBe('sklearn.linear_model._logistic.LogisticRegression');
    expect(typeName('int')).toHaveProperty('textContent', 'int');
  });
});

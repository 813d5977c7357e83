/**
 * The `%mf_show` output renderer: a header (name, type, size, step, pathspec)
 * and the body for the bundle's kind. Everything is built from text nodes.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { request } from '../requests';
import type { IKernelLink } from '../tokens';
import { h, humanBytes } from './dom';
import { MIME_TYPE, RENDERER_RANK } from './types';
import type { IHeader, IPageSource, IShowData, PageFetcher } from './types';
import { renderBody } from './views';

/** Finds the kernel link of the notebook an output node sits in (null if none). */
export type LinkFinder = (node: HTMLElement) => IKernelLink | null;

const MALFORMED =
  'This %mf_show output cannot be shown: it is malformed or was made by another ' +
  'jupyter-metaflow version. Run the cell again.';

const UNTRUSTED =
  'this output is not trusted (the notebook was saved elsewhere): run its cell again, ' +
  'or trust the notebook, to page through the rest';

/** How long a page request may take. */
export const PAGE_TIMEOUT_MS = 30_000;

/** Renders one `application/vnd.jupyter-metaflow.artifact+json` output. */
export class ArtifactRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly _findLink: LinkFinder | null) {
    super();
    this.addClass('jp-mf-Show');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[MIME_TYPE] as unknown as IShowData;
    this._trusted = model.trusted === true;
    this.node.replaceChildren();
    if (!data || typeof data !== 'object' || !data.header || typeof data.header !== 'object') {
      this.node.appendChild(h('pre', 'jp-mf-Show-pre', MALFORMED));
      return Promise.resolve();
    }
    try {
      const header = renderHeader(data.header);
      const body = renderBody(data, page => this._fetcher(page));
      this.node.dataset.jpMfKind = String(data.kind);
      this.node.append(header, body);
    } catch (err) {
      // A bundle of another jupyter-metaflow version (or a hand-edited output): say so in the
      // output instead of failing the output area that renders it.
      console.warn('jupyter-metaflow: cannot render a %mf_show output', err);
      this.node.replaceChildren(h('pre', 'jp-mf-Show-pre', MALFORMED));
    }
    return Promise.resolve();
  }

  /**
   * Page requests over the notebook's kernel link, for frames that name their task.
   * An untrusted output (a notebook saved elsewhere) never asks the kernel: its
   * pathspec could name any artifact.
   */
  private _fetcher(page: IPageSource | undefined): PageFetcher | null {
    const findLink = this._findLink;
    if (!page || !findLink) {
      return null;
    }
    if (!this._trusted) {
      return () => Promise.reject(new Error(UNTRUSTED));
    }
    return (offset, limit) => {
      const link = findLink(this.node);
      if (!link || link.state !== 'connected') {
        return Promise.reject(
          new Error('the kernel side is not connected (%load_ext jupyter_metaflow)')
        );
      }
      return requestPage(link, { ...page, offset, limit });
    };
  }

  private _trusted = false;
}

/** Send `artifact_page` on `link` and wait for the matching `artifact_page_result`. */
export async function requestPage(
  link: IKernelLink,
  page: { pathspec: string; artifact: string; offset: number; limit: number }
): ReturnType<PageFetcher> {
  const result = await request(link, 'artifact_page', page, PAGE_TIMEOUT_MS);
  if (!result.rows || result.total === undefined) {
    throw new Error('the kernel sent no rows');
  }
  return { total: result.total, rows: result.rows };
}

/** Title, type, size, step and pathspec. */
export function renderHeader(header: IHeader): HTMLElement {
  const facts: string[] = [];
  if (header.type) {
    facts.push(header.type);
  }
  if (header.size !== undefined && header.size !== null) {
    facts.push(humanBytes(header.size));
  }
  if (header.step) {
    const index = header.index !== undefined && header.index !== null ? `[${header.index}]` : '';
    facts.push(`step ${header.step}${index}`);
  }
  if (header.splits !== undefined) {
    facts.push(`${header.splits} splits` + (header.over ? ` over ${header.over}` : ''));
  }
  if (header.status) {
    facts.push(header.status);
  }
  if (header.scope) {
    facts.push(header.scope);
  }
  return h(
    'div',
    'jp-mf-Show-header',
    h('span', 'jp-mf-Show-title', header.title),
    h('span', 'jp-mf-Show-facts', facts.join(' \u00b7 ')),
    header.pathspec && h('code', 'jp-mf-Show-pathspec', header.pathspec)
  );
}

/** A renderer factory; `findLink` enables paging through the kernel. */
export function createRendererFactory(findLink: LinkFinder | null): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [MIME_TYPE],
    defaultRank: RENDERER_RANK,
    createRenderer: () => new ArtifactRenderer(findLink)
  };
}

/** Building, uploading and opening test notebooks: shared by the UI specs. */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

/** One cell of a test notebook (a bare string is a code cell). */
export interface ICellSpec {
  source: string;
  type?: 'code' | 'markdown';
  tags?: string[];
}

/** The .ipynb text of a notebook holding `cells`. */
export function notebookJson(cells: Array<ICellSpec | string>): string {
  return JSON.stringify({
    cells: cells.map((spec, i) => {
      const c = typeof spec === 'string' ? { source: spec } : spec;
      const type = c.type ?? 'code';
      return {
        cell_type: type,
        id: `cell-${i}`,
        metadata: c.tags ? { tags: c.tags } : {},
        source: c.source,
        ...(type === 'code' ? { outputs: [], execution_count: null } : {})
      };
    }),
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  });
}

/**
 * Save the .ipynb text `json` at `path` the way JupyterLab saves a notebook the user
 * made: through the contents API as a notebook, which signs it, so it opens trusted.
 * (`page.contents.uploadContent`/`uploadFile` write a plain file, like a notebook
 * received from someone else: it opens untrusted.) `baseURL` is the server's.
 */
export async function saveTrustedJson(
  page: IJupyterLabPageFixture | Page,
  baseURL: string,
  path: string,
  json: string
): Promise<void> {
  const response = await page.request.put(
    new URL(`api/contents/${path}`, baseURL.replace(/\/?$/, '/')).href,
    {
      data: { type: 'notebook', format: 'json', content: JSON.parse(json) }
    }
  );
  if (!response.ok()) {
    throw new Error(`saving ${path} failed: ${response.status()} ${await response.text()}`);
  }
}

/** {@link saveTrustedJson} for a notebook of `cells` (creates the folders). */
export async function saveTrustedNotebook(
  page: IJupyterLabPageFixture,
  path: string,
  cells: Array<ICellSpec | string>
): Promise<void> {
  const json = notebookJson(cells);
  await page.contents.uploadContent(json, 'text', path); // creates the folders
  await saveTrustedJson(page, page.url().replace(/lab.*$/, ''), path, json);
}

/**
 * Save a notebook of `cells` as `tmpPath/name` (trusted, as one the user made unless
 * `trusted` is false), open it and make it the active tab.
 */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  cells: Array<ICellSpec | string>,
  trusted = true
): Promise<void> {
  if (trusted) {
    await saveTrustedNotebook(page, `${tmpPath}/${name}`, cells);
  } else {
    await page.contents.uploadContent(notebookJson(cells), 'text', `${tmpPath}/${name}`);
  }
  // opened by JupyterLab's document manager, as a double click would: Galata's openByPath
  // clicks through the file browser, whose listing may show a new file only after the 15 s
  // Galata waits for it
  await page.evaluate(async path => {
    await (window as any).jupyterapp.commands.execute('docmanager:open', { path });
  }, `${tmpPath}/${name}`);
  await page.notebook.activate(name);
}

/**
 * Wait until JupyterLab's notification center lists a notification containing
 * `text`. A toast closes after a few seconds (sooner than a loaded machine gets
 * to look at it); the center keeps every notification until it is dismissed.
 */
export async function expectNotification(
  page: IJupyterLabPageFixture,
  text: string
): Promise<void> {
  const center = page.locator('.jp-Notification-Center').first();
  if (!(await center.isVisible())) {
    await page.evaluate(() =>
      (window as any).jupyterapp.commands.execute('apputils:display-notifications')
    );
  }
  await expect(center).toContainText(text, { timeout: 60000 });
}

/** Building, uploading and opening test notebooks: shared by the UI specs. */
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

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

/** Upload a notebook of `cells` as `tmpPath/name`, open it and make it the active tab. */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  cells: Array<ICellSpec | string>
): Promise<void> {
  await page.contents.uploadContent(notebookJson(cells), 'text', `${tmpPath}/${name}`);
  await page.notebook.openByPath(`${tmpPath}/${name}`);
  await page.notebook.activate(name);
}

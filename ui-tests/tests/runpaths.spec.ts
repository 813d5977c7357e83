/**
 * Run paths as a user takes them: Run All Steps from the DAG panel on a fresh
 * notebook, the first Shift+Enter right after a kernel is chosen, a renamed
 * notebook. Each state the user sees is saved as a light and a dark screenshot.
 */
import * as path from 'path';
import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');
const SHOTS = 'test-results/screenshots';

/** Run a JupyterLab command without waiting for it to finish. */
async function command(page: IJupyterLabPageFixture, id: string, args: Record<string, unknown> = {}): Promise<void> {
  await page.evaluate(([id, args]) => {
    void (window as any).jupyterapp.commands.execute(id, args);
  }, [id, args] as const);
}

function node(page: IJupyterLabPageFixture, step: string): Locator {
  return page.locator(`#jp-mf-dag-panel .jp-mf-DagNode[data-step="${step}"]`);
}

async function connected(page: IJupyterLabPageFixture): Promise<void> {
  await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
    'data-jp-mf-status',
    'connected',
    { timeout: 90000 }
  );
}

/** Save `target` as NAME-light.png and NAME-dark.png. */
async function shots(page: IJupyterLabPageFixture, target: Locator | IJupyterLabPageFixture, name: string): Promise<void> {
  await target.screenshot({ path: `${SHOTS}/${name}-light.png` });
  await page.theme.setDarkTheme();
  await target.screenshot({ path: `${SHOTS}/${name}-dark.png` });
  await page.theme.setLightTheme();
}

test.describe('run paths', () => {
  test.use({ kernels: null });

  test('Run All Steps from the panel runs the module and flow cells first', async ({ page, tmpPath }) => {
    const name = 'sklearn_hyperparams.ipynb';
    await page.contents.uploadFile(path.join(EXAMPLES, name), `${tmpPath}/${name}`);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await page.notebook.activate(name);
    await command(page, 'jupyter-metaflow:show-dag');
    await expect(page.locator('#jp-mf-dag-panel')).toBeVisible();
    await connected(page);
    // no cell has run: the panel's Run All is the user's first action
    await command(page, 'jupyter-metaflow:run-all');
    for (const step of ['start', 'train', 'choose', 'end']) {
      await expect(node(page, step)).toHaveAttribute('data-status', 'done', { timeout: 240000 });
    }
    await expect(page.locator('.jp-Notebook .jp-OutputArea-output', { hasText: 'NameError' })).toHaveCount(0);
    // the module cell (3) and the flow cell (4) ran, the scratch cell at the end did not
    const counts = await page.evaluate(() => {
      const cells = (window as any).jupyterapp.shell.currentWidget.content.model.cells;
      const out: Array<number | null> = [];
      for (let i = 0; i < cells.length; i++) {
        out.push(cells.get(i).executionCount ?? null);
      }
      return out;
    });
    expect(counts[3]).not.toBeNull();
    expect(counts[4]).not.toBeNull();
    expect(counts[3]!).toBeLessThan(counts[5]!);
    expect(counts[10]).toBeNull();
    await shots(page, page, 'runall-module-cells-first');
  });
});

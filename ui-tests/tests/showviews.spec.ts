/**
 * %mf_show views a data scientist meets on the sklearn example: a training
 * matrix, a fitted model, a metric across foreach splits, a step's table; each
 * in the light and the dark theme.
 */
import * as path from 'path';
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { shots, test } from './lab';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

/** Append a cell with SOURCE, run it and return its %mf_show output. */
async function showCell(page: IJupyterLabPageFixture, source: string): Promise<Locator> {
  await page.notebook.addCell('code', source);
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  const out = (await page.notebook.getCellOutputLocator(index))!.locator('.jp-mf-Show');
  await expect(out).toBeVisible();
  return out;
}

test.describe('%mf_show views', () => {
  test.use({ kernels: null });

  test('matrix, model, splits and step table on the sklearn example', async ({ page, tmpPath }) => {
    test.setTimeout(400000);
    const name = 'sklearn_hyperparams.ipynb';
    await page.contents.uploadFile(path.join(EXAMPLES, name), `${tmpPath}/${name}`);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await page.notebook.activate(name);
    await page.notebook.run();
    await page.waitForSelector('#jp-main-statusbar >> text=Idle');

    // a 1347x64 matrix of 0..16: a shaded table of numbers, not a near-black strip
    const matrix = await showCell(page, '%mf_show start.X_train');
    await expect(matrix.locator('img')).toHaveCount(0);
    const grid = matrix.locator('.jp-mf-Show-grid');
    await expect(grid).toBeVisible();
    await expect(matrix.locator('.jp-mf-Show-gap')).toHaveText('\u22ee 1,327 more rows');
    await shots(page, matrix, 'show-matrix-grid');

    // the fitted model: sized to its content (no inner scrollbar), the theme's background
    const model = await showCell(page, '%mf_show choose.best_model');
    const frame = model.locator('iframe.jp-mf-Show-sandbox');
    await expect(frame).toBeVisible();
    const fit = async () =>
      frame.evaluate((f: HTMLIFrameElement) => {
        const doc = f.contentDocument!;
        return {
          frame: f.clientHeight,
          content: doc.documentElement.scrollHeight,
          background: getComputedStyle(doc.body).backgroundColor
        };
      });
    await expect.poll(async () => (await fit()).frame).toBeGreaterThan(60);
    await expect
      .poll(async () => {
        const f = await fit();
        return f.frame - f.content;
      })
      .toBe(0);
    await shots(page, model, 'show-estimator');
    await page.theme.setDarkTheme();
    await expect.poll(async () => (await fit()).background).not.toBe('rgb(255, 255, 255)');
    await expect
      .poll(async () => {
        const f = await fit();
        return f.frame - f.content;
      })
      .toBe(0);
    await page.theme.setLightTheme();

    // a metric across splits: one row per split, with the C it was trained with
    const splits = await showCell(page, '%mf_show train.accuracy');
    const rows = splits.locator('.jp-mf-Show-splitTable tbody tr');
    await expect(rows).toHaveCount(4);
    await expect(rows.nth(0).locator('td').nth(1)).toHaveText('0.001');
    await expect(rows.nth(3).locator('td').nth(1)).toHaveText('1.0');
    await expect(splits.locator('.jp-mf-Show-facts')).toContainText('4 splits over c_values');
    await expect(splits.locator('.jp-mf-Show-pathspec')).toHaveText(/^DigitsFlow\/\d+$/);
    await shots(page, splits, 'show-splits-inputs');

    // a step's table: the type column holds class names, the preview stays on screen
    const step = await showCell(page, '%mf_show choose');
    await expect(step.locator('.jp-mf-Show-subtitle')).toHaveText(/^Artifacts of task \d+$/);
    const typeCell = step.locator('.jp-mf-Show-typeName', { hasText: 'LogisticRegression' });
    await expect(typeCell).toHaveAttribute('title', /^sklearn\..*LogisticRegression$/);
    const preview = step.locator('tbody tr', { hasText: 'best_model' }).locator('td').nth(3);
    const box = await preview.boundingBox();
    const area = await page.locator('.jp-NotebookPanel').boundingBox();
    expect(box!.x).toBeLessThan(area!.x + area!.width - 40);
    await shots(page, step, 'show-step-table');
  });
});

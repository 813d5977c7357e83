/**
 * Notebook 7: Run All Steps runs the module cell first, and %mf_show draws a data matrix as
 * a shaded grid and a metric across foreach splits one row per split with its input.
 */
import { expect } from '@jupyterlab/galata';

import { notebookJson } from './notebooks';
import { test } from './lab';

const SHOTS = 'test-results/screenshots';

test.describe('Notebook 7 run paths', () => {
  test.use({ autoGoto: false, kernels: null });

  test('Run All Steps, a matrix grid and split inputs', async ({
    page,
    context,
    baseURL,
    tmpPath
  }) => {
    test.setTimeout(300000);
    const path = `${tmpPath}/grid.ipynb`;
    const json = notebookJson([
      'import numpy as np\n\nROWS = 1347',
      "%%step start\nself.m = np.arange(ROWS * 64).reshape(ROWS, 64) % 17\nself.c_values = [0.01, 0.1]\nself.next(self.train, foreach='c_values')",
      '%%step train\nself.accuracy = 0.5 + self.input',
      '%%step join\nself.best = max(i.accuracy for i in inputs)',
      '%%step end',
      '%mf_show start.m',
      '%mf_show train.accuracy'
    ]);
    await page.contents.uploadContent(json, 'text', path);
    // saved as a notebook through the contents API: signed, so it opens trusted
    const saved = await page.request.put(`${baseURL}/api/contents/${path}`, {
      data: { type: 'notebook', format: 'json', content: JSON.parse(json) }
    });
    expect(saved.ok()).toBe(true);
    const nb7 = await context.newPage();
    await nb7.goto(`${baseURL}/notebooks/${path}`);
    await expect(nb7.locator('.jp-mf-LinkIndicator')).toHaveAttribute(
      'data-jp-mf-status',
      'connected',
      {
        timeout: 90000
      }
    );
    const runAll = nb7.locator(
      '.jp-NotebookPanel-toolbar [data-command="jupyter-metaflow:run-all"]'
    );
    if (!(await runAll.isVisible())) {
      await nb7
        .locator('.jp-NotebookPanel-toolbar [data-jp-item-name="toolbar-popup-opener"]')
        .click();
    }
    await runAll.click();
    const badge = nb7.locator('.jp-Cell').nth(4).locator('.jp-mf-StepBadge');
    await expect(badge).toHaveAttribute('data-status', 'done', { timeout: 180000 });
    await expect(nb7.locator('.jp-OutputArea-output', { hasText: 'NameError' })).toHaveCount(0);

    for (const i of [5, 6]) {
      await nb7.locator('.jp-Cell').nth(i).locator('.jp-InputArea-editor').click();
      await nb7.keyboard.press('Shift+Enter');
    }
    const grid = nb7.locator('.jp-Cell').nth(5).locator('.jp-mf-Show-grid');
    await expect(grid).toBeVisible({ timeout: 60000 });
    await expect(nb7.locator('.jp-Cell').nth(5).locator('img')).toHaveCount(0);
    const rows = nb7.locator('.jp-Cell').nth(6).locator('.jp-mf-Show-splitTable tbody tr');
    await expect(rows).toHaveCount(2, { timeout: 60000 });
    await expect(rows.nth(1).locator('td').nth(1)).toHaveText('0.1');
    await nb7.screenshot({ path: `${SHOTS}/notebook7-runall-show-light.png` });
    const theme = async (name: string) => {
      await nb7.locator('.lm-MenuBar-itemLabel', { hasText: 'Settings' }).click();
      await nb7.locator('.lm-Menu-itemLabel', { hasText: /^Theme$/ }).hover();
      await nb7.locator('.lm-Menu-itemLabel').getByText(name, { exact: true }).first().click();
    };
    await theme('JupyterLab Dark');
    await expect(nb7.locator('body')).toHaveAttribute('data-jp-theme-light', 'false');
    await nb7.screenshot({ path: `${SHOTS}/notebook7-runall-show-dark.png` });
    await theme('JupyterLab Light');
    await expect(nb7.locator('body')).toHaveAttribute('data-jp-theme-light', 'true');
    await nb7.close();
  });
});

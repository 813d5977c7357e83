import * as fs from 'fs';
import * as path from 'path';
import { expect } from '@jupyterlab/galata';

import { saveTrustedJson } from './notebooks';
import { test } from './lab';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

test.describe('Notebook 7', () => {
  test.use({ autoGoto: false, kernels: null });

  test('the extension loads and the toolbar shows the connected kernel side', async ({
    page,
    context,
    baseURL,
    tmpPath
  }) => {
    await page.contents.uploadFile(path.join(EXAMPLES, 'hello.ipynb'), `${tmpPath}/hello.ipynb`);
    const nb7 = await context.newPage();
    await nb7.goto(`${baseURL}/notebooks/${tmpPath}/hello.ipynb`);
    const indicator = nb7.locator('.jp-mf-LinkIndicator');
    await expect(indicator).toHaveAttribute('data-jp-mf-status', 'not-loaded', { timeout: 60000 });

    await nb7.locator('.jp-Cell').nth(1).click();
    await nb7.keyboard.press('Shift+Enter');
    await expect(indicator).toHaveAttribute('data-jp-mf-status', 'connected', { timeout: 30000 });
    await expect(indicator).toHaveText('Metaflow: connected');
    await nb7.screenshot({ path: 'test-results/screenshots/notebook7-connected.png' });
    await nb7.close();
  });

  test('the DAG panel opens in the right side panel and runs a step', async ({
    page,
    context,
    baseURL,
    tmpPath
  }) => {
    // a notebook the user has (saved as JupyterLab saves one: trusted), so it loads by itself
    const linear = fs.readFileSync(path.join(EXAMPLES, 'linear.ipynb'), 'utf-8');
    await page.contents.uploadContent(linear, 'text', `${tmpPath}/linear.ipynb`);
    await saveTrustedJson(page, baseURL!, `${tmpPath}/linear.ipynb`, linear);
    const nb7 = await context.newPage();
    await nb7.goto(`${baseURL}/notebooks/${tmpPath}/linear.ipynb`);
    // trusted notebooks with step cells load the kernel side by themselves
    await expect(nb7.locator('.jp-mf-LinkIndicator')).toHaveAttribute(
      'data-jp-mf-status',
      'connected',
      {
        timeout: 60000
      }
    );
    // the notebook toolbar's Show DAG button (in the toolbar's overflow menu when narrow)
    const show = nb7.locator(
      '.jp-NotebookPanel-toolbar [data-command="jupyter-metaflow:show-dag"]'
    );
    if (!(await show.isVisible())) {
      await nb7
        .locator('.jp-NotebookPanel-toolbar [data-jp-item-name="toolbar-popup-opener"]')
        .click();
    }
    await show.click();
    const panel = nb7.locator('#jp-mf-dag-panel');
    await expect(panel).toBeVisible();
    const start = panel.locator('.jp-mf-DagNode[data-step="start"]');
    await expect(start).toBeVisible();
    await start.click({ button: 'right' });
    await nb7.locator('.lm-Menu').getByText('Run Step start').click();
    await expect(start).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await nb7.screenshot({ path: 'test-results/screenshots/notebook7-dag.png' });
    await nb7.close();
  });
});

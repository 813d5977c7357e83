import * as path from 'path';
import { expect } from '@jupyterlab/galata';
import { test } from './lab';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

test.describe('kernel link', () => {
  test.use({ autoGoto: false });

  test('the frontend plugins activate', async ({ page }) => {
    const logs: string[] = [];
    page.on('console', message => logs.push(message.text()));
    await page.goto();
    expect(logs.filter(s => s === 'jupyter-metaflow: links plugin activated')).toHaveLength(1);
  });
});

test.describe('handshake', () => {
  test.use({ kernels: null });

  test('running %load_ext connects the kernel side', async ({ page, tmpPath }) => {
    await page.contents.uploadFile(path.join(EXAMPLES, 'hello.ipynb'), `${tmpPath}/hello.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/hello.ipynb`);
    await page.notebook.activate('hello.ipynb');
    const status = page.locator('#jp-main-statusbar .jp-mf-LinkStatus');
    await expect(status).toHaveAttribute('data-jp-mf-status', 'not-loaded', { timeout: 60000 });
    await expect(status).toHaveText('Metaflow: not loaded');

    await page.notebook.runCell(1);
    await expect(status).toHaveAttribute('data-jp-mf-status', 'connected');
    await expect(status).toHaveText('Metaflow: connected');
    // Loads silently (no kernel-side noise from subshells torn down under the cell).
    expect(await page.notebook.getCellTextOutput(1)).toBeNull();
    await expect(status).toHaveAttribute(
      'title',
      /jupyter-metaflow 0\.1\.0 in the kernel, Metaflow 2\.19\./
    );
    const indicator = page.locator('.jp-NotebookPanel-toolbar .jp-mf-LinkIndicator');
    await expect(indicator).toHaveAttribute('data-jp-mf-status', 'connected');
    await page.screenshot({ path: 'test-results/screenshots/connected.png' });
  });

  test('the link survives reopening and comes back after a kernel restart', async ({
    page,
    tmpPath
  }) => {
    await page.contents.uploadFile(path.join(EXAMPLES, 'hello.ipynb'), `${tmpPath}/hello.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/hello.ipynb`);
    await page.notebook.activate('hello.ipynb');
    const status = page.locator('#jp-main-statusbar .jp-mf-LinkStatus');
    await page.notebook.runCell(1);
    await expect(status).toHaveAttribute('data-jp-mf-status', 'connected');

    // Closing and reopening keeps the kernel: the new view's own probe finds the loaded extension.
    await page.notebook.save();
    await page.notebook.close();
    await page.notebook.openByPath(`${tmpPath}/hello.ipynb`);
    await page.notebook.activate('hello.ipynb');
    await expect(status).toHaveAttribute('data-jp-mf-status', 'connected', { timeout: 60000 });

    // A restart drops the kernel side until %load_ext runs again.
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('notebook:restart-kernel');
    });
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await expect(status).toHaveAttribute('data-jp-mf-status', 'not-loaded', { timeout: 60000 });
    await page.notebook.runCell(1);
    await expect(status).toHaveAttribute('data-jp-mf-status', 'connected');
  });
});

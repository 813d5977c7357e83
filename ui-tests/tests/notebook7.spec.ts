import * as path from 'path';
import { expect, test } from '@jupyterlab/galata';

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
});

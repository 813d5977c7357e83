/**
 * %mf_show in real JupyterLab: the custom renderer (not the text/html fallback)
 * shows a frame whose pager fetches rows from the kernel, a matplotlib figure,
 * and HTML/JS payloads in column names and cells as inert text.
 */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';

import { openNotebook } from './notebooks';
import { test } from './lab';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';
const SHOTS = 'test-results/screenshots';

const CELLS = [
  '%load_ext jupyter_metaflow',
  '%%flow ShowUiFlow',
  [
    '%%step start',
    'import pandas as pd',
    'import matplotlib.pyplot as plt',
    `P = '${PAYLOAD}'`,
    "self.df = pd.DataFrame({'n': range(1000), P: [P + str(i) for i in range(1000)]})",
    'fig, ax = plt.subplots(figsize=(3, 2))',
    'ax.plot([1, 2, 3], [1, 4, 9])',
    'self.fig = fig',
    'plt.close(fig)',
    'self.next(self.end)'
  ].join('\n'),
  '%%step end\nself.done = True',
  '%mf_show start.df',
  '%mf_show start.fig',
  `%mf_show --max-kb 100 start`
];

/** Open the notebook, run the flow's steps in the kernel and `%mf_show start.df`. */
async function showFrame(page: IJupyterLabPageFixture, tmpPath: string, name: string) {
  await openNotebook(page, tmpPath, name, CELLS);
  for (let i = 0; i < 5; i++) {
    await page.notebook.runCell(i);
  }
  await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
    'data-jp-mf-status',
    'connected',
    { timeout: 60000 }
  );
  return (await page.notebook.getCellOutputLocator(4))!.locator('.jp-mf-Show');
}

test.describe('%mf_show', () => {
  test.use({ kernels: null });

  test('the custom renderer shows a frame and a figure; payloads stay text', async ({
    page,
    tmpPath
  }) => {
    const frame = await showFrame(page, tmpPath, 'show.ipynb');
    // Our renderer wins over the text/html fallback.
    await expect(frame).toHaveAttribute('data-jp-mf-kind', 'artifact');
    await expect(page.locator('.jp-mf-Show-fallback')).toHaveCount(0);
    await expect(frame.locator('.jp-mf-Show-title')).toHaveText('df');
    await expect(frame.locator('.jp-mf-Show-facts')).toContainText('pandas.DataFrame');
    await expect(frame.locator('.jp-mf-Show-facts')).toContainText('step start');
    await expect(frame.locator('.jp-mf-Show-pathspec')).toHaveText(
      /^ShowUiFlow\/\d+\/start\/\d+\/df$/
    );
    await expect(frame.locator('.jp-mf-Show-pageStatus')).toHaveText('rows 1\u201310 of 1,000');
    await expect(frame.locator('thead th').nth(2)).toContainText(PAYLOAD);
    await expect(frame.locator('tbody tr').first().locator('td').nth(1)).toHaveText(`${PAYLOAD}0`);
    // The last page is embedded in the bundle.
    await frame.locator('button[title="Last page"]').click();
    await expect(frame.locator('.jp-mf-Show-pageStatus')).toHaveText(
      'rows 991\u20131,000 of 1,000'
    );
    await expect(frame.locator('tbody tr').last().locator('td').nth(1)).toHaveText(`${PAYLOAD}999`);
    await frame.screenshot({ path: `${SHOTS}/show-frame.png` });

    await page.notebook.runCell(5);
    const figure = (await page.notebook.getCellOutputLocator(5))!.locator('.jp-mf-Show');
    await expect(figure.locator('.jp-mf-Show-facts')).toContainText('matplotlib.figure.Figure');
    const img = figure.locator('img.jp-mf-Show-image');
    await expect(img).toBeVisible();
    expect(await img.evaluate((e: HTMLImageElement) => e.naturalWidth)).toBeGreaterThan(100);
    await figure.screenshot({ path: `${SHOTS}/show-figure.png` });

    await page.notebook.runCell(6);
    const step = (await page.notebook.getCellOutputLocator(6))!.locator('.jp-mf-Show');
    await expect(step).toHaveAttribute('data-jp-mf-kind', 'step');
    // The class name in the row, the dotted name in its tooltip.
    const figType = step.locator('tbody tr', { hasText: 'fig' }).locator('.jp-mf-Show-typeName');
    await expect(figType).toHaveText('Figure');
    await expect(figType).toHaveAttribute('title', 'matplotlib.figure.Figure');

    // Nothing from a payload became an element or ran.
    await expect(page.locator('.jp-OutputArea img[src="x"]')).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    await page.screenshot({ path: `${SHOTS}/show-notebook.png` });
  });

  test('the frame pages through the kernel without re-running the cell', async ({
    page,
    tmpPath
  }) => {
    const frame = await showFrame(page, tmpPath, 'paging.ipynb');
    const status = frame.locator('.jp-mf-Show-pageStatus');
    const prompt = (await page.notebook.getCellLocator(4))!.locator('.jp-InputArea-prompt');
    const before = await prompt.innerText();
    await frame.locator('button[title="Next page"]').click();
    await expect(status).toHaveText('rows 11\u201320 of 1,000', { timeout: 20000 });
    await expect(frame.locator('tbody tr').first().locator('th')).toHaveText('10');
    await expect(frame.locator('tbody tr').first().locator('td').nth(1)).toHaveText(`${PAYLOAD}10`);
    await frame.locator('button[title="Last page"]').click();
    await expect(status).toHaveText('rows 991\u20131,000 of 1,000');
    await frame.locator('button[title="Previous page"]').click();
    await expect(status).toHaveText('rows 981\u2013990 of 1,000', { timeout: 20000 });
    await expect(frame.locator('tbody tr').last().locator('td').nth(1)).toHaveText(`${PAYLOAD}989`);
    expect(await prompt.innerText()).toBe(before);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    await frame.screenshot({ path: `${SHOTS}/show-frame-paged.png` });
  });
});

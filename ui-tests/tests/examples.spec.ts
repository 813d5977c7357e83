/**
 * The shipped examples as a data scientist uses them: upload, open, Run All,
 * then check what the user must see (no error outputs, every DAG node done,
 * %mf_show rendered by the extension's own renderer).
 */
import * as path from 'path';
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import { node, SHOTS, test } from './lab';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

/** Upload examples/NAME, open it, show the DAG panel and run every cell. */
async function runExample(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string
): Promise<void> {
  await page.contents.uploadFile(path.join(EXAMPLES, name), `${tmpPath}/${name}`);
  await page.notebook.openByPath(`${tmpPath}/${name}`);
  await page.notebook.activate(name);
  await page.evaluate(() => {
    void (window as any).jupyterapp.commands.execute('jupyter-metaflow:show-dag');
  });
  await expect(page.locator('#jp-mf-dag-panel')).toBeVisible();
  await page.notebook.run();
  await page.waitForSelector('#jp-main-statusbar >> text=Idle');
}

/** The panel shows exactly STEPS, every one `done` and none stale. */
async function expectAllDone(page: IJupyterLabPageFixture, steps: string[]): Promise<void> {
  await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagNode')).toHaveCount(steps.length);
  for (const step of steps) {
    await expect(node(page, step)).toHaveAttribute('data-status', 'done');
    await expect(node(page, step)).not.toHaveAttribute('data-stale', 'true');
  }
}

/** No cell of the active notebook shows an error output. */
async function expectNoErrors(page: IJupyterLabPageFixture): Promise<void> {
  await expect(
    page.locator(
      '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
      { hasText: 'Traceback' }
    )
  ).toHaveCount(0);
  await expect(
    page.locator('.jp-Notebook .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')
  ).toHaveCount(0);
}

/** Append a cell with SOURCE, run it and return its custom-rendered output. */
async function showCell(page: IJupyterLabPageFixture, source: string) {
  await page.notebook.addCell('code', source);
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  return (await page.notebook.getCellOutputLocator(index))!.locator('.jp-mf-Show');
}

test.describe('examples', () => {
  test.use({ kernels: null });

  test('sklearn_hyperparams: Run All, every step done, %mf_show of the best model', async ({
    page,
    tmpPath
  }) => {
    // Run All trains models, then two exports: over 2 minutes with the CPU busy
    test.slow();
    await runExample(page, tmpPath, 'sklearn_hyperparams.ipynb');
    await expectNoErrors(page);
    // The frontend loaded the extension first: the notebook's own %load_ext cell stays quiet.
    expect(await page.notebook.getCellTextOutput(1)).toBeNull();
    await expectAllDone(page, ['start', 'train', 'choose', 'end']);
    const last = await page.notebook.getCellTextOutput((await page.notebook.getCellCount()) - 1);
    expect(last?.join('')).toMatch(/^True [\d.]+ LogisticRegression/);
    await page.screenshot({ path: `${SHOTS}/examples-sklearn.png` });

    const show = await showCell(page, '%mf_show choose.best_model');
    await expect(show).toHaveAttribute('data-jp-mf-kind', 'artifact');
    await expect(show.locator('.jp-mf-Show-title')).toHaveText('best_model');
    await expect(show.locator('.jp-mf-Show-facts')).toContainText('LogisticRegression');
    await expect(page.locator('.jp-mf-Show-fallback')).toHaveCount(0);
    await show.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/examples-sklearn-show.png` });

    // Export from the panel; after an edit, exporting again asks before overwriting, in UI terms.
    const exportButton = page.locator(
      '#jp-mf-dag-panel .jp-mf-DagPanel-toolbar [data-command="jupyter-metaflow:export"]'
    );
    await exportButton.click();
    // the written file (a state; the toast may already have closed under load)
    await expect
      .poll(() => page.contents.fileExists(`${tmpPath}/sklearn_hyperparams.py`), { timeout: 60000 })
      .toBe(true);
    await page.notebook.setCell(8, 'code', "%%step end\nprint('best C', self.best_c)");
    await exportButton.click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText(
      'sklearn_hyperparams.py already exists with other content. Overwrite it'
    );
    await expect(dialog).not.toContainText('--force');
    await page.screenshot({ path: `${SHOTS}/examples-sklearn-overwrite.png` });
    await dialog.locator('.jp-mod-accept').click();
    // The overwritten file (a state; the first toast may have closed by now under load).
    await expect
      .poll(async () => {
        const response = await page.request.get(
          `/api/contents/${tmpPath}/sklearn_hyperparams.py?type=file&format=text&content=1`
        );
        return response.ok() ? ((await response.json()).content as string) : '';
      })
      .toContain("print('best C', self.best_c)");
  });
});

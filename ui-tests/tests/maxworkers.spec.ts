/**
 * The setting Maximum workers, set in JupyterLab's Settings Editor as a user does: a
 * foreach's splits then run in that many worker processes (the cell says so and where the
 * limit comes from), and with 1 every split runs in the kernel itself.
 */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';

import { command, test } from './lab';
import { openNotebook } from './notebooks';

const NAME = 'sweep.ipynb';
const BODY = 4;
const CELLS = [
  '%load_ext jupyter_metaflow',
  'import os\nimport time',
  '%%flow SweepFlow',
  "%%step start\nself.items = list(range(6))\nself.next(self.body, foreach='items')",
  "%%step body\ntime.sleep(1.5)\nprint('pid', os.getpid())\nself.next(self.join)",
  '%%step join\nself.next(self.end)',
  '%%step end\npass',
  "print('kernel', os.getpid())"
];

/** Type `value` into the Settings Editor's Maximum workers field (saved as it changes). */
async function setMaxWorkers(page: IJupyterLabPageFixture, value: number): Promise<void> {
  await command(page, 'settingeditor:open', { query: 'live flow' });
  await page.getByRole('tab', { name: 'Settings' }).click();
  await page.locator('.jp-PluginList').getByText('jupyter-metaflow: live flow').click();
  const form = page.getByRole('group', { name: 'jupyter-metaflow: live flow' });
  await expect(form.getByRole('heading', { name: 'Maximum workers' })).toBeVisible();
  const field = form.getByRole('spinbutton'); // the form's one number field
  await field.fill(String(value));
  await field.press('Tab');
  // saved: JupyterLab's own settings now hold the value
  await expect
    .poll(
      () =>
        page.evaluate(async () => {
          const app = (window as any).jupyterapp;
          const settings = await app.serviceManager.settings.fetch('jupyter-metaflow:flow');
          return JSON.parse(settings.raw || '{}').maxWorkers;
        }),
      { timeout: 30000 }
    )
    .toBe(value);
  await page.notebook.activate(NAME);
}

/** The body cell's output text after running it again. */
async function runBody(page: IJupyterLabPageFixture): Promise<string> {
  await page.notebook.runCell(BODY);
  return ((await page.notebook.getCellTextOutput(BODY)) ?? []).join('');
}

function pids(output: string): number[] {
  return [...output.matchAll(/^pid (\d+)$/gm)].map(m => Number(m[1]));
}

test.describe('the setting Maximum workers', () => {
  test.use({ kernels: null });

  test('limits the worker processes of a foreach, and 1 keeps the splits in the kernel', async ({
    page,
    tmpPath
  }) => {
    await openNotebook(page, tmpPath, NAME, CELLS);
    await setMaxWorkers(page, 3);
    for (let i = 0; i < CELLS.length; i++) {
      await page.notebook.runCell(i);
    }
    const kernel = Number(
      /kernel (\d+)/.exec(((await page.notebook.getCellTextOutput(7)) ?? []).join(''))![1]
    );
    // The first execution times a split in the kernel and starts a worker to measure it;
    // executing the cell again (as a user iterating does) sends the splits to workers.
    let output = '';
    for (let attempt = 0; attempt < 6 && !output.includes('worker processes'); attempt++) {
      output = await runBody(page);
    }
    expect(output).toContain(
      "[6 splits of 'body' in 3 worker processes; at most 3: the JupyterLab setting Maximum workers]"
    );
    expect(pids(output)).toHaveLength(6);
    expect(pids(output)).not.toContain(kernel);

    await setMaxWorkers(page, 1);
    output = await runBody(page);
    expect(output).not.toContain('worker process');
    expect(pids(output)).toEqual([kernel, kernel, kernel, kernel, kernel, kernel]);
  });
});

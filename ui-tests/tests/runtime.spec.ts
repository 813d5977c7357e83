/**
 * Part two in real JupyterLab: a @card step's card rendered inside its sandboxed iframe after
 * the step, a switch's "not on this run's path" note, and %mf_run's progress line.
 */
import { expect } from '@jupyterlab/galata';

import { openNotebook } from './notebooks';
import { test } from './lab';

const SHOTS = 'test-results/screenshots';

const CELLS = [
  '%load_ext jupyter_metaflow',
  '%%flow CardUiFlow',
  [
    '%%step start',
    '@card',
    'from metaflow.cards import Markdown',
    "current.card.append(Markdown('# Hello from the card'))",
    "self.mode = 'b'",
    "self.next({'a': self.a, 'b': self.b}, condition='mode')"
  ].join('\n'),
  "%%step a\nself.side = 'a'\nself.next(self.end)",
  "%%step b\nself.side = 'b'\nself.next(self.end)",
  "%%step end\nprint('side', self.side)",
  '%mf_run'
];

test.describe('runtime, switch and cards', () => {
  test.use({ kernels: null });

  test('card iframe, switch note and %mf_run progress', async ({ page, tmpPath }) => {
    await openNotebook(page, tmpPath, 'cards.ipynb', CELLS);
    for (let i = 0; i < CELLS.length; i++) {
      await page.notebook.runCell(i);
    }

    const start = (await page.notebook.getCellOutputLocator(2))!;
    const frame = start.locator('iframe.jp-mf-Card');
    await expect(frame).toHaveCount(1, { timeout: 60000 });
    await expect(frame).toHaveAttribute('sandbox', 'allow-scripts');
    // Metaflow's card app (JavaScript) renders inside the sandbox.
    const card = page.frameLocator('iframe.jp-mf-Card');
    await expect(card.getByRole('heading', { name: 'Hello from the card' })).toBeVisible({
      timeout: 60000
    });

    expect(await page.notebook.getCellTextOutput(3)).toEqual([
      "Step 'a' is not on this run's path: the switch in 'start' chose 'b' (mode == 'b'); nothing to run.\n"
    ]);

    const run = (await page.notebook.getCellOutputLocator(6))!;
    await expect(run.locator('.jp-mf-RunProgress')).toContainText('end ✓', { timeout: 120000 });
    await expect(run).toContainText('Running `python cards.nbflow.py run` with');
    await expect(run).toContainText("is now the notebook's current run");
    await frame.scrollIntoViewIfNeeded();
    await start.screenshot({ path: `${SHOTS}/runtime-card.png` });
    await run.locator('.jp-mf-RunProgress').scrollIntoViewIfNeeded();
    await run.screenshot({ path: `${SHOTS}/runtime-mf-run.png` });
  });
});

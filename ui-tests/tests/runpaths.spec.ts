/**
 * Run paths as a user takes them: Run All Steps from the DAG panel on a fresh
 * notebook, the first Shift+Enter right after a kernel is chosen, a renamed
 * notebook. Each state the user sees is saved as a light and a dark screenshot.
 */
import * as path from 'path';
import { expect, galata } from '@jupyterlab/galata';

import { openNotebook } from './notebooks';
import { command, node, shots, test } from './lab';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples');

test.describe('run paths', () => {
  test.use({ kernels: null });

  test('Run All Steps from the panel runs the module and flow cells first', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(400000);
    const name = 'sklearn_hyperparams.ipynb';
    await page.contents.uploadFile(path.join(EXAMPLES, name), `${tmpPath}/${name}`);
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await page.notebook.activate(name);
    await command(page, 'jupyter-metaflow:show-dag');
    await expect(page.locator('#jp-mf-dag-panel')).toBeVisible();
    // no cell has run (an uploaded notebook is not trusted: the kernel side is not loaded yet):
    // the panel's Run All is the user's first action
    await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
      'data-jp-mf-status',
      'not-loaded',
      { timeout: 90000 }
    );
    await command(page, 'jupyter-metaflow:run-all');
    for (const step of ['start', 'train', 'choose', 'end']) {
      await expect(node(page, step)).toHaveAttribute('data-status', 'done', { timeout: 240000 });
    }
    await expect(
      page.locator('.jp-Notebook .jp-OutputArea-output', { hasText: 'NameError' })
    ).toHaveCount(0);
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

test.describe('the first execution', () => {
  // The kernel side is loaded by the notebook's own %load_ext cell, in the same batch as the
  // steps: their execute requests are queued before the comm is up.
  test.use({
    kernels: null,
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'jupyter-metaflow:flow': { autoLoad: false } }
  });

  test('runs the steps of an unsaved notebook, the cells reach the kernel first', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'first.ipynb', ['%load_ext jupyter_metaflow']);
    // typed, never saved: the file on disk has no step cells
    await page.notebook.addCell('code', '%%step start\nself.x = 41');
    await page.notebook.addCell('code', '%%step end\nprint(self.x + 1)');
    await page.notebook.run();
    await page.waitForSelector('#jp-main-statusbar >> text=Idle');
    await command(page, 'jupyter-metaflow:show-dag');
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done');
    expect((await page.notebook.getCellTextOutput(2))?.join('')).toContain('42');
    await expect(page.locator('.jp-Notebook', { hasText: 'cannot see the notebook' })).toHaveCount(
      0
    );
    await shots(page, page, 'first-execution-unsaved');
  });
});

test.describe('no user name', () => {
  // root in a container: no $USER. The variables go before Metaflow is imported (no auto-load).
  test.use({
    kernels: null,
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'jupyter-metaflow:flow': { autoLoad: false } }
  });

  test('the step fails in one line and its node turns failed', async ({ page, tmpPath }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'nouser.ipynb', [
      "import os\nfor name in ('METAFLOW_USER', 'USER', 'USERNAME', 'SUDO_USER', 'LOGNAME'):\n    os.environ.pop(name, None)",
      '%load_ext jupyter_metaflow',
      '%%step start\nself.x = 1',
      '%%step end\nprint(self.x)'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);
    await page.notebook.runCell(2);
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'failed', { timeout: 60000 });
    const start = page.locator('.jp-Notebook .jp-Cell').nth(2);
    const output = start.locator('.jp-OutputArea-output');
    await expect(output).toHaveCount(1);
    await expect(output).toHaveText(
      /^Step 'start' could not run: Unknown user: Metaflow could not determine your user name[^\n]*$/
    );
    await expect(output).not.toContainText('Traceback');
    await expect(start.locator('.jp-mf-StepBadge')).toHaveAttribute('data-status', 'failed');
    await shots(page, page, 'no-user-step-failed');
  });
});

test.describe('a failed step', () => {
  test.use({ kernels: null });

  test('shows its error once; a step after it names a run-order problem', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'failing.ipynb', [
      '%%step start\nself.x = 1',
      '%%step middle\nself.y = self.x / 0',
      '%%step end\nprint(self.y)'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);
    await expect(node(page, 'middle')).toHaveAttribute('data-status', 'failed', { timeout: 60000 });
    const middle = page.locator('.jp-Notebook .jp-Cell').nth(1);
    await expect(
      middle.locator('.jp-OutputArea-output', { hasText: 'ZeroDivisionError' })
    ).toHaveCount(1);
    await expect(
      middle.locator('.jp-OutputArea-output', { hasText: 'step middle> failed:' })
    ).toHaveCount(0);
    // the traceback in the output says it: no second copy above it
    await expect(middle.locator('.jp-mf-CellErrors')).toHaveCount(0);
    await page.notebook.runCell(2);
    const end = page.locator('.jp-Notebook .jp-Cell').nth(2);
    await expect(end.locator('.jp-OutputArea-output')).toContainText(
      "RunOrderError: Step 'end' needs 'middle', which failed in the current run"
    );
    await expect(end.locator('.jp-OutputArea-output')).not.toContainText('FlowDefinitionError');
    await shots(page, page.locator('.jp-NotebookPanel'), 'failed-step-error-once');
    // without the output (cleared), the cell still says why its step failed
    await page.notebook.selectCells(1);
    await command(page, 'notebook:clear-cell-output');
    await expect(middle.locator('.jp-mf-CellErrors')).toContainText('Step middle failed');
  });
});

test.describe("a step's inputs", () => {
  test.use({ kernels: null });

  test("from the node's context menu: self reads what the step receives", async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'inputs.ipynb', [
      "%%step start\nself.rows = [[1, 2], [3, 4]]\nself.c_values = [0.1, 1.0, 10.0]\nself.next(self.train, foreach='c_values')",
      '%%step train\nself.c = self.input\nself.score = self.c * len(self.rows)',
      '%%step choose\nself.best = max(i.score for i in inputs)',
      '%%step end\nprint(self.best)'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    await page.notebook.runCell(0);
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await node(page, 'train').click({ button: 'right' });
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Step Inputs in Notebook' }).click();
    const inserted = page.locator('.jp-Notebook .jp-Cell').nth(2);
    await expect(inserted.locator('.jp-InputArea-editor')).toContainText('%mf_inputs train');
    await expect(inserted.locator('.jp-OutputArea-output')).toContainText(
      "self now read what step 'train' receives: split [0] of 3: self.input = 0.1, self.index = 0"
    );
    await page.notebook.addCell(
      'code',
      'self.c = self.input\nprint(self.c * len(self.rows), self.index)'
    );
    const last = (await page.notebook.getCellCount()) - 1;
    await page.notebook.runCell(last);
    expect((await page.notebook.getCellTextOutput(last))?.join('')).toContain('0.2 0');
    await shots(page, page.locator('.jp-NotebookPanel'), 'step-inputs');
  });
});

test.describe('a renamed notebook', () => {
  test.use({ kernels: null });

  test('its badges tell the truth: another name is another flow', async ({ page, tmpPath }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'analysis.ipynb', [
      '%%step start\nself.x = 1',
      '%%step end\nprint(self.x)'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);
    const badge = (i: number) =>
      page.locator('.jp-Notebook .jp-Cell').nth(i).locator('.jp-mf-StepBadge');
    await expect(badge(1)).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await page.evaluate(
      async ([from, to]) => {
        await (window as any).jupyterapp.serviceManager.contents.rename(from, to);
      },
      [`${tmpPath}/analysis.ipynb`, `${tmpPath}/analysis-v2.ipynb`] as const
    );
    await expect(page.locator('#jp-mf-dag-panel')).toContainText('AnalysisV2Flow');
    await expect(badge(0)).toHaveAttribute('data-status', 'none');
    await expect(badge(1)).toHaveAttribute('data-status', 'none');
    await expect(node(page, 'end')).not.toHaveAttribute('data-status', 'done');
    await page.notebook.runCell(1);
    const end = page.locator('.jp-Notebook .jp-Cell').nth(1).locator('.jp-OutputArea-output');
    await expect(end).toContainText("Step 'end' needs a run of the flow first");
    await expect(end).toContainText('The flow is named after the notebook (AnalysisV2Flow)');
    await shots(page, page, 'renamed-notebook');
  });
});

test.describe('switch steps', () => {
  test.use({ kernels: null });

  test('inside a foreach: per-case counts on the node', async ({ page, tmpPath }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'parity.ipynb', [
      "%%step start\nself.items = [1, 2, 3, 4, 5]\nself.next(self.classify, foreach='items')",
      "%%step classify\nself.kind = 'odd' if self.input % 2 else 'even'\nself.next({'odd': self.odd, 'even': self.even}, condition='kind')",
      '%%step odd\nself.next(self.gather)',
      '%%step even\nself.next(self.gather)',
      '%%step gather\nself.n = len(inputs)\nself.next(self.end)',
      '%%step end'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);
    await expect(node(page, 'classify')).toHaveAttribute('data-status', 'done', { timeout: 90000 });
    await expect(node(page, 'classify')).toContainText('3 → odd');
    await expect(node(page, 'classify')).toContainText('2 → even');
    await shots(page, page.locator('#jp-mf-dag-panel'), 'switch-in-foreach-counts');
  });

  test('a case not taken stays skipped after a kernel restart', async ({ page, tmpPath }) => {
    test.setTimeout(300000);
    await openNotebook(page, tmpPath, 'pick.ipynb', [
      "%%step start\nself.c = 'a'\nself.next({'a': self.left, 'b': self.right}, condition='c')",
      '%%step left\nself.next(self.end)',
      '%%step right\nself.next(self.end)',
      '%%step end'
    ]);
    await command(page, 'jupyter-metaflow:show-dag');
    for (const i of [0, 1, 2, 3]) {
      await page.notebook.runCell(i);
    }
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 90000 });
    await expect(node(page, 'right')).toHaveAttribute('data-status', 'skipped');
    await page.evaluate(async () => {
      await (window as any).jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart();
    });
    await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
      'data-jp-mf-status',
      'connected',
      { timeout: 90000 }
    );
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await expect(node(page, 'right')).toHaveAttribute('data-status', 'skipped');
    await shots(page, page.locator('#jp-mf-dag-panel'), 'switch-skipped-after-restart');
  });
});

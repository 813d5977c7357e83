/**
 * The live flow in real JupyterLab: DAG panel, step statuses from real runs in
 * the kernel, stale marking, commands, export, and untrusted text staying text.
 */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';

import { expectNotification, type ICellSpec } from './notebooks';
import { command, connected, node, openFlow, SHOTS, test } from './lab';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

/** Execution counts of the active notebook's cells. */
async function executionCounts(page: IJupyterLabPageFixture): Promise<Array<number | null>> {
  return page.evaluate(() => {
    const cells = (window as any).jupyterapp.shell.currentWidget.content.model.cells;
    const out: Array<number | null> = [];
    for (let i = 0; i < cells.length; i++) {
      out.push(cells.get(i).executionCount ?? null);
    }
    return out;
  });
}

test.describe('DAG panel', () => {
  test.use({ kernels: null });

  test('typing a new step cell adds a node', async ({ page, tmpPath }) => {
    await openFlow(page, tmpPath, 'typing.ipynb', [
      { source: '%%step start' },
      { source: '%%step end' }
    ]);
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagNode')).toHaveCount(2);
    await page.notebook.setCell(1, 'code', '%%step train');
    await page.notebook.addCell('code', '%%step end');
    await expect(node(page, 'train')).toBeVisible();
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagNode')).toHaveCount(3);
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagEdge')).toHaveCount(2);
    // the badge names the step on its cell
    await expect(page.locator('.jp-Cell').nth(1).locator('.jp-mf-StepBadge-name')).toHaveText(
      'train'
    );
    // a step:NAME tag makes a plain code cell a step too
    await page.notebook.addCell('code', 'x = 1');
    await page.evaluate(() => {
      const cells = (window as any).jupyterapp.shell.currentWidget.content.model.cells;
      cells.get(cells.length - 1).setMetadata('tags', ['step:tagged']);
    });
    await expect(node(page, 'tagged')).toBeVisible();
  });

  test('a step: tag set right before Shift+Enter runs the cell as that step', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'tagrace.ipynb', [
      { source: "self.greeting = 'hi'" },
      { source: '%%step end\nprint(self.greeting)' }
    ]);
    await connected(page);
    // Tag the first cell and run it in the same tick: the flow must reach the kernel first.
    await page.evaluate(() => {
      const app = (window as any).jupyterapp;
      const notebook = app.shell.currentWidget.content;
      notebook.model.cells.get(0).setMetadata('tags', ['step:start']);
      notebook.activeCellIndex = 0;
      void app.commands.execute('notebook:run-cell');
    });
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
  });

  test('running a step turns its node running, then done, with a duration', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'running.ipynb', [
      { source: '%%step start\nimport time\ntime.sleep(3)\nself.x = 1' },
      { source: '%%step end\nprint(self.x)' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await page.keyboard.press('Control+Alt+Enter'); // Run Step's shortcut
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'running', { timeout: 60000 });
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await expect(node(page, 'start').locator('.jp-mf-DagNode-detail')).toContainText(/done · \d/);
    await expect(page.locator('.jp-Cell').nth(0).locator('.jp-mf-StepBadge')).toHaveAttribute(
      'data-status',
      'done'
    );
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'none');
  });

  test("Run All Steps' shortcut leaves JupyterLab's Ctrl+Alt+A (running sessions) alone", async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'keys.ipynb', [
      { source: '%%step start\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await page.keyboard.press('Control+Alt+A');
    const sessions = page.locator('.jp-SearchableSessions-modal');
    await expect(sessions).toBeVisible();
    await sessions.locator('input').first().press('Escape');
    await expect(sessions).toHaveCount(0);
    expect(await executionCounts(page)).toEqual([null, null]);
    await page.notebook.selectCells(0);
    await page.keyboard.press('Control+Alt+Shift+A');
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
  });

  test('interrupting a long step fails its node and badge; the cell shows the step, not the executor', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'interrupt.ipynb', [
      { source: '%%step start\nimport time\ntime.sleep(120)\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'running', { timeout: 60000 });
    await command(page, 'notebook:interrupt-kernel');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'failed', { timeout: 30000 });
    const cell = page.locator('.jp-Cell').nth(0);
    await expect(cell.locator('.jp-mf-StepBadge')).toHaveAttribute('data-status', 'failed');
    const output = cell.locator('.jp-OutputArea');
    // The error shows once: in the output, so no banner repeats it.
    await expect(output).toContainText('KeyboardInterrupt');
    await expect(cell.locator('.jp-mf-CellErrors')).toHaveCount(0);
    await expect(output).toContainText(
      "Step 'start' in cell 1 (%%step start) was interrupted in run"
    );
    await expect(output).toContainText('Cell 1 (%%step start), line 3, in start');
    await expect(output).not.toContainText('session.py');
  });

  test('a failing step is red on the node and shows its error on the cell; payloads stay text', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'failing.ipynb', [
      { source: `%%step start\nraise ValueError('boom ${PAYLOAD}')` },
      { source: '%%step end' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'failed', { timeout: 60000 });
    await expect(node(page, 'start')).toHaveAttribute('data-error', 'true');
    // The error shows once, as text: in the output (the banner only repeats an error the output lacks).
    const failedOutput = page.locator('.jp-Cell').nth(0).locator('.jp-OutputArea');
    await expect(failedOutput).toContainText('boom');
    await expect(failedOutput).toContainText(PAYLOAD);
    await expect(page.locator('.jp-Cell').nth(0).locator('.jp-mf-CellErrors')).toHaveCount(0);
    await expect(node(page, 'start').locator('.jp-mf-DagNode-error title')).toContainText(PAYLOAD);

    // The payload as a step name (magic line and tag): an error, shown as text on the cells and in the panel.
    await page.evaluate(payload => {
      const model = (window as any).jupyterapp.shell.currentWidget.content.model;
      model.sharedModel.insertCell(1, { cell_type: 'code', source: `%%step ${payload}` });
      model.sharedModel.insertCell(2, {
        cell_type: 'code',
        source: 'self.y = 1',
        metadata: { tags: [`step:${payload}`] }
      });
    }, PAYLOAD);
    await expect(page.locator('.jp-Cell').nth(1).locator('.jp-mf-CellErrors')).toContainText(
      PAYLOAD
    );
    await expect(page.locator('.jp-Cell').nth(2).locator('.jp-mf-CellErrors')).toContainText(
      PAYLOAD
    );
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagPanel-errors')).toContainText(PAYLOAD);
    await expect(
      page.locator('.jp-mf-CellErrors img, .jp-mf-DagPanel img, .jp-mf-StepBadge img')
    ).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    await page.screenshot({ path: `${SHOTS}/dag-failed.png` });
  });

  test('editing a step marks it and its descendants stale', async ({ page, tmpPath }) => {
    await openFlow(page, tmpPath, 'stale.ipynb', [
      { source: '%%step start\nself.a = 1' },
      { source: '%%step middle\nself.b = self.a + 1' },
      { source: '%%step end\nprint(self.b)' }
    ]);
    await connected(page);
    // the toolbar button (in the toolbar's overflow menu when the notebook is narrow)
    // (the DAG panel's toolbar has one too: take the notebook's)
    let runAll = page.locator(
      '.jp-NotebookPanel-toolbar [data-command="jupyter-metaflow:run-all"]'
    );
    if (!(await runAll.isVisible())) {
      await page
        .locator('.jp-NotebookPanel-toolbar [data-jp-item-name="toolbar-popup-opener"]')
        .click();
      runAll = page.locator(
        '.jp-Toolbar-responsive-popup [data-command="jupyter-metaflow:run-all"]'
      );
    }
    await expect(runAll).toHaveAttribute('aria-disabled', 'false');
    await runAll.click();
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 90000 });
    for (const step of ['start', 'middle', 'end']) {
      await expect(node(page, step)).not.toHaveAttribute('data-stale', 'true');
    }
    await page.notebook.setCell(1, 'code', '%%step middle\nself.b = self.a + 2');
    await expect(node(page, 'middle')).toHaveAttribute('data-stale', 'true');
    await expect(node(page, 'end')).toHaveAttribute('data-stale', 'true');
    await expect(node(page, 'start')).not.toHaveAttribute('data-stale', 'true');
    await expect(page.locator('.jp-Cell').nth(1).locator('.jp-mf-StepBadge')).toHaveAttribute(
      'data-stale',
      ''
    );
    await expect(page.locator('.jp-Cell').nth(1).locator('.jp-mf-StepBadge-status')).toHaveText(
      'stale'
    );
  });

  test('badges sit above their cell input and errors under it, also for cells rendered late and moved cells', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'placed.ipynb', [
      { source: '%%step start\nprint("started")' },
      { source: '%%step middle\nraise ValueError("middle broke")' },
      { source: '%%step end' }
    ]);
    const cells = page.locator('.jp-Notebook .jp-Cell');
    // Each decoration is the cell child right before / right after the input (not below the outputs).
    const placed = async (index: number, step: string, errors: boolean) => {
      await expect(
        cells.nth(index).locator(':scope > .jp-mf-StepBadge + .jp-Cell-inputWrapper')
      ).toHaveCount(1);
      await expect(cells.nth(index).locator(':scope > .jp-mf-StepBadge')).toHaveAttribute(
        'data-step',
        step
      );
      await expect(
        cells.nth(index).locator(':scope > .jp-Cell-inputWrapper + .jp-mf-CellErrors')
      ).toHaveCount(errors ? 1 : 0);
    };
    for (const [i, step] of ['start', 'middle', 'end'].entries()) {
      await placed(i, step, false);
    }
    await connected(page);
    await command(page, 'jupyter-metaflow:run-all');
    await expect(node(page, 'middle')).toHaveAttribute('data-status', 'failed', { timeout: 90000 });
    await placed(0, 'start', false);
    await placed(1, 'middle', false); // the output shows the error: no banner repeats it
    await page.notebook.selectCells(1);
    await command(page, 'notebook:clear-cell-output'); // now the banner carries it
    await placed(1, 'middle', true);
    await page.keyboard.press('Control+Shift+ArrowUp'); // move the failed step's cell up
    await expect(cells.nth(0).locator('.jp-mf-StepBadge')).toHaveAttribute('data-step', 'middle');
    await placed(0, 'middle', true);
    await placed(1, 'start', false);
  });

  test('a very long step name is cut on its badge, which keeps its status in view, and in menus', async ({
    page,
    tmpPath
  }) => {
    const long = `step_${'x'.repeat(150)}`;
    await openFlow(page, tmpPath, 'longname.ipynb', [
      { source: `%%step start\nself.next(self.${long})` },
      { source: `%%step ${long}` },
      { source: '%%step end' }
    ]);
    const cell = page.locator('.jp-Notebook .jp-Cell').nth(1);
    const badge = cell.locator('.jp-mf-StepBadge');
    await expect(badge.locator('.jp-mf-StepBadge-status')).toHaveText('not run');
    const cellBox = (await cell.boundingBox())!;
    const statusBox = (await badge.locator('.jp-mf-StepBadge-status').boundingBox())!;
    expect(statusBox.width).toBeGreaterThan(0);
    expect(statusBox.x + statusBox.width).toBeLessThanOrEqual(cellBox.x + cellBox.width);
    expect((await badge.boundingBox())!.x + (await badge.boundingBox())!.width).toBeLessThanOrEqual(
      cellBox.x + cellBox.width
    );
    await expect(badge).toHaveAttribute('title', `Step ${long}: not run yet`);
    // the node's context menu stays on screen
    await node(page, long).click({ button: 'right' });
    const menu = page.locator('.lm-Menu').first();
    await expect(menu.getByText(`Run Step ${long.slice(0, 39)}…`)).toBeVisible();
    const menuBox = (await menu.boundingBox())!;
    expect(menuBox.x + menuBox.width).toBeLessThanOrEqual(page.viewportSize()!.width);
  });

  test('clicking a node selects and scrolls to its cell', async ({ page, tmpPath }) => {
    const filler: ICellSpec[] = Array.from({ length: 40 }, (_, i) => ({
      type: 'markdown' as const,
      source: `Filler paragraph ${i}\n\nwith two lines`
    }));
    await openFlow(page, tmpPath, 'scroll.ipynb', [
      { source: '%%step start' },
      ...filler,
      { source: '%%step end' }
    ]);
    const last = page.locator('.jp-Notebook .jp-Cell').nth(41);
    await node(page, 'end').click();
    await expect(last).toBeInViewport();
    const active = await page.evaluate(
      () => (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex
    );
    expect(active).toBe(41);
    await expect(node(page, 'end')).toHaveClass(/jp-mod-selected/);
    // from the keyboard: a focused node selects its cell on Enter
    await node(page, 'start').focus();
    await page.keyboard.press('Enter');
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(0)).toBeInViewport();
    await expect(node(page, 'start')).toHaveClass(/jp-mod-selected/);
    expect(
      await page.evaluate(
        () => (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex
      )
    ).toBe(0);
  });

  test('Run to here runs the upstream steps that are not up to date, in order', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'tohere.ipynb', [
      { source: '%%step start\nself.n = 1\nself.next(self.a, self.b)' },
      { source: '%%step a\nself.v = 1\nself.next(self.join)' },
      { source: '%%step b\nself.v = 2\nself.next(self.join)' },
      { source: '%%step join\nself.t = sum(i.v for i in inputs)\nself.next(self.end)' },
      { source: '%%step end\nprint(self.t)' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    const before = await executionCounts(page);
    await command(page, 'jupyter-metaflow:run-to-here', { step: 'join' });
    await expect(node(page, 'join')).toHaveAttribute('data-status', 'done', { timeout: 90000 });
    const after = await executionCounts(page);
    expect(after[0]).toBe(before[0]); // start was up to date: not run again
    expect(after[1]).not.toBeNull();
    expect(after[2]).toBeGreaterThan(after[1]!); // a, then b
    expect(after[3]).toBeGreaterThan(after[2]!); // then join
    expect(after[4]).toBeNull(); // end is downstream: not run
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'none');
  });

  test('the node context menu runs a step and shows its artifacts', async ({ page, tmpPath }) => {
    await openFlow(page, tmpPath, 'menu.ipynb', [
      { source: '%%step start\nself.greeting = "hello"\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await node(page, 'start').click({ button: 'right' });
    const menu = page.locator('.lm-Menu');
    await expect(menu.getByText('Run Step start')).toBeVisible();
    await expect(menu.getByText('Run to Here')).toBeVisible();
    await expect(menu.locator('.lm-Menu-item', { hasText: 'Run Step start' })).not.toHaveClass(
      /lm-mod-disabled/
    );
    // The panel redraws while the menu is open (another cell changes, as a collaborator
    // or a restored notebook would do); the menu must still run the node it opened on.
    await page.evaluate(() => {
      const cells = (window as any).jupyterapp.shell.currentWidget.content.model.sharedModel;
      cells.transact(() => {
        cells.insertCell(1, { cell_type: 'code', source: '%%step extra\nself.next(self.end)' });
        cells.getCell(0).setSource('%%step start\nself.greeting = "hello"\nself.next(self.extra)');
      });
    });
    await expect(node(page, 'extra')).toBeVisible();
    await expect(menu.getByText('Run Step start')).toBeVisible();
    await menu.getByText('Run Step start').click();
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await node(page, 'start').click({ button: 'right' });
    await page.locator('.lm-Menu').getByText('Show Artifacts').click();
    const shown = page.locator('.jp-Notebook .jp-Cell').nth(1);
    await expect(shown.locator('.jp-InputArea-editor')).toContainText('%mf_show start');
    await expect(shown.locator('.jp-OutputArea')).toContainText('greeting', { timeout: 60000 });
  });

  test('the export command writes the flow file', async ({ page, tmpPath }) => {
    await openFlow(page, tmpPath, 'train.ipynb', [
      { source: '%%step start\nself.x = 1\nself.next(self.end)' },
      { source: '%%step end\nprint(self.x)' }
    ]);
    await connected(page);
    await command(page, 'jupyter-metaflow:export');
    // states, not toasts (a toast may close before a loaded machine looks): the file, the center
    await expect
      .poll(() => page.contents.fileExists(`${tmpPath}/train.py`), { timeout: 60000 })
      .toBe(true);
    await expectNotification(page, 'train.py');
    // the same flow again: nothing to write, and the notification says so
    await command(page, 'jupyter-metaflow:export');
    await expectNotification(page, 'train.py is already up to date');
  });

  test('exporting from a notebook whose kernel was shut down says so', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'nokernel.ipynb', [
      { source: '%%step start\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await page.evaluate(async () => {
      await (window as any).jupyterapp.shell.currentWidget.sessionContext.shutdown();
    });
    await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
      'data-jp-mf-status',
      'no-kernel'
    );
    await command(page, 'jupyter-metaflow:export');
    await expectNotification(page, 'This notebook has no kernel');
  });

  test('renaming the notebook renames its flow, for the panel and for the kernel', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'alpha.ipynb', [
      { source: '%%step start\nprint("FLOW", current.flow_name)\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    const title = page.locator('#jp-mf-dag-panel .jp-mf-DagPanel-title');
    await expect(title).toHaveText('AlphaFlow');
    await page.evaluate(async () => {
      await (window as any).jupyterapp.shell.currentWidget.context.rename('beta.ipynb');
    });
    await expect(title).toHaveText('BetaFlow');
    await page.notebook.selectCells(0);
    await page.keyboard.press('Shift+Enter');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await expect(page.locator('.jp-Cell').nth(0).locator('.jp-OutputArea')).toContainText(
      'FLOW BetaFlow'
    );
  });

  test('a notebook without step cells offers no export', async ({ page, tmpPath }) => {
    const enabled = () =>
      page.evaluate(
        () => (window as any).jupyterapp.commands.isEnabled('jupyter-metaflow:export') as boolean
      );
    await openFlow(page, tmpPath, 'plain.ipynb', [{ source: 'x = 1' }]);
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagPanel-empty')).toContainText(
      'No steps yet'
    );
    expect(await enabled()).toBe(false);
    await page.notebook.setCell(0, 'code', '%%step start');
    await page.notebook.addCell('code', '%%step end');
    await expect(node(page, 'end')).toBeVisible();
    expect(await enabled()).toBe(true);
  });

  test('the panel follows the active notebook; a kernel restart clears statuses, reloads and restores the run', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'first.ipynb', [
      { source: '%%step start\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
    await openFlow(page, tmpPath, 'second.ipynb', [
      { source: '%%step start\nself.next(self.other)' },
      { source: '%%step other' },
      { source: '%%step end' }
    ]);
    const title = page.locator('#jp-mf-dag-panel .jp-mf-DagPanel-title');
    await expect(title).toHaveText('SecondFlow');
    await expect(node(page, 'other')).toBeVisible();
    await page.notebook.activate('first.ipynb');
    await expect(title).toHaveText('FirstFlow');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done');

    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('notebook:restart-kernel');
    });
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'none', { timeout: 60000 });
    await connected(page); // loaded again by itself
    // the restarted kernel reports the run its next step re-attaches to
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 30000 });
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 60000 });
  });

  test('screenshots of the panel in light and dark themes', async ({ page, tmpPath }) => {
    await openFlow(page, tmpPath, 'shots.ipynb', [
      { source: '%%step start\nself.items = [1, 2, 3]\nself.next(self.work, foreach="items")' },
      { source: '%%step work\nself.y = self.input * 2' },
      { source: '%%step gather\nself.ys = [i.y for i in inputs]\nself.next(self.pick)' },
      {
        source:
          "%%step pick\nself.c = 'a'\nself.next({'a': self.left, 'b': self.right}, condition='c')"
      },
      { source: '%%step left\nself.next(self.end)' },
      { source: '%%step right\nself.next(self.end)' },
      { source: '%%step end' }
    ]);
    await connected(page);
    await command(page, 'jupyter-metaflow:run-to-here', { step: 'left' });
    await expect(node(page, 'left')).toHaveAttribute('data-status', 'done', { timeout: 120000 });
    await expect(node(page, 'work').locator('.jp-mf-DagNode-detail')).toContainText('3/3');
    await expect(node(page, 'pick').locator('.jp-mf-DagNode-detail')).toContainText('→ a');
    // an edit that breaks the flow: error marker on the node, stale downstream of an edited step
    await page.evaluate(() => {
      const model = (window as any).jupyterapp.shell.currentWidget.content.model;
      model.cells.get(5).sharedModel.setSource('%%step right\nself.next(self.nowhere)');
      model.cells.get(1).sharedModel.setSource('%%step work\nself.y = self.input * 3');
    });
    await expect(node(page, 'right')).toHaveAttribute('data-error', 'true');
    await expect(node(page, 'gather')).toHaveAttribute('data-stale', 'true');
    const panel = page.locator('#jp-mf-dag-panel');
    await panel.screenshot({ path: `${SHOTS}/dag-panel-light.png` });
    await page.theme.setDarkTheme();
    await panel.screenshot({ path: `${SHOTS}/dag-panel-dark.png` });
    await page.theme.setLightTheme();
  });
});

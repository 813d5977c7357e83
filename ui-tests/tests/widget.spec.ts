/**
 * The inline DAG ipywidget (%mf_dag) in real JupyterLab and Notebook 7: it draws
 * the notebook's flow and follows real step runs in the kernel (tagged cells,
 * no %%step line) while they run.
 */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';

import { notebookJson } from './notebooks';
import { test } from './lab';

const SHOTS = 'test-results/screenshots';

const PAYLOAD = '<img src=x onerror="window.__pwned=1">';

/** A notebook whose steps are tagged cells; the foreach body sleeps so "running" is visible. */
function liveNotebook(): string {
  return notebookJson([
    { source: '%load_ext jupyter_metaflow' },
    { source: '%mf_dag' },
    {
      source: "self.items = [1, 2, 3]\nself.next(self.work, foreach='items')",
      tags: ['step:start']
    },
    { source: 'import time\ntime.sleep(1.5)\nself.w = self.input * 10', tags: ['step:work'] },
    { source: 'self.total = sum(i.w for i in inputs)', tags: ['step:join'] },
    { source: "print('total', self.total)", tags: ['step:end'] }
  ]);
}

function dagNode(scope: Page | Locator, step: string): Locator {
  return scope.locator(`.jp-mf-DagWidget .jp-mf-DagNode[data-step="${step}"]`);
}

test.describe('inline DAG widget', () => {
  test.use({ kernels: null });

  test('%mf_dag draws the flow and follows the steps while they run', async ({ page, tmpPath }) => {
    await page.contents.uploadContent(liveNotebook(), 'text', `${tmpPath}/live.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/live.ipynb`);
    await page.notebook.activate('live.ipynb');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);

    const widget = page.locator('.jp-mf-DagWidget');
    await expect(widget).toHaveCount(1, { timeout: 30000 });
    await expect(widget.locator('.jp-mf-DagNode')).toHaveCount(4);
    await expect(widget.locator('.jp-mf-DagWidget-header')).toHaveText('LiveFlow: 4 steps');
    for (const step of ['start', 'work', 'join', 'end']) {
      await expect(dagNode(page, step)).toHaveAttribute('data-status', 'none');
    }

    await page.notebook.runCell(2);
    await expect(dagNode(page, 'start')).toHaveAttribute('data-status', 'done');

    // The foreach body: three splits of 1.5 s each; the widget shows them while the cell runs.
    await page.notebook.runCell(3, { wait: false });
    const work = dagNode(page, 'work');
    await expect(work).toHaveAttribute('data-status', 'running', { timeout: 30000 });
    await expect(work.locator('.jp-mf-DagNode-detail')).toHaveText(/^running · [0-2]\/3$/);
    await page.screenshot({ path: `${SHOTS}/widget-running.png` });
    await expect(work).toHaveAttribute('data-status', 'done', { timeout: 30000 });
    await expect(work.locator('.jp-mf-DagNode-detail')).toHaveText(/^done · 3\/3 · /);
    await page.notebook.waitForRun(3);

    await page.notebook.runCell(4);
    await page.notebook.runCell(5);
    await expect(dagNode(page, 'end')).toHaveAttribute('data-status', 'done');
    expect(await page.notebook.getCellTextOutput(5)).toEqual([expect.stringContaining('total 60')]);
    await expect(widget.locator('.jp-mf-DagWidget-header')).toHaveText(
      /^LiveFlow: 4 steps · run \d+$/
    );
    await widget.screenshot({ path: `${SHOTS}/widget-done-light.png` });
    await page.theme.setDarkTheme();
    await widget.screenshot({ path: `${SHOTS}/widget-done-dark.png` });
    await page.theme.setLightTheme();

    // Clicking a node selects its cell.
    await page.notebook.selectCells(0);
    await dagNode(page, 'join').locator('rect').click();
    await expect.poll(() => activeCellIndex(page)).toBe(4);
  });

  test('an error text with HTML stays text in the widget', async ({ page, tmpPath }) => {
    const cells = [
      { source: '%load_ext jupyter_metaflow' },
      { source: '%mf_dag' },
      { source: 'self.x = 1', tags: ['step:start'] },
      { source: `raise ValueError(${JSON.stringify(PAYLOAD)})`, tags: ['step:end'] }
    ];
    await page.contents.uploadContent(notebookJson(cells), 'text', `${tmpPath}/payload.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/payload.ipynb`);
    await page.notebook.activate('payload.ipynb');
    for (const index of [0, 1, 2, 3]) {
      await page.notebook.runCell(index);
    }
    const end = dagNode(page, 'end');
    await expect(end).toHaveAttribute('data-status', 'failed');
    await expect(end).toHaveAttribute('data-error', 'true');
    await expect(end.locator('title').first()).toContainText(PAYLOAD);
    await expect(page.locator('.jp-mf-DagWidget img')).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  });

  test('tags added in the UI (not saved) make cells run as steps', async ({ page, tmpPath }) => {
    const cells = [
      { source: '%load_ext jupyter_metaflow' },
      { source: 'self.x = 41' },
      { source: "print('x is', self.x + 1)" }
    ];
    await page.contents.uploadContent(notebookJson(cells), 'text', `${tmpPath}/tags.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/tags.ipynb`);
    await page.notebook.activate('tags.ipynb');
    await page.notebook.runCell(0);
    await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
      'data-jp-mf-status',
      'connected'
    );
    await page.evaluate(() => {
      const cells = (window as any).jupyterapp.shell.currentWidget.content.model.cells;
      cells.get(1).setMetadata('tags', ['step:start']);
      cells.get(2).setMetadata('tags', ['step:end']);
    });
    await page.notebook.runCell(1);
    await page.notebook.runCell(2);
    expect(await page.notebook.getCellTextOutput(2)).toEqual([expect.stringContaining('x is 42')]);
    // the file on disk still has no tags: the kernel used the cells the frontend sent
    const saved = await page.evaluate(async path => {
      const reply = await fetch(
        `${(window as any).jupyterapp.serviceManager.serverSettings.baseUrl}api/contents/${path}`
      );
      return (await reply.json()).content.cells.map((c: any) => c.metadata.tags ?? []);
    }, `${tmpPath}/tags.ipynb`);
    expect(saved).toEqual([[], [], []]);
  });

  test('Notebook 7 renders the widget', async ({ page, context, baseURL, tmpPath }) => {
    await page.contents.uploadContent(liveNotebook(), 'text', `${tmpPath}/nb7.ipynb`);
    const nb7 = await context.newPage();
    await nb7.goto(`${baseURL}/notebooks/${tmpPath}/nb7.ipynb`);
    // The toolbar indicator leaves "no-kernel" once the kernel is up.
    await expect(nb7.locator('.jp-mf-LinkIndicator')).toHaveAttribute(
      'data-jp-mf-status',
      /not-loaded|connected/,
      {
        timeout: 60000
      }
    );
    for (const index of [0, 1, 2]) {
      await nb7.locator('.jp-Cell').nth(index).click();
      await nb7.keyboard.press('Shift+Enter');
      await expect(nb7.locator('.jp-Cell').nth(index).locator('.jp-InputPrompt')).toHaveText(
        /\[\d+\]:/,
        {
          timeout: 60000
        }
      );
    }
    const widget = nb7.locator('.jp-mf-DagWidget');
    await expect(widget.locator('.jp-mf-DagNode')).toHaveCount(4, { timeout: 30000 });
    await expect(dagNode(nb7, 'start')).toHaveAttribute('data-status', 'done');
    // live there too: the foreach body shows running, then done with all splits
    await nb7.locator('.jp-Cell').nth(3).click();
    await nb7.keyboard.press('Shift+Enter');
    await expect(dagNode(nb7, 'work')).toHaveAttribute('data-status', 'running', {
      timeout: 30000
    });
    await expect(dagNode(nb7, 'work')).toHaveAttribute('data-status', 'done', { timeout: 30000 });
    await expect(dagNode(nb7, 'work').locator('.jp-mf-DagNode-detail')).toHaveText(
      /^done · 3\/3 · /
    );
    await nb7.screenshot({ path: `${SHOTS}/widget-notebook7.png` });
    await nb7.close();
  });
});

async function activeCellIndex(page: IJupyterLabPageFixture): Promise<number> {
  return page.evaluate(
    () => (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex
  );
}

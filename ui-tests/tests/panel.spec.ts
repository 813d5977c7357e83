/**
 * The DAG panel as a user sees it: readable text at any width, broken cells
 * keeping their node, toolbar icons and separators, menus, empty states,
 * restore after reload, the details pane, the run browser, switch choices
 * after a restart, keyboard access; light and dark screenshots.
 */
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { notebookJson, saveTrustedNotebook, type ICellSpec } from './notebooks';
import { command, connected, node, openFlow, shots, SHOTS, test } from './lab';

/** Every node's box lies inside the scrollable drawing of the panel (nothing cut off or floating). */
async function allNodesReachable(page: IJupyterLabPageFixture): Promise<void> {
  const outside = await page.evaluate(() => {
    const canvas = document.querySelector('#jp-mf-dag-panel .jp-mf-DagPanel-canvas')!;
    const c = canvas.getBoundingClientRect();
    const bad: string[] = [];
    for (const g of Array.from(canvas.querySelectorAll('.jp-mf-DagNode'))) {
      const r = g.getBoundingClientRect();
      const left = r.left - c.left + canvas.scrollLeft;
      const top = r.top - c.top + canvas.scrollTop;
      if (
        left < -1 ||
        top < -1 ||
        left + r.width > canvas.scrollWidth + 1 ||
        top + r.height > canvas.scrollHeight + 1
      ) {
        bad.push(g.getAttribute('data-step')!);
      }
    }
    return bad;
  });
  expect(outside).toEqual([]);
}

/** The steps whose name is not wholly inside the visible part of the panel's drawing. */
async function cutNames(page: IJupyterLabPageFixture): Promise<string[]> {
  return page.evaluate(() => {
    const canvas = document.querySelector('#jp-mf-dag-panel .jp-mf-DagPanel-canvas')!;
    const c = canvas.getBoundingClientRect();
    const right = c.left + canvas.clientWidth;
    return Array.from(canvas.querySelectorAll('.jp-mf-DagNode'))
      .filter(g => {
        const r = g.querySelector('.jp-mf-DagNode-name')!.getBoundingClientRect();
        return r.left < c.left - 0.5 || r.right > right + 0.5;
      })
      .map(g => g.getAttribute('data-step')!);
  });
}

/** Contrast ratio of an element's text colour against its parent's background (rgb colours). */
async function contrast(text: Locator): Promise<number> {
  return text.evaluate(el => {
    const rgb = (css: string) =>
      css
        .match(/[\d.]+/g)!
        .slice(0, 3)
        .map(Number);
    const lum = ([r, g, b]: number[]) => {
      const [R, G, B] = [r, g, b].map(c => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * R + 0.7152 * G + 0.0722 * B;
    };
    const fg = lum(rgb(getComputedStyle(el).color));
    const bg = lum(rgb(getComputedStyle(el.parentElement!).backgroundColor));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  });
}

/** The widget the saved workspace shows in the right sidebar (what a reload restores). */
async function savedSidebarCurrent(page: IJupyterLabPageFixture): Promise<string | null> {
  return page.evaluate(async () => {
    const config = JSON.parse(document.getElementById('jupyter-config-data')!.textContent!);
    const url = `${config.baseUrl}lab/api/workspaces/${config.workspace}`;
    const saved = await (await fetch(url)).json();
    const right = saved?.data?.['layout-restorer:data']?.right;
    return right && !right.collapsed ? (right.current ?? null) : null;
  });
}

const BRANCHES: ICellSpec[] = [
  { source: '%%step start\nself.next(self.upper, self.lower)' },
  { source: '%%step upper\nself.x = 1\nself.next(self.join)' },
  { source: '%%step lower\nself.x = 2\nself.next(self.join)' },
  { source: '%%step join\nself.total = sum(i.x for i in inputs)\nself.next(self.end)' },
  { source: '%%step end\nprint(self.total)' }
];

const WIDE: ICellSpec[] = [
  { source: '%%step start\nself.next(self.alpha, self.beta, self.gamma)' },
  ...['alpha', 'beta', 'gamma'].map(s => ({ source: `%%step ${s}\nself.next(self.join)` })),
  { source: '%%step join\nself.next(self.end)' },
  { source: '%%step end' }
];

test.describe('DAG panel, without a kernel', () => {
  test.use({ kernels: null });

  test('a syntax error in a join keeps its node, its edges and its error at the node', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'broken.ipynb', BRANCHES);
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagEdge')).toHaveCount(5);
    await page.notebook.setCell(
      3,
      'code',
      '%%step join\nself.total = sum(i.x for i in inputs\nself.next(self.end)'
    );
    await expect(node(page, 'join')).toHaveAttribute('data-broken', 'true');
    await expect(node(page, 'join')).toHaveAttribute('data-error', 'true');
    await expect(node(page, 'join').locator('.jp-mf-DagNode-detail')).toContainText('line');
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagNode')).toHaveCount(5);
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagEdge')).toHaveCount(5);
    // the error is on the node, not at the bottom of the panel
    await expect(panel.locator('.jp-mf-DagPanel-errors li')).toHaveCount(0);
    await allNodesReachable(page);
    await shots(page, panel, 'panel-broken-join');
    await page.notebook.setCell(
      3,
      'code',
      '%%step join\nself.total = sum(i.x for i in inputs)\nself.next(self.end)'
    );
    await expect(node(page, 'join')).not.toHaveAttribute('data-broken', 'true');
  });

  test('at the default width a two-branch graph shows every step name; none is cut at the left', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'branches.ipynb', BRANCHES);
    const view = panel.locator('.jp-mf-DagView');
    await expect(node(page, 'lower')).toBeVisible();
    expect(Number(await view.getAttribute('data-zoom'))).toBeGreaterThanOrEqual(0.9);
    const canvas = panel.locator('.jp-mf-DagPanel-canvas');
    expect(await canvas.evaluate(c => c.scrollWidth > c.clientWidth)).toBe(true); // it scrolls
    await expect.poll(() => cutNames(page)).toEqual([]);
    await allNodesReachable(page);
    await canvas.evaluate(c => (c.scrollLeft = c.scrollWidth));
    await panel.locator('.jp-mf-DagPanel-fit').click();
    await expect.poll(() => cutNames(page)).toEqual([]);
    // moving along the graph with the keys scrolls only to show a node whole
    await node(page, 'upper').click();
    await page.keyboard.press('ArrowDown');
    await expect(node(page, 'join')).toBeFocused();
    expect(await cutNames(page)).toEqual([]);
    await shots(page, panel, 'panel-two-branches');
  });

  test('text stays readable at the default width; the graph scrolls and refits on resize and notebook switch', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'wide.ipynb', WIDE);
    const view = panel.locator('.jp-mf-DagView');
    await expect(node(page, 'gamma')).toBeVisible();
    const zoom = Number(await view.getAttribute('data-zoom'));
    expect(zoom).toBeGreaterThanOrEqual(0.9);
    const nameHeight = (await node(page, 'alpha').locator('.jp-mf-DagNode-name').boundingBox())!
      .height;
    expect(nameHeight).toBeGreaterThanOrEqual(10); // ~12 px text, not 8
    const canvas = panel.locator('.jp-mf-DagPanel-canvas');
    const scrolls = await canvas.evaluate(c => c.scrollWidth > c.clientWidth);
    expect(scrolls).toBe(true); // three branches side by side do not fit a sidebar: scroll, not shrink
    await allNodesReachable(page);
    await shots(page, panel, 'panel-readable');

    // widening the sidebar (its split handle dragged left) refits: the whole graph, no scrolling
    const handle = page
      .locator('#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)')
      .last();
    const box = (await handle.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(page.viewportSize()!.width - 700, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => canvas.evaluate(c => c.clientWidth)).toBeGreaterThan(620);
    await expect.poll(() => canvas.evaluate(c => c.scrollWidth <= c.clientWidth + 1)).toBe(true);
    expect(Number(await view.getAttribute('data-zoom'))).toBeGreaterThanOrEqual(0.9);
    await allNodesReachable(page);

    // another notebook (opened by command: the wide sidebar covers the tab bar's end): refit
    await saveTrustedNotebook(page, `${tmpPath}/other.ipynb`, BRANCHES);
    await command(page, 'docmanager:open', { path: `${tmpPath}/other.ipynb` });
    await expect(panel.locator('.jp-mf-DagPanel-title')).toHaveText('OtherFlow', {
      timeout: 60000
    });
    await expect(node(page, 'lower')).toBeVisible();
    await allNodesReachable(page);
    expect(Number(await view.getAttribute('data-zoom'))).toBeGreaterThanOrEqual(0.9);
  });

  test('a notebook without steps has an empty state, no red error, and the panel survives a reload', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'nosteps.ipynb', [
      { source: 'x = 1' },
      { source: '# notes', type: 'markdown' }
    ]);
    await expect(panel.locator('.jp-mf-DagPanel-empty')).toContainText('No steps yet');
    await expect(panel.locator('.jp-mf-DagPanel-errors li')).toHaveCount(0);
    expect(await panel.evaluate(p => (p.textContent ?? '').split('step cells').length - 1)).toBe(1);
    await expect(panel.locator('.jp-mf-DagPanel-canvas')).toBeHidden();
    await shots(page, panel, 'panel-empty');

    // a reload restores what JupyterLab saved: wait until the workspace holds the open panel
    await expect
      .poll(() => savedSidebarCurrent(page), { timeout: 60000 })
      .toBe('jupyter-metaflow-dag-panel');
    await page.reload({ waitForIsReady: false } as any);
    await expect(page.locator('#jp-mf-dag-panel')).toBeVisible({ timeout: 60000 });
  });

  test('toolbars: our own icons, a separator before them; the panel toolbar in JupyterLab style', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'toolbar.ipynb', BRANCHES);
    const toolbar = page.locator('.jp-NotebookPanel-toolbar');
    const opener = toolbar.locator('[data-jp-item-name="toolbar-popup-opener"]');
    if (await opener.isVisible()) {
      await opener.click();
    }
    const runStep = page.locator('[data-command="jupyter-metaflow:run-step"]').first();
    await expect(runStep.locator('svg')).toHaveAttribute('data-icon', 'jupyter-metaflow:run-step');
    await expect(
      page.locator('[data-command="jupyter-metaflow:run-all"] svg').first()
    ).toHaveAttribute('data-icon', 'jupyter-metaflow:run-all-steps');
    // the separator sits right before Run Step
    const before = await page.evaluate(() => {
      const el = document.querySelector(
        '.jp-NotebookPanel-toolbar [data-jp-item-name="mf-run-step"]'
      );
      return el?.previousElementSibling?.getAttribute('data-jp-item-name') ?? 'no run-step item';
    });
    expect(before).toBe('mf-separator');
    await expect(page.locator('.jp-NotebookPanel-toolbar .jp-mf-ToolbarSeparator')).toHaveCount(1);
    await toolbar.screenshot({ path: `${SHOTS}/notebook-toolbar-light.png` });
    // the panel's toolbar: icon buttons with labels for screen readers
    const buttons = panel.locator('.jp-mf-DagPanel-toolbar button');
    expect(await buttons.count()).toBeGreaterThanOrEqual(6);
    for (const label of await buttons.evaluateAll(bs =>
      bs.map(b => b.getAttribute('aria-label') ?? '')
    )) {
      expect(label.length).toBeGreaterThan(3);
    }
    await expect(
      panel.locator('.jp-mf-DagPanel-toolbar [data-command="jupyter-metaflow:export"]')
    ).toHaveAttribute('aria-label', /Write the notebook flow/);
  });

  test('menus: the cell menu has its own section, the node menu shows shortcuts, the Run menu has ours', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'menus.ipynb', BRANCHES);
    await page.notebook.selectCells(0);
    await page
      .locator('.jp-Notebook .jp-Cell')
      .nth(0)
      .locator('.jp-InputArea-editor')
      .click({ button: 'right' });
    const menu = page.locator('.lm-Menu').first();
    await expect(menu.getByText('Run Step start')).toBeVisible();
    const items = await menu
      .locator(':scope > ul > li')
      .evaluateAll(lis =>
        lis
          .map(li =>
            li.classList.contains('lm-mod-hidden')
              ? null
              : li.getAttribute('data-type') === 'separator'
                ? '---'
                : (li.querySelector('.lm-Menu-itemLabel')?.textContent ?? '')
          )
          .filter(x => x !== null)
      );
    const at = items.indexOf('Run Step start');
    expect(items[at - 1]).toBe('---');
    expect(items.slice(at, at + 3)).toEqual([
      'Run Step start',
      'Run to Here',
      'Show Details of start'
    ]);
    expect(items[at + 3]).toBe('---');
    await menu.screenshot({ path: `${SHOTS}/cell-context-menu-light.png` });
    await page.keyboard.press('Escape');

    await node(page, 'upper').click({ button: 'right' });
    const nodeMenu = page.locator('.lm-Menu').first();
    const run = nodeMenu.locator('.lm-Menu-item', { hasText: 'Run Step upper' });
    await expect(run.locator('.lm-Menu-itemShortcut')).not.toHaveText('');
    await expect(
      nodeMenu
        .locator('.lm-Menu-item', { hasText: 'Show Details of upper' })
        .locator('.lm-Menu-itemShortcut')
    ).not.toHaveText('');
    await nodeMenu.screenshot({ path: `${SHOTS}/node-context-menu-light.png` });
    await page.keyboard.press('Escape');

    await page.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
    const runMenu = page.locator('.lm-Menu').first();
    await expect(runMenu.getByText('Run All Steps')).toBeVisible();
    await expect(runMenu.getByText('Run to Here')).toBeVisible();
    await runMenu.screenshot({ path: `${SHOTS}/run-menu-light.png` });
    await page.keyboard.press('Escape');
  });

  test('the graph is reachable from the keyboard and labelled for screen readers', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'keys.ipynb', BRANCHES);
    await expect(panel.locator('.jp-mf-DagView')).toHaveAttribute('role', 'listbox');
    await expect(panel.locator('.jp-mf-DagNode[tabindex="0"]')).toHaveCount(1);
    await expect(node(page, 'upper')).toHaveAttribute('aria-label', 'step upper, not run');
    await node(page, 'start').focus();
    await page.keyboard.press('ArrowDown');
    await expect(node(page, 'upper')).toBeFocused();
    // hovering or focusing a step lights its lineage
    await expect(panel.locator('.jp-mf-DagView')).toHaveClass(/jp-mod-tracing/);
    await expect(node(page, 'join')).toHaveAttribute('data-lineage', 'downstream');
    await expect(node(page, 'lower')).not.toHaveAttribute('data-lineage', /./);
    await page.keyboard.press('ArrowRight');
    await expect(node(page, 'lower')).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(node(page, 'lower')).toHaveAttribute('aria-selected', 'true');
    await expect(panel.locator('.jp-mf-Details-step')).toHaveText('lower');
    // selecting shows the step's cell but leaves the focus in the graph: the arrows still move
    await expect(page.locator('.jp-Notebook .jp-Cell.jp-mod-active')).toContainText('%%step lower');
    await expect(node(page, 'lower')).toBeFocused();
    await page.keyboard.press('ArrowLeft');
    await expect(node(page, 'upper')).toBeFocused();
    await node(page, 'join').click();
    await expect(node(page, 'join')).toBeFocused();
    await expect(panel.locator('.jp-mf-Details')).toContainText('has not run yet');
    await node(page, 'upper').hover();
    await expect(node(page, 'start')).toHaveAttribute('data-lineage', 'upstream');
    await shots(page, panel, 'panel-lineage');
  });
});

test.describe('DAG panel, with a kernel', () => {
  test('Run Step without a kernel opens the kernel dialog, as Run does', async ({
    page,
    tmpPath
  }) => {
    // a notebook without a kernelspec (a new one the user saved), opened with "No Kernel"
    const nb = JSON.parse(notebookJson(BRANCHES));
    nb.metadata = {};
    await page.contents.uploadContent(JSON.stringify(nb), 'text', `${tmpPath}/nokernel.ipynb`);
    const saved = await page.request.put(
      new URL(`api/contents/${tmpPath}/nokernel.ipynb`, page.url().replace(/lab.*$/, '')).href,
      {
        data: { type: 'notebook', format: 'json', content: nb }
      }
    );
    expect(saved.ok()).toBe(true);
    await page.evaluate(path => {
      void (window as any).jupyterapp.commands.execute('docmanager:open', { path });
    }, `${tmpPath}/nokernel.ipynb`);
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toBeVisible({ timeout: 60000 });
    await dialog.getByRole('button', { name: /No Kernel/ }).click();
    await expect(dialog).toHaveCount(0);
    await command(page, 'jupyter-metaflow:show-dag');
    await expect(node(page, 'start')).toBeVisible();
    await page.notebook.selectCells(0);
    await command(page, 'jupyter-metaflow:run-step');
    await expect(dialog).toBeVisible({ timeout: 30000 });
    await expect(dialog).toContainText(/Select Kernel/i);
    await dialog.screenshot({ path: `${SHOTS}/run-step-no-kernel-light.png` });
    await dialog.locator('.jp-mod-accept').click();
    await expect(node(page, 'start')).toHaveAttribute('data-status', 'done', { timeout: 120000 });
  });

  test('details pane: tasks with inputs, switch choices, artifacts with views, logs; run browser', async ({
    page,
    tmpPath
  }) => {
    const panel = await openFlow(page, tmpPath, 'parity.ipynb', [
      {
        source:
          "%%step start\nself.numbers = [1, 2, 3, 4, 5]\nself.next(self.classify, foreach='numbers')"
      },
      {
        source:
          "%%step classify\nself.n = self.input\nself.kind = 'odd' if self.input % 2 else 'even'\nprint('classified', self.input)\n" +
          "self.next({'odd': self.odd, 'even': self.even}, condition='kind')"
      },
      { source: "%%step odd\nself.label = f'{self.n} is odd'\nself.next(self.tally)" },
      { source: "%%step even\nself.label = f'{self.n} is even'\nself.next(self.tally)" },
      { source: '%%step tally\nself.next(self.gather)' },
      {
        source: '%%step gather\nself.labels = sorted(i.label for i in inputs)\nself.next(self.end)'
      },
      { source: '%%step end\nprint(len(self.labels))' }
    ]);
    await connected(page);
    await command(page, 'jupyter-metaflow:run-all');
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 180000 });
    // the live statuses carry the switch's choices: counts on the node, taken edges bold
    await expect(node(page, 'classify').locator('.jp-mf-DagNode-detail')).toContainText(
      '3 → odd · 2 → even'
    );
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagEdge.jp-mod-taken')).toHaveCount(2);

    await node(page, 'classify').click();
    const details = panel.locator('.jp-mf-Details');
    await expect(details.locator('.jp-mf-Details-step')).toHaveText('classify');
    const inputs = details.locator('.jp-mf-Details-taskInput');
    await expect(inputs).toHaveText(['1', '2', '3', '4', '5'], { timeout: 60000 });
    await expect(details.locator('.jp-mf-Details-task').nth(1)).toContainText('→ even');
    await expect(details.locator('.jp-mf-Details-stdout')).toContainText('classified 5', {
      timeout: 60000
    });
    await details.locator('.jp-mf-Details-task').nth(1).click();
    await expect(details.locator('.jp-mf-Details-stdout')).toContainText('classified 2', {
      timeout: 60000
    });
    await details.locator('.jp-mf-Details-artifact[data-artifact="kind"]').click();
    await expect(details.locator('.jp-mf-Details-view .jp-mf-Show')).toContainText('4 characters', {
      timeout: 60000
    });
    await expect(details.locator('.jp-mf-Details-view .jp-mf-Show')).toContainText('even');
    // nothing was inserted into the notebook
    expect(
      await page.evaluate(
        () => (window as any).jupyterapp.shell.currentWidget.content.model.cells.length
      )
    ).toBe(7);
    await shots(page, panel, 'panel-details');

    // the run browser lists the notebook's run; picking it draws its states
    await panel.locator('.lm-TabBar-tab', { hasText: 'Runs' }).click();
    const run = panel.locator('.jp-mf-Runs-run').first();
    await expect(run).toHaveAttribute('data-origin', 'notebook', { timeout: 60000 });
    await expect(run).toContainText('current');
    await run.click();
    await expect(panel).toHaveAttribute('data-viewing', /ParityFlow\/\d+/, { timeout: 60000 });
    await expect(panel.locator('.jp-mf-DagPanel-banner')).toContainText('successful');
    await expect(node(page, 'classify').locator('.jp-mf-DagNode-detail')).toContainText(
      '3 → odd · 2 → even'
    );
    await expect(page.locator('#jp-mf-dag-panel .jp-mf-DagEdge.jp-mod-taken')).toHaveCount(2);
    await shots(page, panel, 'panel-runs');
    // the banner's text stays readable in the dark theme (WCAG AA: 4.5:1)
    await page.theme.setDarkTheme();
    expect(await contrast(panel.locator('.jp-mf-DagPanel-banner span'))).toBeGreaterThanOrEqual(
      4.5
    );
    await page.theme.setLightTheme();
    expect(await contrast(panel.locator('.jp-mf-DagPanel-banner span'))).toBeGreaterThanOrEqual(
      4.5
    );
    await panel.locator('.jp-mf-DagPanel-banner button').click();
    await expect(panel).not.toHaveAttribute('data-viewing', /./);
  });

  test('the run browser follows the notebook: listed once connected, a new run listed as it begins; stale in the details', async ({
    page,
    tmpPath
  }) => {
    // no %load_ext: the Runs tab is open while the kernel side is still loading
    const panel = await openFlow(page, tmpPath, 'follow.ipynb', [
      { source: '%%step start\nself.x = 1' },
      { source: '%%step end\nprint(self.x)' }
    ]);
    await panel.locator('.lm-TabBar-tab', { hasText: 'Runs' }).click();
    await connected(page);
    const status = panel.locator('.jp-mf-Runs-status');
    await expect(status).toHaveText('No runs of FollowFlow yet: run the start step.');

    await command(page, 'jupyter-metaflow:run-all');
    await expect(node(page, 'end')).toHaveAttribute('data-status', 'done', { timeout: 180000 });
    const runs = panel.locator('.jp-mf-Runs-run');
    await expect(runs).toHaveCount(1);
    await expect(runs.first()).toContainText('successful');

    // re-executing end begins a new run: listed, and current, without pressing Refresh
    const first = await runs.first().getAttribute('data-run');
    await page.notebook.runCell(1);
    await expect(runs).toHaveCount(2);
    await expect(runs.first()).not.toHaveAttribute('data-run', first!);
    await expect(runs.first().locator('.jp-mf-Runs-current')).toBeVisible();
    await expect(runs.first()).toContainText('successful');
    // at the sidebar's default width the badge wraps rather than leaving the panel
    const badgeInside = await runs
      .first()
      .locator('.jp-mf-Runs-current')
      .evaluate(badge => {
        const browser = badge.closest('.jp-mf-Runs') as HTMLElement;
        const right = browser.getBoundingClientRect().left + browser.clientWidth;
        return badge.getBoundingClientRect().right <= right;
      });
    expect(badgeInside).toBe(true);
    await shots(page, panel, 'panel-runs-follow');

    // an edited step reads "stale" in the details pane in the colour of its badge
    await page.notebook.setCell(0, 'code', '%%step start\nself.x = 2');
    await node(page, 'start').click();
    const detailsStatus = panel.locator('.jp-mf-Details-status');
    await expect(detailsStatus).toHaveText('stale');
    const badgeStatus = page.locator('.jp-mf-StepBadge[data-stale] .jp-mf-StepBadge-status');
    await expect(badgeStatus.first()).toBeVisible();
    const colour = (l: Locator) => l.evaluate(e => getComputedStyle(e).color);
    expect(await colour(detailsStatus)).toBe(await colour(badgeStatus.first()));
  });

  test('export names the file it writes and offers to open it; %mf_dag has no horizontal scrollbar', async ({
    page,
    tmpPath
  }) => {
    await openFlow(page, tmpPath, 'Train Model.ipynb', [
      { source: '%load_ext jupyter_metaflow' },
      ...BRANCHES,
      { source: '%mf_dag' }
    ]);
    await connected(page);
    expect(
      await page.evaluate(() =>
        (window as any).jupyterapp.commands.label('jupyter-metaflow:export')
      )
    ).toBe('Export Flow to Train Model.py');
    await command(page, 'jupyter-metaflow:export');
    await command(page, 'apputils:display-notifications');
    const open = page
      .locator('.jp-Notification-List, .jp-Notification-Center')
      .getByRole('button', { name: 'Open' })
      .first();
    await expect(open).toBeVisible({ timeout: 60000 });
    await open.click();
    await expect(
      page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Train Model.py' })
    ).toBeVisible();

    await page
      .locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Train Model.ipynb' })
      .click();
    await page.notebook.runCell(6);
    const widget = page.locator('.jp-mf-DagWidget');
    await expect(widget.locator('.jp-mf-DagNode')).toHaveCount(5, { timeout: 60000 });
    const overflow = await widget.evaluate(w => {
      const area = w.closest('.jp-OutputArea-output') as HTMLElement;
      return area.scrollWidth - area.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await shots(page, widget, 'mf-dag-output');
  });
});

test.describe('DAG panel in Notebook 7', () => {
  test.use({ autoGoto: false, kernels: null });

  test('the panel shows a step details and its runs in the right side panel', async ({
    page,
    context,
    baseURL,
    tmpPath
  }) => {
    // saved through the contents API as a notebook (signed: it opens trusted, as one the user made)
    await page.contents.uploadContent(notebookJson(BRANCHES), 'text', `${tmpPath}/nb7panel.ipynb`);
    const saved = await page.request.put(`${baseURL}/api/contents/${tmpPath}/nb7panel.ipynb`, {
      data: { type: 'notebook', format: 'json', content: JSON.parse(notebookJson(BRANCHES)) }
    });
    expect(saved.ok()).toBe(true);
    const nb7 = await context.newPage();
    await nb7.goto(`${baseURL}/notebooks/${tmpPath}/nb7panel.ipynb`);
    await expect(nb7.locator('.jp-mf-LinkIndicator')).toHaveAttribute(
      'data-jp-mf-status',
      'connected',
      { timeout: 90000 }
    );
    const toolbarButton = async (id: string) => {
      const button = nb7.locator(`.jp-NotebookPanel-toolbar [data-command="${id}"]`);
      if (!(await button.isVisible())) {
        await nb7
          .locator('.jp-NotebookPanel-toolbar [data-jp-item-name="toolbar-popup-opener"]')
          .click();
      }
      await button.click();
    };
    await toolbarButton('jupyter-metaflow:show-dag');
    const panel = nb7.locator('#jp-mf-dag-panel');
    await expect(panel).toBeVisible();
    await panel
      .locator('.jp-mf-DagPanel-toolbar [data-command="jupyter-metaflow:run-all"]')
      .click();
    const end = panel.locator('.jp-mf-DagNode[data-step="end"]');
    await expect(end).toHaveAttribute('data-status', 'done', { timeout: 180000 });
    await panel.locator('.jp-mf-DagNode[data-step="join"]').click();
    await expect(panel.locator('.jp-mf-Details-artifact[data-artifact="total"]')).toBeVisible({
      timeout: 60000
    });
    await panel.locator('.jp-mf-Details-artifact[data-artifact="total"]').click();
    await expect(panel.locator('.jp-mf-Details-view .jp-mf-Show')).toContainText('3', {
      timeout: 60000
    });
    await panel.locator('.lm-TabBar-tab', { hasText: 'Runs' }).click();
    await expect(panel.locator('.jp-mf-Runs-run')).toHaveCount(1, { timeout: 60000 });
    await panel.screenshot({ path: `${SHOTS}/notebook7-panel-light.png` });
    await nb7.close();
  });
});

/** Driving JupyterLab and the DAG panel the way the specs need it: shared by the UI specs. */
import { expect, test as galataTest, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import * as galataUtils from '@jupyterlab/galata/lib/utils';
import type { Locator } from '@playwright/test';

import { openNotebook, type ICellSpec } from './notebooks';

/**
 * How long a Galata helper may wait for a state when it names no timeout of its own.
 *
 * Galata's helpers (JupyterLab's start in every test page and after a reload, the Launcher
 * tab, file browser listings) wait through `waitForCondition`, which gives up after a fixed
 * 15 s; JupyterLab takes longer than that to start on a busy machine. The test's own timeout
 * still bounds every test.
 */
const HELPER_WAIT_MS = 90000;
const galataWait = galataUtils.waitForCondition;
(galataUtils as { waitForCondition: typeof galataWait }).waitForCondition = (
  condition,
  timeout = HELPER_WAIT_MS
) => galataWait(condition, timeout);

/** Galata's `test`; import it from here so that the longer helper wait applies. */
export const test = galataTest;

/** Where the specs save their light and dark screenshots. */
export const SHOTS = 'test-results/screenshots';

/** Run a JupyterLab command without waiting for it to finish. */
export async function command(
  page: IJupyterLabPageFixture,
  id: string,
  args: Record<string, unknown> = {}
): Promise<void> {
  await page.evaluate(
    ([id, args]) => {
      void (window as any).jupyterapp.commands.execute(id, args);
    },
    [id, args] as const
  );
}

/** Save a notebook of `cells` (trusted), open it and show the DAG panel; returns the panel. */
export async function openFlow(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  cells: ICellSpec[]
): Promise<Locator> {
  await openNotebook(page, tmpPath, name, cells);
  await command(page, 'jupyter-metaflow:show-dag');
  const panel = page.locator('#jp-mf-dag-panel');
  await expect(panel).toBeVisible();
  return panel;
}

/** The DAG panel's node of `step`. */
export function node(page: IJupyterLabPageFixture, step: string): Locator {
  return page.locator(`#jp-mf-dag-panel .jp-mf-DagNode[data-step="${step}"]`);
}

/** Wait until the status bar says the kernel side is connected. */
export async function connected(page: IJupyterLabPageFixture): Promise<void> {
  await expect(page.locator('#jp-main-statusbar .jp-mf-LinkStatus')).toHaveAttribute(
    'data-jp-mf-status',
    'connected',
    { timeout: 90000 }
  );
}

/** Save `target` as NAME-light.png and NAME-dark.png (the theme is light again after). */
export async function shots(
  page: IJupyterLabPageFixture,
  target: Locator | IJupyterLabPageFixture,
  name: string
): Promise<void> {
  const scroll = async () => {
    if (target !== page) {
      await (target as Locator).scrollIntoViewIfNeeded();
    }
  };
  await scroll();
  await target.screenshot({ path: `${SHOTS}/${name}-light.png` });
  await page.theme.setDarkTheme();
  await scroll();
  await target.screenshot({ path: `${SHOTS}/${name}-dark.png` });
  await page.theme.setLightTheme();
}

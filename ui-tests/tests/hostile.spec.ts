/**
 * Hostile notebooks received from someone else (written as plain files, so
 * JupyterLab opens them untrusted): opening one runs nothing, the DAG is drawn
 * from the frontend's parsing and the panel says nothing runs until the user
 * does; after the user runs a harmless cell the kernel side loads, lints and
 * exports the notebook, and still no payload runs. Each payload writes a
 * marker file beside the notebook when any of its code runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { expect } from '@jupyterlab/galata';

import { notebookJson } from './notebooks';
import { test } from './lab';

interface IHostile {
  name: string;
  files: Record<string, string>;
  cells: Array<{ source: string }>;
}

const VECTORS: { notebooks: IHostile[] } = JSON.parse(
  fs.readFileSync(
    path.resolve(__dirname, '..', '..', 'python', 'tests', 'vectors', 'hostile_notebooks.json'),
    'utf-8'
  )
);

test.describe('hostile notebooks', () => {
  test.use({ kernels: null });

  for (const hostile of VECTORS.notebooks) {
    test(`${hostile.name}: opening, linting and exporting run none of it`, async ({
      page,
      tmpPath
    }) => {
      const marker = `${hostile.name}.marker`; // relative: the kernel's cwd is the notebook's folder
      const fill = (text: string) => text.split('{marker}').join(`'${marker}'`);
      for (const [name, text] of Object.entries(hostile.files)) {
        await page.contents.uploadContent(fill(text), 'text', `${tmpPath}/${name}`);
      }
      const cells = [
        { source: "print('harmless')" },
        ...hostile.cells.map(c => ({ source: fill(c.source) }))
      ];
      const file = `${hostile.name}.ipynb`;
      await page.contents.uploadContent(notebookJson(cells), 'text', `${tmpPath}/${file}`);
      await page.notebook.openByPath(`${tmpPath}/${file}`);
      await page.notebook.activate(file);
      await page.evaluate(() => {
        void (window as any).jupyterapp.commands.execute('jupyter-metaflow:show-dag');
      });
      const panel = page.locator('#jp-mf-dag-panel');
      const status = page.locator('#jp-main-statusbar .jp-mf-LinkStatus');

      // Opened untrusted: the DAG comes from the frontend, the kernel side stays unloaded.
      await expect(panel.locator('.jp-mf-DagNode')).toHaveCount(2, { timeout: 60000 });
      await expect(panel).toHaveAttribute('data-consent', 'none');
      await expect(panel.locator('.jp-mf-DagPanel-consent')).toContainText(
        'nothing in this notebook runs'
      );
      await page.waitForSelector('#jp-main-statusbar >> text=Idle', { timeout: 60000 });
      await expect(status).toHaveAttribute('data-jp-mf-status', 'not-loaded');
      expect(await page.contents.fileExists(`${tmpPath}/${marker}`)).toBe(false);

      // The user runs a harmless cell: the kernel side loads and gets the cells (its lint).
      await page.notebook.runCell(0);
      await expect(status).toHaveAttribute('data-jp-mf-status', 'connected', { timeout: 60000 });
      await expect(panel).toHaveAttribute('data-consent', 'executed');
      await expect(panel.locator('.jp-mf-DagPanel-consent')).toContainText('first cell you ran');

      // Export through the kernel (the one exporter); wait for the file, not a notification.
      await page.evaluate(() => {
        void (window as any).jupyterapp.commands.execute('jupyter-metaflow:export');
      });
      const output = `${tmpPath}/${hostile.name}.py`;
      await expect.poll(() => page.contents.fileExists(output), { timeout: 60000 }).toBe(true);
      expect(await page.contents.fileExists(`${tmpPath}/${marker}`)).toBe(false);
    });
  }
});

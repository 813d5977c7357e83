/**
 * Galata/Playwright configuration: a real `jupyter lab` in Debian's Chromium.
 * Playwright cannot download browsers here, so the browser is /usr/bin/chromium
 * (override with CHROMIUM_PATH); the server port is MF_UI_PORT (default 8888).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.MF_UI_PORT || '8888';

module.exports = {
  ...baseConfig,
  workers: 1,
  retries: process.env.CI ? 1 : 0, // a test that passes only on its retry is reported as flaky
  // A bound for a hung test, not a timing assumption: with the CPU busy, Galata's cell
  // helpers (setCell, addCell: dozens of small browser round trips each) take a second per
  // step, and a test that types a few cells takes over 2 minutes.
  timeout: 300000,
  // Assertions wait for states; 5 s (Playwright's default) is a timing assumption a loaded
  // machine breaks (a kernel reply and its render take longer with the CPU busy).
  expect: { timeout: 30000 },
  reporter: [
    ['list'],
    ['json', { outputFile: process.env.MF_UI_JSON || 'test-results/results.json' }]
  ],
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    browserName: 'chromium',
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://localhost:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: process.env.MF_UI_SERVER_LOG ? 'pipe' : 'ignore'
  }
};

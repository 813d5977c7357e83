/**
 * Playwright config of the DAG benchmark: the UI-test setup (real JupyterLab with
 * the built extension, Debian Chromium) pointed at bench/dag_bench.spec.ts.
 * Run: cd ui-tests && MF_UI_PORT=8890 npx playwright test --config ../bench/dag_bench.config.js
 */
const path = require('path');
const base = require('../ui-tests/playwright.config.js');

module.exports = {
  ...base,
  testDir: __dirname,
  testMatch: 'dag_bench.spec.ts',
  outputDir: process.env.MF_BENCH_OUTPUT || '/tmp/mf-dag-bench',
  reporter: [['list']],
  use: { ...base.use, trace: 'off' },
  webServer: { ...base.webServer, cwd: path.resolve(__dirname, '..', 'ui-tests') }
};

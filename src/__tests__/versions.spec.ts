import * as fs from 'fs';
import * as path from 'path';

import { PACKAGE_VERSION } from '../version';

const ROOT = path.resolve(__dirname, '..', '..');

describe('versions', () => {
  it('match package.json and the Python package', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf-8'));
    const py = fs.readFileSync(path.join(ROOT, 'python/jupyter_metaflow/_version.py'), 'utf-8');
    expect(PACKAGE_VERSION).toBe(pkg.version);
    expect(py).toContain(`__version__ = "${pkg.version}"`);
  });
});

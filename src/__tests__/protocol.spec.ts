import * as fs from 'fs';
import * as path from 'path';

import { COMM_TARGET, PROTOCOL_VERSION, envelope, isCompatible, parseEnvelope } from '../protocol';
import { PACKAGE_VERSION } from '../version';

const ROOT = path.resolve(__dirname, '..', '..');
const schema = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'python/jupyter_metaflow/protocol/schema.json'), 'utf-8')
);

describe('protocol', () => {
  it('speaks the version of the shared schema', () => {
    expect(PROTOCOL_VERSION).toBe(schema.version);
  });

  it('uses the comm target of the Python package', () => {
    const py = fs.readFileSync(
      path.join(ROOT, 'python/jupyter_metaflow/protocol/__init__.py'),
      'utf-8'
    );
    expect(py).toContain(`COMM_TARGET = "${COMM_TARGET}"`);
  });

  it('knows every message type the schema defines', () => {
    const known: string[] = [
      'hello',
      'error',
      'flow',
      'flow_model',
      'step_status',
      'run_state',
      'export',
      'export_result'
    ];
    expect(Object.keys(schema.messages).sort()).toEqual(expect.arrayContaining(known.sort()));
  });

  it('wraps payloads in versioned envelopes', () => {
    expect(envelope('hello', { side: 'frontend', package_version: PACKAGE_VERSION })).toEqual({
      protocol: PROTOCOL_VERSION,
      type: 'hello',
      payload: { side: 'frontend', package_version: PACKAGE_VERSION }
    });
  });

  it('accepts the same major version only', () => {
    const major = Number(PROTOCOL_VERSION.split('.')[0]);
    expect(isCompatible(`${major}.42`)).toBe(true);
    expect(isCompatible(`${major + 1}.0`)).toBe(false);
  });

  it('rejects anything that is not a compatible envelope', () => {
    expect(parseEnvelope(null)).toBeNull();
    expect(parseEnvelope('hello')).toBeNull();
    expect(parseEnvelope({ protocol: PROTOCOL_VERSION, type: 'hello' })).toBeNull();
    expect(parseEnvelope({ protocol: '99.0', type: 'hello', payload: {} })).toBeNull();
    const ok = { protocol: PROTOCOL_VERSION, type: 'hello', payload: { side: 'kernel' } };
    expect(parseEnvelope(ok)).toBe(ok);
  });
});

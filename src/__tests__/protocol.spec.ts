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
    const ok = {
      protocol: PROTOCOL_VERSION,
      type: 'hello',
      payload: { side: 'kernel', package_version: PACKAGE_VERSION }
    };
    expect(parseEnvelope(ok)).toBe(ok);
  });

  it('validates payloads against the schema instead of trusting them', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const message = (type: string, payload: unknown) => ({
      protocol: PROTOCOL_VERSION,
      type,
      payload
    });
    expect(parseEnvelope(message('hello', { side: 'kernel' }))).toBeNull();
    expect(
      parseEnvelope(message('step_status', { run_id: '1', step: 'a', state: 'exploded' }))
    ).toBeNull();
    const model = {
      name: 'F',
      name_source: 'default',
      doc: null,
      flow: null,
      module_cells: [],
      scratch_cells: [],
      errors: []
    };
    const flowModel = (steps: unknown[]) =>
      message('flow_model', { path: 'a.ipynb', model: { ...model, steps }, lint_errors: [] });
    expect(parseEnvelope(flowModel([{ name: 'start' }]))).toBeNull();
    expect(warn).toHaveBeenLastCalledWith(
      expect.stringContaining("malformed 'flow_model' message: payload/model/steps/0")
    );
    const step = {
      name: 'start',
      cell_index: 0,
      cell_id: null,
      decorators: [],
      body_line: 2,
      doc: null,
      transition: null,
      implied: true,
      is_join: false,
      parents: []
    };
    const good = flowModel([step]);
    const parsed = parseEnvelope(good);
    expect(parsed).toBe(good);
    if (parsed?.type === 'flow_model') {
      expect(parsed.payload.model.steps[0].name).toBe('start'); // typed through the narrowing
    }
    warn.mockRestore();
  });

  it('ignores message types it does not know (a newer peer may send them)', () => {
    expect(
      parseEnvelope({ protocol: PROTOCOL_VERSION, type: 'telemetry', payload: {} })
    ).toBeNull();
  });
});

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import Ajv from 'ajv';

import { assemble } from '../assembly';
import { PROTOCOL_SCHEMA } from '../_schema';

const ROOT = path.resolve(__dirname, '..', '..');

/** The shared vectors, also read by python/tests/unit/test_schema_models.py. */
const VECTORS = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'python', 'tests', 'vectors', 'assembly.json'), 'utf-8')
);

describe('the generated protocol types', () => {
  // A child process: the generator's prettier loads ES modules, which jest's VM does not.
  it('are what schema.json gives (run `npm run build:schema` after changing the schema)', () => {
    const check = spawnSync(process.execPath, ['scripts/schema-to-ts.js', '--check'], {
      cwd: ROOT,
      encoding: 'utf-8'
    });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  }, 60000);
});

describe("the frontend's flow models", () => {
  const ajv = new Ajv({ allErrors: true });
  ajv.addVocabulary(['version', 'messages']);
  ajv.addSchema(PROTOCOL_SCHEMA);
  const validate = ajv.getSchema(`${PROTOCOL_SCHEMA.$id as string}#/definitions/flowModel`)!;

  it.each<[string, any]>(VECTORS.cases.map((c: { name: string }) => [c.name, c]))(
    'follow the schema: %s',
    (_name, c) => {
      const cells = c.cells.map((cell: any, index: number) => ({
        index,
        id: cell.id ?? null,
        cell_type: cell.cell_type,
        source: cell.source,
        tags: cell.tags ?? []
      }));
      const model = assemble(cells, c.notebook_name ?? null);
      expect(validate(model) ? [] : validate.errors).toEqual([]);
    }
  );
});

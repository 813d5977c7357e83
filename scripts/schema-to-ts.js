/**
 * Generate src/_schema.ts, the TypeScript types of the frontend <-> kernel protocol, from its one
 * definition, python/jupyter_metaflow/protocol/schema.json (json-schema-to-typescript).
 *
 *   node scripts/schema-to-ts.js           write src/_schema.ts   (npm run build:schema)
 *   node scripts/schema-to-ts.js --check   exit 1 when src/_schema.ts is not what the schema gives
 *
 * Names: a message's payload is `I<Type>Message` (`step_status` -> `IStepStatusMessage`), any
 * other definition `I<Name>` (`flowModel` -> `IFlowModel`); `IMessagePayloads` maps each message
 * type to its payload. `PROTOCOL_SCHEMA` is the schema itself, for validating incoming messages.
 * src/__tests__/schema.spec.ts runs the same check in jest.
 */
const fs = require('fs');
const path = require('path');
const { compile } = require('json-schema-to-typescript');
const prettier = require('prettier');

const ROOT = path.resolve(__dirname, '..');
const SCHEMA_PATH = path.join(ROOT, 'python', 'jupyter_metaflow', 'protocol', 'schema.json');
const OUTPUT_PATH = path.join(ROOT, 'src', '_schema.ts');

const BANNER = `/**
 * GENERATED from python/jupyter_metaflow/protocol/schema.json by scripts/schema-to-ts.js:
 * do not edit. Change the schema, then run \`npm run build:schema\`.
 */`;

function pascal(name) {
  return name
    .split(/[_-]/)
    .map(part => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** The schema as json-schema-to-typescript should see it: titled definitions, one root. */
function typedSchema(schema) {
  const messages = Object.keys(schema.messages);
  const definitions = {};
  for (const [name, definition] of Object.entries(schema.definitions)) {
    const isMessage = messages.includes(name);
    definitions[name] = { ...definition, title: `I${pascal(name)}${isMessage ? 'Message' : ''}` };
  }
  return {
    title: 'IMessagePayloads',
    description: 'The payload of each message type of this protocol version.',
    type: 'object',
    properties: schema.messages,
    required: messages,
    additionalProperties: false,
    definitions
  };
}

/** The text of src/_schema.ts for the schema on disk. */
async function generate() {
  const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf-8'));
  const style = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf-8')).prettier;
  const types = await compile(typedSchema(schema), 'IMessagePayloads', {
    bannerComment: BANNER,
    additionalProperties: false,
    declareExternallyReferenced: true,
    unreachableDefinitions: false,
    format: false
  });
  const text =
    types +
    "\n/** The protocol's JSON Schema, as in schema.json. */\n" +
    `export const PROTOCOL_SCHEMA: { [key: string]: unknown } = ${JSON.stringify(schema)};\n`;
  return prettier.format(text, { ...style, parser: 'typescript' });
}

async function main() {
  const text = await generate();
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(OUTPUT_PATH) ? fs.readFileSync(OUTPUT_PATH, 'utf-8') : '';
    if (current !== text) {
      console.error(
        'src/_schema.ts is out of date with python/jupyter_metaflow/protocol/schema.json: ' +
          'run `npm run build:schema` and commit it.'
      );
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(OUTPUT_PATH, text);
}

module.exports = { generate, OUTPUT_PATH };

if (require.main === module) {
  main().catch(err => {
    console.error(err);
    process.exit(1);
  });
}

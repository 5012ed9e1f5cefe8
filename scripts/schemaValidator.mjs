// esbuild plugin: compiles schemas/gpumod.schema.json with ajv at build time into a standalone
// validator module, so the schema stays the single source of truth and the bundles carry only the
// generated checks and ajv's small runtime helpers, not its compiler.
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCHEMA = join(root, 'schemas/gpumod.schema.json');
export const MODULE = 'gpumod:schema-validator';

let cached = { schema: '', source: '' };

/** The generated validator's source (an ES module exporting `validate`), generated once per schema text. */
export function validatorSource() {
  const text = readFileSync(SCHEMA, 'utf8');
  if (cached.schema === text) return cached.source;
  // allErrors: one run shows every problem; verbose: errors carry the schema, its x-expected words and the value.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, code: { source: true, esm: true } });
  ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' });
  cached = { schema: text, source: standaloneCode(ajv, ajv.compile(JSON.parse(text))) };
  return cached.source;
}

export function schemaValidator() {
  return {
    name: 'gpumod-schema-validator',
    setup(build) {
      build.onResolve({ filter: /^gpumod:schema-validator$/ }, (args) => ({ path: args.path, namespace: 'gpumod-schema' }));
      build.onLoad({ filter: /.*/, namespace: 'gpumod-schema' }, () => ({
        contents: validatorSource(),
        loader: 'js',
        resolveDir: root,
        watchFiles: [SCHEMA],
      }));
    },
  };
}

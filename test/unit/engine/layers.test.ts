// The engine declares its ports; drivers and adapters implement them. It imports nothing from the
// layers that implement or use it (DESIGN.md, "Layers").
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';

const ENGINE = 'src/engine';
const FORBIDDEN = ['src/drivers', 'src/system', 'src/ui', 'src/cli', 'src/machine', 'src/extension', 'src/cli.ts'];
// Outside the engine it may use the config's types and the shared error module only.
const ALLOWED_OUTSIDE = ['src/config/types', 'src/errors'];

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^']+)'/g), ...text.matchAll(/(?:require|import)\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]);
}

describe('engine layering', () => {
  it('imports nothing from drivers, system, ui, cli or the composition roots', () => {
    const bad: string[] = [];
    const files = readdirSync(ENGINE).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 10, 'the engine folder was not found');
    for (const f of files) {
      for (const spec of importsOf(join(ENGINE, f))) {
        if (!spec.startsWith('.')) {
          bad.push(`${f}: ${spec} (a package: the engine is pure)`);
          continue;
        }
        const target = normalize(join(ENGINE, spec));
        if (target.startsWith(ENGINE + '/')) continue;
        if (FORBIDDEN.some((p) => target === p || target.startsWith(p + '/')) || !ALLOWED_OUTSIDE.includes(target)) bad.push(`${f}: ${spec}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('uses only config types that import nothing else', () => {
    assert.deepEqual(importsOf('src/config/types.ts').filter((s) => !s.startsWith('./')), []);
    assert.deepEqual(importsOf('src/errors.ts'), []);
  });
});

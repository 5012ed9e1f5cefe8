// Rewrites the README's benchmark figures from bench-results/bench.json (written by `npm run bench`):
// everything between the markers `<!-- bench:start … -->` and `<!-- bench:end -->`, so the table,
// the machine it ran on and the goals' verdicts always come from one run.
//   node scripts/benchTable.mjs [--json bench-results/bench.json] [--readme README.md] [--check]
// --check: exit 1 when the README differs from what the JSON gives (and write nothing).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rewrite } from './benchSection.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const jsonPath = arg('json', join(REPO, 'bench-results/bench.json'));
const readmePath = arg('readme', join(REPO, 'README.md'));
try {
  const readme = readFileSync(readmePath, 'utf8');
  const next = rewrite(readme, JSON.parse(readFileSync(jsonPath, 'utf8')));
  if (process.argv.includes('--check')) {
    if (next !== readme) {
      process.stderr.write(`${readmePath}: the benchmark section differs from ${jsonPath}\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(readmePath, next);
    process.stdout.write(`${readmePath}: benchmark section rewritten from ${jsonPath}\n`);
  }
} catch (e) {
  process.stderr.write(`benchTable: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

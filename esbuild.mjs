// Bundles the extension and the CLI into dist/, and (with --tests) every test file and fake into out/.
// Usage: node esbuild.mjs [--production] [--tests] [--watch]
import { build, context } from 'esbuild';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { schemaValidator } from './scripts/schemaValidator.mjs';

const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  // vscode is provided by the extension host; mocha and playwright are loaded from node_modules by tests.
  // usocket and x11 are dbus-next's optional native helpers, required only where it falls back without them.
  external: ['vscode', 'mocha', 'playwright-core', 'usocket', 'x11'],
  plugins: [schemaValidator()],
};

function files(dir, pick) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, pick));
    else if (pick(p)) out.push(p);
  }
  return out;
}

// The libraries only the machine side needs (processes, YAML, D-Bus) are 1 MB of the extension's code.
// The extension bundle requires them from dist/vendor/, and only once a config is loaded (after
// activate returns), so a window does not compile or run them while it starts. See costMeter.ts.
// Each is a bundle of its own, dist/vendor/<name>.js, built from `entry`; `import` is how src names it.
const VENDOR = {
  execa: { import: 'execa', entry: 'execa' },
  yaml: { import: 'yaml', entry: 'yaml' },
  'dbus-next': { import: 'dbus-next', entry: 'dbus-next' },
};
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const vendorExternal = {
  name: 'gpumod-vendor-external',
  setup(build) {
    for (const [name, v] of Object.entries(VENDOR)) {
      build.onResolve({ filter: new RegExp(`^${escape(v.import)}$`) }, () => ({ path: `./vendor/${name}.js`, external: true }));
    }
  },
};

// The extension is two bundles: dist/extension.js, what a window runs while it starts, and dist/core.js
// (src/ui/core.ts: the engine, the adapters, config loading), required by src/ui/useCore.ts on first use.
const coreExternal = {
  name: 'gpumod-core-external',
  setup(build) {
    build.onResolve({ filter: /^\.\/core$/ }, (args) => (args.importer.endsWith(join('src', 'ui', 'useCore.ts')) ? { path: './core.js', external: true } : undefined));
  },
};

const targets = [
  { ...common, entryPoints: { extension: 'src/extension.ts' }, outdir: 'dist', plugins: [...common.plugins, vendorExternal, coreExternal] },
  { ...common, entryPoints: { core: 'src/ui/core.ts' }, outdir: 'dist', plugins: [...common.plugins, vendorExternal] },
  { ...common, entryPoints: Object.fromEntries(Object.entries(VENDOR).map(([name, v]) => [`vendor/${name}`, v.entry])), outdir: 'dist' },
  { ...common, entryPoints: { cli: 'src/cli.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
];
if (tests) {
  const entries = files('test', (p) => /\.test\.ts$/.test(p) || /^test\/(fakes|host|ui)\/[^/_][^/]*\.ts$/.test(p) || /^test\/integration\/setup\.ts$/.test(p) || /\.nested\.ts$/.test(p) || /^test\/bench\/[^/_][^/]*\.ts$/.test(p));
  targets.push({ ...common, entryPoints: entries, outdir: 'out', outbase: '.' });
  targets.push({ ...common, entryPoints: files('demo', (p) => /^demo\/main\.ts$/.test(p)), outdir: 'out', outbase: '.' });
  const scripts = files('scripts', (p) => p.endsWith('.ts'));
  if (scripts.length) targets.push({ ...common, entryPoints: scripts, outdir: 'out', outbase: '.' });
}

if (watch) {
  for (const t of targets) await (await context(t)).watch();
} else {
  const t0 = Date.now();
  await Promise.all(targets.map((t) => build(t)));
  console.log(`esbuild: ${targets.length} bundles in ${Date.now() - t0} ms${production ? ' (production)' : ''}`);
}

// `npm run package` builds a small gpumod.vsix (no sources, tests or maps) that the test VS Code
// server (code-server's, from `npm run setup:host`) installs offline.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePortBase } from '../../../demo/ports';

const REPO = process.cwd();
const SERVER_MAIN = join(REPO, '.vscode-test/code-server/node_modules/code-server/lib/vscode/out/server-main.js');

interface Run {
  code: number;
  out: string;
}

function run(file: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: REPO, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): [number, number] {
  const b = readFileSync(file);
  assert.equal(b.subarray(1, 4).toString('latin1'), 'PNG', `${file} is not a PNG`);
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

interface Page {
  goto(url: string): Promise<unknown>;
  locator(selector: string, opts?: { hasText?: string | RegExp }): { first(): { waitFor(o: { timeout: number }): Promise<void> } };
}
interface Browser {
  newPage(o?: unknown): Promise<Page>;
  close(): Promise<void>;
}

describe('npm run package (gpumod.vsix)', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-vsix-'));
  const vsix = join(dir, 'gpumod.vsix');
  let packaged: Run;
  let entries: string[];

  before(async () => {
    packaged = await run('npm', ['run', 'package', '--', '--out', vsix]);
    const listing = await run('unzip', ['-Z1', vsix]);
    entries = listing.out.split('\n').filter(Boolean);
  });

  after(async () => {
    // vsce's prepublish left a minified dist/: the development build (with source maps) again.
    await run(process.execPath, ['esbuild.mjs']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('packages the bundle, README, CHANGELOG, LICENSE, the icon and the schema, and prints its size', () => {
    assert.equal(packaged.code, 0, packaged.out);
    assert.match(packaged.out, /Packaged: .*gpumod\.vsix \(\d+ files, [\d.]+ KB\)/);
    for (const f of ['extension/package.json', 'extension/dist/extension.js', 'extension/readme.md', 'extension/changelog.md', 'extension/LICENSE.txt', 'extension/media/icon.png', 'extension/schemas/gpumod.schema.json']) {
      assert.ok(entries.includes(f), `${f} missing from the vsix: ${entries.join(', ')}`);
    }
    assert.deepEqual(pngSize(join(REPO, 'media/icon.png')), [128, 128]);
  });

  it('holds no sources, tests, maps or build files, and stays small', () => {
    const unwanted = entries.filter((e) => /^extension\/(src|test|out|demo|scripts|node_modules|\.vscode-test|\.ci)\/|\.map$|\.ts$|tsconfig|esbuild\.mjs|package-lock/.test(e));
    assert.deepEqual(unwanted, []);
    const kb = statSync(vsix).size / 1024;
    assert.ok(kb <= 500, `gpumod.vsix is ${kb.toFixed(0)} KB (the goal: at most 500 KB)`);
  });

  it('installs into the test VS Code server, which then lists it', async function () {
    if (!existsSync(SERVER_MAIN)) assert.fail(`VS Code server missing: run npm run setup:host (${SERVER_MAIN})`);
    const exts = join(dir, 'extensions');
    const common = ['--extensions-dir', exts, '--server-data-dir', join(dir, 'server'), '--accept-server-license-terms'];
    const install = await run(process.execPath, [SERVER_MAIN, '--install-extension', vsix, ...common]);
    assert.equal(install.code, 0, install.out);
    assert.match(install.out, /successfully installed/);
    const list = await run(process.execPath, [SERVER_MAIN, '--list-extensions', '--show-versions', ...common]);
    assert.match(list.out, /^gpumod\.gpumod@0\.1\.0$/m);
    const installed = join(exts, 'gpumod.gpumod-0.1.0');
    assert.ok(existsSync(join(installed, 'dist/extension.js')));
    assert.equal((JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { icon?: string }).icon, 'media/icon.png');
  });

  it('activates from the installed vsix in the workbench: status bar item and GPU view', async () => {
    const exts = join(dir, 'extensions');
    assert.ok(existsSync(join(exts, 'gpumod.gpumod-0.1.0')), 'the previous test installs it');
    // The server as scripts/vscodeServer.mjs starts it, but on the extensions directory holding the
    // installed vsix and without extensionDevelopmentPath: the packaged extension is what runs.
    const data = join(dir, 'data');
    mkdirSync(join(data, 'User'), { recursive: true });
    writeFileSync(join(data, 'User/settings.json'), JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'none', 'extensions.autoUpdate': false, 'telemetry.telemetryLevel': 'off' }));
    const workspace = join(dir, 'workspace');
    mkdirSync(workspace);
    const port = await freePortBase(1);
    const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state'), GPUMOD_CONFIG: '' };
    const server = spawn(process.execPath, [SERVER_MAIN, '--host', '127.0.0.1', '--port', String(port), '--without-connection-token', '--accept-server-license-terms', '--telemetry-level', 'off', '--server-data-dir', join(dir, 'server'), '--user-data-dir', data, '--extensions-dir', exts], { detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    server.stdout.on('data', (d: Buffer) => (output += d));
    server.stderr.on('data', (d: Buffer) => (output += d));
    let browser: Browser | undefined;
    try {
      for (let i = 0; i < 300 && !/Extension host agent listening on/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(output, /Extension host agent listening on/);
      const { launchBrowser } = (await import(pathToFileURL(join(REPO, 'scripts/vscodeServer.mjs')).href)) as { launchBrowser(): Promise<Browser> };
      browser = await launchBrowser();
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
      // No configuration here: the item reads "gpumod" and offers to create one.
      await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /^\s*gpumod$/ }).first().waitFor({ timeout: 90_000 });
      await page.locator('.activitybar .action-item a[aria-label^="GPU"]').first().waitFor({ timeout: 10_000 });
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver output:\n${output.slice(-3000)}`);
    } finally {
      await browser?.close();
      try {
        process.kill(-(server.pid as number), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  });
});

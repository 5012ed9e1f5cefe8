// Starts the real VS Code server (from the npm package code-server, installed by setupVscodeHost.sh)
// and headless Debian chromium on its workbench. Shared by the host tests, the UI tests, the
// screenshots and `npm run demo -- --vscode`.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(new URL('..', import.meta.url).pathname);
export const SERVER_MAIN = process.env.VSCODE_SERVER_MAIN
  || join(REPO, '.vscode-test/code-server/node_modules/code-server/lib/vscode/out/server-main.js');

/**
 * Starts the server on 127.0.0.1 with a fresh user-data dir. `env` reaches the extension host
 * (it inherits the server's environment), which is how tests point gpumod at a sandbox.
 */
export async function startServer({ env = {}, settings = {}, port = 0, log = () => {} } = {}) {
  if (!existsSync(SERVER_MAIN)) throw new Error(`VS Code server missing: run npm run setup:host (${SERVER_MAIN})`);
  const tmp = mkdtempSync(join(tmpdir(), 'gpumod-vscode-'));
  mkdirSync(join(tmp, 'data/User'), { recursive: true });
  writeFileSync(join(tmp, 'data/User/settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'workbench.colorTheme': 'Default Dark Modern',
    ...settings,
  }));
  // Below Linux's ephemeral range (32768+), where an outgoing connection could hold the port first.
  const chosen = port || 20000 + Math.floor(Math.random() * 12000);
  const child = spawn(process.execPath, [SERVER_MAIN, '--host', '127.0.0.1', '--port', String(chosen),
    '--without-connection-token', '--accept-server-license-terms', '--enable-smoke-test-driver',
    '--telemetry-level', 'off', '--server-data-dir', join(tmp, 'server'), '--user-data-dir', join(tmp, 'data'),
    '--extensions-dir', join(tmp, 'exts')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
  let output = '';
  const onData = (d) => { output += d; log(String(d)); };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  await new Promise((res, rej) => {
    const timer = setInterval(() => {
      if (/Extension host agent listening on/.test(output)) { clearInterval(timer); res(); }
    }, 50);
    child.on('exit', (c) => { clearInterval(timer); rej(new Error(`VS Code server exited ${c}:\n${output}`)); });
  });
  return {
    port: chosen,
    tmp,
    output: () => output,
    url: (folder, payload) => `http://127.0.0.1:${chosen}/?folder=${encodeURIComponent(folder)}` + (payload ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''),
    remote: (p) => `vscode-remote://127.0.0.1:${chosen}${p}`,
    // The server, its extension host and watchers share a process group.
    stop: () => { try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ } },
  };
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The machine has no network: background networking only produces refused connections.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/**
 * Writes a screenshot (PNG bytes) as docs/images/<name>.webp for the README, encoded by the page's
 * own canvas: lossless or lossy at 0.85, whichever is smaller. The README's pictures ship in the
 * vsix, and WebP keeps them a third of the PNGs' size.
 */
export async function writeReadmeImage(page, png, name) {
  const encoded = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    c.getContext('2d').drawImage(img, 0, 0);
    return [c.toDataURL('image/webp', 1), c.toDataURL('image/webp', 0.85)];
  }, png.toString('base64'));
  const [best] = encoded.map((u) => Buffer.from(u.slice(u.indexOf(',') + 1), 'base64')).sort((a, b) => a.length - b.length);
  const dir = join(REPO, 'docs/images');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.webp`), best);
  return join(dir, `${name}.webp`);
}

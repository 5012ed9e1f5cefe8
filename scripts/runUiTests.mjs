#!/usr/bin/env node
// UI tests on the real workbench (code-server's VS Code in headless chromium, driven by Playwright),
// in front of the demo workstation: click the status bar item, pick a mode in the quick pick with
// its preview, watch the services view follow, and check a sleeping service's context menu offers
// Wake and not Sleep. With --screenshots it also writes PNGs into screenshots/ (git-ignored).
// The selectors are VS Code internals of the pinned code-server 4.100.3.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorkstation } from './hostFixture.mjs';
import { discoveryUi } from './uiDiscovery.mjs';
import { REPO, launchBrowser, startServer } from './vscodeServer.mjs';

const shots = process.argv.includes('--screenshots');
const outDir = join(REPO, 'screenshots');
const t0 = Date.now();
const log = (m) => console.log(`[ui ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
let passed = 0;
let failed = 0;

async function step(name, fn) {
  try {
    await fn();
    passed++;
    log(`✔ ${name}`);
  } catch (e) {
    failed++;
    log(`✗ ${name}\n${e.stack ?? e}`);
  }
}

const ws = await startWorkstation(['--port-base', '19900']);
let server;
let browser;
try {
  const work = mkdtempSync(join(tmpdir(), 'gpumod-ui-'));
  mkdirSync(join(work, 'workspace'), { recursive: true });
  server = await startServer({ env: ws.env, settings: { 'security.workspace.trust.enabled': false, 'gpumod.pollIntervalSeconds': 1 } });
  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  await page.goto(server.url(join(work, 'workspace'), [['extensionDevelopmentPath', server.remote(REPO)], ['skipWelcome', 'true']]));
  if (shots) mkdirSync(outDir, { recursive: true });
  const shot = async (name, locator) => {
    if (!shots) return;
    await (locator ?? page).screenshot({ path: join(outDir, `${name}.png`) });
    log(`screenshot screenshots/${name}.png`);
  };
  const statusItem = page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /blank|code|rag|no mode|→/ }).first();

  await step('the status bar shows the mode and the VRAM in use', async () => {
    await statusItem.waitFor({ timeout: 90000 });
    // The default dark theme, as users see it (the web workbench keeps the theme in the browser).
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await page.keyboard.press('Control+K');
    await page.keyboard.press('Control+T');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Dark Modern' }).first().waitFor({ timeout: 10000 });
    await page.keyboard.type('Dark Modern');
    await page.keyboard.press('Enter');
    await page.locator('.monaco-workbench.vs-dark').waitFor({ timeout: 10000 });
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'blank · 0.0/32.6 GB' }).waitFor({ timeout: 60000 });
  });

  await step('the GPU view lists the services with their states', async () => {
    await page.locator('.activitybar .action-item a[aria-label^="GPU"]').click();
    const rows = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Services' }) }).locator('.monaco-list-row');
    await rows.filter({ hasText: 'vllm-chat' }).waitFor({ timeout: 30000 });
    const texts = await rows.allInnerTexts();
    assert.ok(texts.some((t) => /GPU 0/.test(t)), texts.join(' | '));
    assert.ok(texts.some((t) => /glm-code\s*stopped/.test(t)), texts.join(' | '));
  });

  const pickMode = async (mode, { screenshot } = {}) => {
    await statusItem.click();
    const widget = page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 15000 });
    // The previews arrive after one observation: wait for them, they are the point of this pick.
    await widget.locator('.monaco-list-row', { hasText: mode }).locator('.quick-input-list-label-meta, .monaco-icon-label-container').first().waitFor({ timeout: 15000 });
    await widget.locator('.monaco-list-row', { hasText: /VRAM after/ }).first().waitFor({ timeout: 30000 });
    if (screenshot) await shot(screenshot);
    await page.keyboard.type(mode);
    await page.keyboard.press('Enter');
  };

  await step('click the status bar, pick "code" with its preview: the switch runs with progress', async () => {
    await pickMode('code', { screenshot: 'quick-pick-preview' });
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'blank → code' }).waitFor({ timeout: 15000 });
    await shot('switch-in-progress');
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /code · \d+\.\d\/32\.6 GB/ }).waitFor({ timeout: 60000 });
    await page.locator('.notifications-toasts .notification-toast', { hasText: /code in .* woken/ }).waitFor({ timeout: 15000 });
  });

  await step('switch to rag: the tree shows glm-code asleep and the rag services running', async () => {
    await pickMode('rag');
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /rag · / }).waitFor({ timeout: 60000 });
    const rows = page.locator('.monaco-list-row');
    await rows.filter({ hasText: /glm-code\s*asleep/ }).waitFor({ timeout: 15000 });
    await rows.filter({ hasText: /vllm-hyde\s*running/ }).waitFor({ timeout: 15000 });
    await shot('services-mixed-states', page.locator('#workbench\\.parts\\.sidebar'));
    await statusItem.hover();
    await page.locator('.monaco-hover', { hasText: 'Service' }).waitFor({ timeout: 10000 });
    await shot('status-bar-tooltip');
    await page.mouse.move(700, 400);
  });

  await step('from rag, the Switch Mode preview says what sleeps and what wakes', async () => {
    await statusItem.click();
    const widget = page.locator('.quick-input-widget');
    await widget.locator('.monaco-list-row', { hasText: /wakes glm-code/ }).waitFor({ timeout: 30000 });
    await shot('quick-pick-preview-warm');
    await page.keyboard.press('Escape');
  });

  await step('the context menu of a sleeping service offers Wake, not Sleep', async () => {
    await page.locator('.monaco-list-row', { hasText: /glm-code\s*asleep/ }).click({ button: 'right' });
    const menu = page.locator('.monaco-menu').first();
    await menu.waitFor({ timeout: 10000 });
    const items = (await menu.locator('.action-label').allInnerTexts()).map((s) => s.trim()).filter(Boolean);
    await page.waitForTimeout(300); // the menu fades in
    await shot('context-menu-sleeping');
    await page.keyboard.press('Escape');
    assert.ok(items.includes('Wake Service'), items.join(', '));
    assert.ok(!items.includes('Sleep Service'), items.join(', '));
    assert.ok(items.includes('Show Service Logs'), items.join(', '));
  });

  await step('the context menu of a running vLLM service offers Sleep and Stop, not Wake', async () => {
    await page.locator('.monaco-list-row', { hasText: /vllm-chat\s*running/ }).click({ button: 'right' });
    const menu = page.locator('.monaco-menu').first();
    await menu.waitFor({ timeout: 10000 });
    const items = (await menu.locator('.action-label').allInnerTexts()).map((s) => s.trim()).filter(Boolean);
    await page.keyboard.press('Escape');
    assert.ok(items.includes('Sleep Service') && items.includes('Stop Service'), items.join(', '));
    assert.ok(!items.includes('Wake Service'), items.join(', '));
  });

  await step('status bar close-up', async () => {
    await shot('status-bar', page.locator('#workbench\\.parts\\.statusbar'));
  });
} finally {
  try { await browser?.close(); } catch { /* gone */ }
  server?.stop();
  await ws.stop();
}
await discoveryUi({ step, log, shots, outDir }).catch((e) => {
  failed++;
  log(`✗ Detect Services in the workbench\n${e.stack ?? e}`);
});
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

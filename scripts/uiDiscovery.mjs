// The Detect Services part of the UI tests (scripts/runUiTests.mjs): a window with no configuration in
// front of units with real-shaped command lines (test/host/discoveryFixture.ts). The user clicks
// "Detect Services" in the GPU view's welcome, accepts the preselected services and "One mode per
// service" with Enter, sees the proposal as a diff, clicks Apply; the services view then lists them.
// The selectors are VS Code internals of the pinned code-server 4.100.3.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorkstation } from './hostFixture.mjs';
import { REPO, launchBrowser, startServer, writeReadmeImage } from './vscodeServer.mjs';

export async function discoveryUi({ step, log, shots = false, outDir, portBase = 19950 }) {
  const units = await startWorkstation(['--port-base', String(portBase)], 'discoveryFixture.js');
  let server;
  let browser;
  try {
    const work = mkdtempSync(join(tmpdir(), 'gpumod-ui-discovery-'));
    mkdirSync(join(work, 'workspace'), { recursive: true });
    const config = join(units.env.XDG_CONFIG_HOME, 'gpumod', 'gpumod.yaml');
    server = await startServer({ env: units.env, settings: { 'security.workspace.trust.enabled': false, 'gpumod.pollIntervalSeconds': 1, 'diffEditor.renderSideBySide': false } });
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    await page.goto(server.url(join(work, 'workspace'), [['extensionDevelopmentPath', server.remote(REPO)], ['skipWelcome', 'true']]));
    log('discovery: workbench loaded');
    const shot = async (name, locator, readme) => {
      if (!shots) return;
      mkdirSync(outDir, { recursive: true });
      const png = await (locator ?? page).screenshot({ path: join(outDir, `${name}.png`) });
      log(`screenshot screenshots/${name}.png`);
      if (readme) log(`README image ${await writeReadmeImage(page, png, readme)}`);
    };

    await step('with no configuration, the GPU view offers Detect Services first', async () => {
      await page.locator('.activitybar .action-item a[aria-label^="GPU"]').click({ timeout: 90000 });
      const welcome = page.locator('.welcome-view-content');
      await welcome.locator('a.monaco-button, .monaco-button', { hasText: 'Detect Services' }).waitFor({ timeout: 60000 });
      const buttons = (await welcome.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
      assert.equal(buttons[0], 'Detect Services', buttons.join(', '));
      await shot('discovery-welcome', page.locator('#workbench\\.parts\\.sidebar'));
    });

    await step('Detect Services: pick the services and the modes with the keyboard, review the diff, Apply', async () => {
      await page.locator('.welcome-view-content .monaco-button', { hasText: 'Detect Services' }).click();
      const widget = page.locator('.quick-input-widget');
      await widget.locator('.monaco-list-row', { hasText: 'discovery-chat' }).waitFor({ timeout: 60000 });
      const rows = await widget.locator('.monaco-list-row').allInnerTexts();
      assert.ok(rows.some((r) => /qwen3-8b-q4/.test(r)), rows.join(' | '));
      await page.waitForTimeout(500); // the progress toast fades out
      await shot('discovery-services');
      await page.keyboard.press('Enter');
      await widget.locator('.monaco-list-row', { hasText: 'One mode per service' }).waitFor({ timeout: 15000 });
      await page.keyboard.press('Enter');
      const diff = page.locator('.editor-instance .monaco-diff-editor');
      await diff.waitFor({ timeout: 30000 });
      await page.locator('.tab', { hasText: 'Detected Services' }).waitFor({ timeout: 15000 });
      await diff.locator('.view-line', { hasText: 'measured now' }).first().waitFor({ timeout: 15000 });
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Review the diff first' });
      await toast.waitFor({ timeout: 15000 });
      await page.waitForTimeout(500); // the toast fades in
      await shot('discovery-diff', page.locator('#workbench\\.parts\\.editor'), 'detect-services');
      assert.equal(existsSync(config), false, 'nothing written before Apply');
      await toast.locator('.monaco-button', { hasText: 'Apply' }).click();
      await page.locator('.monaco-list-row', { hasText: /discovery-chat\s*running/ }).waitFor({ timeout: 60000 });
      const text = readFileSync(config, 'utf8');
      assert.match(text, /discovery-chat:\n {4}driver: vllm/);
      assert.match(text, /sleep: l1/);
      await shot('discovery-applied', page.locator('#workbench\\.parts\\.sidebar'));
    });
  } finally {
    try { await browser?.close(); } catch { /* gone */ }
    server?.stop();
    await units.stop();
  }
}

#!/usr/bin/env node
// UI tests on the real workbench (code-server's VS Code in headless chromium, driven by Playwright),
// in front of the demo workstation: click the status bar item, pick a mode in the quick pick with
// its preview, watch the services view follow, and check a sleeping service's context menu offers
// Wake and not Sleep. The chart panels (timeline, GPU memory, switch preview) are read inside their
// webviews (nested iframes) and checked against the history and the tree, by mouse and keyboard, in
// a dark, a light and a high-contrast theme. With --screenshots it also writes PNGs into screenshots/
// (git-ignored). The selectors are VS Code internals of the pinned code-server 4.100.3.
// UI_PORT_BASE moves the demo's eight ports (default 19900) when two runs share a machine.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorkstation } from './hostFixture.mjs';
import { discoveryUi } from './uiDiscovery.mjs';
import { REPO, launchBrowser, startServer, writeReadmeImage } from './vscodeServer.mjs';

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

const ws = await startWorkstation(['--port-base', process.env.UI_PORT_BASE || '19900']);

/** The switches gpumod recorded, oldest first (the workstation's state dir). */
function history() {
  const text = readFileSync(join(ws.env.XDG_STATE_HOME, 'gpumod', 'history.jsonl'), 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
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
  /** screenshots/<name>.png; with `readme`, also the README's docs/images/<readme>.webp. */
  const shot = async (name, locator, readme) => {
    if (!shots) return;
    const png = await (locator ?? page).screenshot({ path: join(outDir, `${name}.png`) });
    log(`screenshot screenshots/${name}.png`);
    if (readme) log(`README image ${await writeReadmeImage(page, png, readme)}`);
  };
  /** A picture of a webview's region from the top of `from` to the bottom of `to` (the README's images). */
  const shotRegion = async (readme, frame, from, to) => {
    if (!shots) return;
    const top = await frame.locator(from).first().boundingBox();
    const bottom = await frame.locator(to).last().boundingBox();
    const ed = await editor.boundingBox();
    const y = Math.max(ed.y, top.y - 12);
    const png = await page.screenshot({ clip: { x: ed.x, y, width: ed.width, height: Math.min(ed.y + ed.height, bottom.y + bottom.height + 12) - y } });
    log(`README image ${await writeReadmeImage(page, png, readme)}`);
  };
  const statusItem = page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /blank|code|rag|no mode|→/ }).first();
  const editor = page.locator('#workbench\\.parts\\.editor');

  /**
   * The frame of the visible webview that shows `selector`. A webview is an iframe holding another
   * (the page itself); only the active tab of a group has one, hidden panels are not retained.
   */
  const webview = async (selector, timeout = 30000) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const f of page.frames()) {
        if (f === page.mainFrame()) continue;
        try {
          if ((await f.locator(selector).count()) > 0) return f;
        } catch { /* the frame went away */ }
      }
      if (Date.now() > deadline) throw new Error(`no webview shows ${selector}; frames: ${page.frames().map((f) => f.url()).join(' | ')}`);
      await page.waitForTimeout(250);
    }
  };
  /** Runs a command from the palette by its title, as a keyboard user does. */
  const command = async (title) => {
    const widget = page.locator('.quick-input-widget');
    // A quick pick still closing (the theme picker's) would take the keys meant for the palette.
    await widget.waitFor({ state: 'hidden', timeout: 10000 }).catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      await page.keyboard.press('F1');
      await widget.waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.type(title);
      try {
        await widget.locator('.monaco-list-row', { hasText: title }).first().waitFor({ timeout: 10000 });
        break;
      } catch (e) {
        // Once: keys typed while the palette was still opening can be lost; a second F1 starts afresh.
        if (attempt === 2) throw e;
        console.log(`[ui] the palette did not list "${title}" (it shows "${await widget.locator('input').first().inputValue().catch(() => '?')}"): again`);
        await page.keyboard.press('Escape');
        await widget.waitFor({ state: 'hidden', timeout: 10000 }).catch(() => undefined);
      }
    }
    await page.keyboard.press('Enter');
  };
  const setTheme = async (name, cls) => {
    await page.keyboard.press('Control+K');
    await page.keyboard.press('Control+T');
    await page.locator('.quick-input-widget').waitFor({ state: 'visible', timeout: 10000 });
    // The list is virtual: a theme far down has no row until the filter brings it up.
    await page.keyboard.type(name);
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
    await page.locator(`.monaco-workbench.${cls}`).waitFor({ timeout: 10000 });
    // The picker previews the theme under the cursor: the class can arrive before Enter closes it,
    // and an F1 pressed into a closing picker is lost.
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10000 });
  };
  /** The step rows of the timeline chart, with their bars and the table's rows, as data. */
  const readTimeline = (frame) =>
    frame.evaluate(() => {
      const rows = [...document.querySelectorAll('.gantt [data-kind="step"]')];
      return {
        title: document.querySelector('section.timeline h1')?.textContent,
        steps: rows.map((r) => ({
          index: Number(r.getAttribute('data-index')),
          service: r.getAttribute('data-service'),
          action: r.getAttribute('data-action'),
          ms: Number(r.getAttribute('data-ms')),
          result: r.getAttribute('data-result'),
          critical: r.getAttribute('data-critical') === 'true',
          label: r.querySelector('.label .name')?.textContent,
          bars: r.querySelectorAll('rect.bar').length,
          barWidth: r.querySelector('rect.bar')?.getBoundingClientRect().width ?? 0,
        })),
        table: [...document.querySelectorAll('table.steps-table tbody tr')].map((tr) => ({ index: Number(tr.getAttribute('data-index')), cells: [...tr.children].map((c) => c.textContent) })),
      };
    });
  /** The stacked bars of a memory chart: each segment as data, and the bar's width on screen. */
  const readBars = (frame, scope = '') =>
    frame.evaluate((scope) => {
      return [...document.querySelectorAll(`${scope} figure.memory`)].map((f) => ({
        gpu: f.getAttribute('data-gpu'),
        totalMb: Number(f.getAttribute('data-total-mb')),
        heading: f.querySelector('h2, h3')?.textContent,
        segments: [...f.querySelectorAll('svg.membar rect.seg')].map((r) => ({ kind: r.getAttribute('data-kind'), service: r.getAttribute('data-service'), mb: Number(r.getAttribute('data-mb')), source: r.getAttribute('data-source'), width: r.getBoundingClientRect().width })),
        rows: document.querySelectorAll(`table[data-for="${f.getAttribute('data-id')}"] tbody tr`).length,
        barWidth: f.querySelector('svg.membar')?.getBoundingClientRect().width ?? 0,
      }));
    }, scope);
  /** What the theme made of the chart: the body's theme class and the computed colours of a bar. */
  const themeOf = (frame, selector) =>
    frame.evaluate((selector) => {
      const el = document.querySelector(selector);
      const cs = el ? getComputedStyle(el) : undefined;
      const probe = document.createElement('span');
      document.body.append(probe);
      const resolve = (v) => {
        probe.style.color = `var(${v})`;
        return getComputedStyle(probe).color;
      };
      const out = { body: document.body.className, fill: cs?.fill, stroke: cs?.stroke, error: resolve('--vscode-errorForeground'), contrast: resolve('--vscode-contrastBorder'), green: resolve('--vscode-charts-green'), blue: resolve('--vscode-charts-blue') };
      probe.remove();
      return out;
    }, selector);

  /** Hovers the status item until its tooltip matches (a hover shows the tooltip of the moment it opened). */
  const tooltipUntil = async (re, { timeout = 20000, screenshot } = {}) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      await statusItem.hover();
      // Editors keep hidden hover widgets of their own: the status bar's is the visible one.
      const hover = page.locator('.monaco-hover:visible').first();
      const text = await hover.waitFor({ timeout: 5000 }).then(() => hover.innerText(), () => '');
      if (re.test(text) && screenshot) await shot(screenshot);
      await page.mouse.move(700, 400);
      if (re.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`the tooltip never matched ${re}: ${text}`);
      await page.waitForTimeout(500);
    }
  };

  await step('a click on the status bar as soon as it shows (config loading or not) opens Switch Mode, never the file', async () => {
    // The item names itself "gpumod: …" to screen readers whatever it shows: loading, or the mode.
    const first = page.locator('#workbench\\.parts\\.statusbar .statusbar-item:has([aria-label^="gpumod:"])').first();
    await first.waitFor({ timeout: 90000 });
    const shown = await first.innerText();
    await first.click();
    const widget = page.locator('.quick-input-widget');
    await widget.locator('.monaco-list-row', { hasText: 'rag' }).first().waitFor({ timeout: 30000 });
    assert.equal(await page.locator('.tabs-container .tab', { hasText: 'gpumod.yaml' }).count(), 0, 'no editor on the config');
    log(`  (clicked while the item read "${shown.trim()}")`);
    await page.keyboard.press('Escape');
  });

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

  await step('one character typed into gpumod.yaml and saved: the mode stays, the tooltip counts the problem, a click still switches', async () => {
    await command('gpumod: Open Configuration');
    const tab = page.locator('.tabs-container .tab', { hasText: 'gpumod.yaml' });
    await tab.waitFor({ timeout: 15000 });
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('x');
    await page.keyboard.press('Control+S');
    await tooltipUntil(/gpumod\.yaml has 1 problem: the last valid configuration stays in force/, { screenshot: 'status-bar-config-problem' });
    assert.match(await statusItem.innerText(), /blank · 0\.0\/32\.6 GB/);
    await statusItem.click();
    const widget = page.locator('.quick-input-widget');
    await widget.locator('.monaco-list-row', { hasText: 'gpumod.yaml has 1 problem' }).waitFor({ timeout: 15000 });
    await widget.locator('.monaco-list-row', { hasText: 'rag' }).first().waitFor({ timeout: 15000 });
    await page.keyboard.press('Escape');
    // Mended: the warning goes, the mode was never gone.
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Delete');
    await page.keyboard.press('Control+S');
    await tooltipUntil(/^(?![\s\S]*problem)[\s\S]*Service/);
    assert.match(await statusItem.innerText(), /blank · 0\.0\/32\.6 GB/);
    await command('View: Close All Editors');
    await tab.waitFor({ state: 'detached', timeout: 10000 });
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

  await step('"Show Timeline" on the notification opens the chart: one bar per recorded step, the same as the table and the history', async () => {
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /code in .* woken/ });
    await toast.locator('.monaco-button', { hasText: 'Show Timeline' }).click();
    const frame = await webview('section.timeline');
    const last = history().filter((r) => r.kind === 'switch').at(-1);
    assert.equal(last.to, 'code');
    const t = await readTimeline(frame);
    assert.equal(t.title, 'blank → code');
    assert.deepEqual(
      t.steps.map((x) => [x.index, x.service, x.action, x.ms, x.result]).sort((a, b) => a[0] - b[0]),
      last.steps.map((e, i) => [i, e.service, e.action, e.ms, e.result]),
    );
    for (const x of t.steps) {
      assert.equal(x.bars, 1, `${x.label}: one bar`);
      assert.ok(x.barWidth > 0, `${x.label}: a bar drawn on screen`);
      assert.match(x.label, new RegExp(`^${x.action} ${x.service}`));
    }
    assert.ok(t.steps.some((x) => x.service === 'glm-code' && x.action === 'start'), JSON.stringify(t.steps));
    assert.ok(t.steps.some((x) => x.critical), 'a critical path');
    assert.deepEqual(t.table.map((r) => r.index).sort(), t.steps.map((x) => x.index).sort());
    for (const r of t.table) assert.equal(r.cells[1], t.steps.find((x) => x.index === r.index).label);
    // The page's nonce'd stylesheet applies (CSP): an acquire bar is the theme's green, not SVG's default black.
    const look = await themeOf(frame, 'rect.bar.phase-acquire');
    assert.match(look.body, /vscode-dark/);
    assert.equal(look.fill, look.green);
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

  await step('the open timeline follows the switch to rag; Tab and Enter on a past switch open it', async () => {
    const frame = await webview('section.timeline');
    await frame.locator('section.timeline h1', { hasText: 'code → rag' }).waitFor({ timeout: 30000 });
    const t = await readTimeline(frame);
    const last = history().filter((r) => r.kind === 'switch').at(-1);
    assert.equal(t.steps.length, last.steps.length);
    assert.ok(t.steps.some((x) => x.service === 'glm-code' && x.action === 'sleep'), JSON.stringify(t.steps));
    // Keyboard only: focus the list, move to the older switch, open it.
    const older = frame.locator('nav.history button', { hasText: 'blank → code' });
    await older.focus();
    await page.keyboard.press('Enter');
    await frame.locator('section.timeline h1', { hasText: 'blank → code' }).waitFor({ timeout: 15000 });
    assert.equal(await frame.locator('nav.history button[aria-current="true"]').innerText().then((s) => s.split('\n')[0]), 'blank → code');
    assert.equal(await frame.evaluate(() => document.activeElement?.getAttribute('data-open') ?? null), await older.getAttribute('data-open'), 'the focus stays on the button');
  });

  await step('a click on the GPU row opens the memory chart: a segment per holder, asleep glm-code, the table alike', async () => {
    const gpuRow = page.locator('.monaco-list-row', { hasText: /GPU 0/ }).first();
    assert.match(await gpuRow.innerText(), /GPU 0\s*\d+\.\d\/32\.6 GB/);
    await gpuRow.click();
    const frame = await webview('section.memory-view');
    const [bar] = await readBars(frame);
    const held = Object.fromEntries(bar.segments.filter((x) => x.service).map((x) => [x.service, x.kind]));
    assert.equal(held['glm-code'], 'asleep', JSON.stringify(bar.segments));
    for (const name of ['vllm-chat', 'vllm-hyde', 'vllm-reranker', 'vllm-embedding']) assert.equal(held[name], 'awake', `${name}: ${JSON.stringify(bar.segments)}`);
    assert.ok(bar.segments.some((x) => x.kind === 'free'));
    const sum = bar.segments.reduce((a, x) => a + x.mb, 0);
    assert.ok(Math.abs(sum - bar.totalMb) <= bar.segments.length, `segments ${sum} MB of a ${bar.totalMb} MB card`);
    assert.equal(bar.rows, bar.segments.length, 'a table row per segment');
    const drawn = bar.segments.reduce((a, x) => a + x.width, 0);
    assert.ok(Math.abs(drawn - bar.barWidth) < 4, `segments ${drawn}px of a ${bar.barWidth}px bar`);
  });

  await step('from rag, the Switch Mode preview says what sleeps and what wakes; its button opens the bars before and after', async () => {
    await statusItem.click();
    const widget = page.locator('.quick-input-widget');
    const row = widget.locator('.monaco-list-row', { hasText: /wakes glm-code/ });
    await row.waitFor({ timeout: 30000 });
    await shot('quick-pick-preview-warm', widget, 'switch-mode');
    await row.hover();
    await row.locator('.action-label[aria-label^="Full preview"], .action-label[title^="Full preview"]').first().click();
    const frame = await webview('section.preview[data-to="code"]');
    const before = await readBars(frame, '.before');
    const after = await readBars(frame, '.after');
    assert.equal(before.length, 1);
    assert.equal(after.length, 1);
    const kindOf = (bars, name) => bars[0].segments.find((x) => x.service === name)?.kind;
    assert.equal(kindOf(before, 'glm-code'), 'asleep');
    assert.equal(kindOf(after, 'glm-code'), 'awake');
    assert.equal(kindOf(before, 'vllm-hyde'), 'awake');
    assert.notEqual(kindOf(after, 'vllm-hyde'), 'awake');
    const steps = await frame.locator('table.plan-table tbody tr').count();
    assert.ok(steps >= 2, `${steps} steps`);
    assert.ok(await widget.isVisible(), 'the quick pick stays open beside the preview');
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

  await step('back to code: the sleepers wake, and the palette\'s command opens that switch\'s timeline', async () => {
    await pickMode('code');
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: /code · / }).waitFor({ timeout: 60000 });
    await command('gpumod: Show Last Switch Timeline');
    const frame = await webview('section.timeline');
    await frame.locator('section.timeline h1', { hasText: 'rag → code' }).waitFor({ timeout: 15000 });
    const t = await readTimeline(frame);
    const phases = await frame.evaluate(() => [...document.querySelectorAll('.gantt [data-kind="phase"]')].map((p) => p.getAttribute('data-phase')));
    assert.deepEqual(phases.filter((p) => p === 'release' || p === 'acquire' || p === 'verify'), ['release', 'acquire', 'verify'], phases.join(' '));
    // A llama.cpp router's model comes back by a load.
    assert.ok(t.steps.some((x) => x.service === 'glm-code' && (x.action === 'wake' || x.action === 'load')), JSON.stringify(t.steps));
    assert.equal(t.steps.length, history().filter((r) => r.kind === 'switch').at(-1).steps.length);
  });

  for (const [theme, cls, tag, bodyClass] of [
    ['Dark Modern', 'vs-dark', 'dark', /vscode-dark/],
    ['Light Modern', 'vs', 'light', /vscode-light/],
    ['Dark High Contrast', 'hc-black', 'hc', /vscode-high-contrast/],
    ['Light High Contrast', 'hc-light', 'hc-light', /vscode-high-contrast-light/],
  ]) {
    await step(`${theme}: the panels open from the palette and take the theme's colours`, async () => {
      await setTheme(theme, cls);
      // The screenshots show the panels, not the toasts of the switches before.
      await command('Notifications: Clear All Notifications');
      await command('gpumod: Show Last Switch Timeline');
      let frame = await webview('section.timeline h1');
      await frame.locator('section.timeline h1', { hasText: 'rag → code' }).waitFor({ timeout: 15000 });
      const look = await themeOf(frame, 'rect.bar.phase-release');
      assert.match(look.body, bodyClass);
      assert.equal(look.fill, look.blue, 'a release bar is the theme\'s blue');
      // High contrast: every bar is outlined in the theme's contrast border.
      if (tag.startsWith('hc')) assert.equal(look.stroke, look.contrast, JSON.stringify(look));
      await shot(`timeline-${tag}`, editor);
      if (tag === 'dark') await shotRegion('switch-timeline', frame, 'section.timeline h1', 'figure.gantt');
      await command('gpumod: Show GPU Memory');
      frame = await webview('section.memory-view');
      assert.match((await themeOf(frame, 'rect.seg')).body, bodyClass);
      await shot(`memory-${tag}`, editor);
      if (tag === 'light') await shotRegion('gpu-memory', frame, 'section.memory-view h1', 'figure.memory');
      await command('gpumod: Preview Switch');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'speak' }).first().waitFor({ timeout: 20000 }); // the previews are computed first: a loaded machine takes longer
      await page.keyboard.type('speak');
      await page.keyboard.press('Enter');
      frame = await webview('section.preview[data-to="speak"]');
      assert.equal((await readBars(frame)).length, 2, 'before and after');
      await shot(`preview-${tag}`, editor);
      if (tag === 'dark') await shotRegion('switch-preview', frame, 'section.preview h1', '.after figure.memory');
    });
  }
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

import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_CSS, contentSecurityPolicy, page } from '../../../src/charts/page';
import { historyMarkup } from '../../../src/charts/historyList';
import { timelineHtml } from '../../../src/cli/timelineExport';
import { asSwitchRecord } from '../../../src/engine/records';
import type { SwitchRecord } from '../../../src/engine/types';
import { attributeNames, elements, tagNames } from './html';

const NONCE = 'abcdefghijklmnop0123';

const record: SwitchRecord = {
  kind: 'switch',
  from: 'blank',
  to: 'code',
  startedAt: Date.UTC(2026, 1, 2),
  totalMs: 1200,
  estimateMs: 1500,
  ok: true,
  rolledBack: false,
  cancelled: false,
  steps: [{ service: 'glm-code', action: 'start', phase: 'acquire', startMs: 10, ms: 1100, result: 'ok', estimateMs: 1400 }],
};

describe('charts: the page around them', () => {
  it('a webview page: its own nonce\'d style and script, nothing else', () => {
    const csp = contentSecurityPolicy({ nonce: NONCE, cspSource: 'https://x.vscode-cdn.net', script: 'x' });
    assert.equal(csp, `default-src 'none'; style-src https://x.vscode-cdn.net 'nonce-${NONCE}'; script-src 'nonce-${NONCE}'`);
    const html = page({ title: 't', body: '<div id="content"></div>', nonce: NONCE, cspSource: 'https://x.vscode-cdn.net', script: 'void 0;' });
    assert.equal(elements(html, 'script').length, 1);
    assert.equal(elements(html, 'script')[0].attrs.nonce, NONCE);
    assert.equal(elements(html, 'style')[0].attrs.nonce, NONCE);
    assert.throws(() => page({ title: 't', body: '', nonce: 'short' }), /nonce/);
  });

  it('themed only by VS Code\'s variables: no colour of its own in the editor', () => {
    assert.doesNotMatch(CHART_CSS, /#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(/);
    const vars = new Set(CHART_CSS.match(/var\(--[a-zA-Z0-9-]+/g)?.map((v) => v.slice(4)));
    for (const v of vars) assert.match(v, /^--vscode-/);
    // The error colour for failures, the contrast border for high-contrast themes.
    assert.ok(vars.has('--vscode-errorForeground') && vars.has('--vscode-contrastBorder'));
  });

  it('the CLI\'s export: one self-contained page, no script, no external resource, a light and a dark palette', () => {
    const html = timelineHtml(record);
    assert.ok(!tagNames(html).has('script'));
    assert.doesNotMatch(html, /(?:src|href)=|https?:\/\/|@import|url\((?!#)/);
    const csp = elements(html, 'meta', 'http-equiv', 'Content-Security-Policy')[0].attrs.content;
    assert.match(csp, /^default-src 'none'; style-src 'nonce-[\w-]{16,}'$/);
    assert.match(html, /prefers-color-scheme: dark/);
    assert.equal(elements(html, 'div', 'data-kind', 'step').length, 1);
    assert.match(html, /<title>gpumod switch blank → code<\/title>/);
    // A fresh nonce each time.
    assert.notEqual(elements(timelineHtml(record), 'style')[0].attrs.nonce, elements(html, 'style')[0].attrs.nonce);
  });

  it('the list of past switches: newest first, one keyboard-reachable button each, the shown one current', () => {
    const older = { ...record, startedAt: record.startedAt - 60_000, to: '<x>', ok: false, error: 'boom' };
    const html = historyMarkup([older, record], String(record.startedAt));
    const buttons = elements(html, 'button');
    assert.deepEqual(buttons.map((b) => b.attrs['data-open']), [String(record.startedAt), String(older.startedAt)]);
    assert.ok(buttons.every((b) => b.attrs.type === 'button'));
    assert.equal(buttons[0].attrs['aria-current'], 'true');
    assert.equal(buttons[1].attrs['aria-current'], undefined);
    assert.match(buttons[1].attrs['aria-label'], /^blank → <x>, .*, failed in 1\.2 s$/);
    assert.deepEqual(attributeNames(html).unparsed, []);
    assert.equal(historyMarkup([], undefined), '');
  });

  it('history records keep a step\'s estimate and the phase estimates only when they are durations', () => {
    const r = asSwitchRecord({ ...record, phaseEstimates: { releaseMs: 1, waitFreeMs: 2, acquireMs: 3 }, steps: [{ ...record.steps[0], estimateMs: 1e308 }, { ...record.steps[0], estimateMs: 900 }] });
    assert.deepEqual(r?.phaseEstimates, { releaseMs: 1, waitFreeMs: 2, acquireMs: 3 });
    assert.equal(r?.steps[0].estimateMs, undefined);
    assert.equal(r?.steps[1].estimateMs, 900);
    assert.equal(asSwitchRecord({ ...record, phaseEstimates: { releaseMs: -1, waitFreeMs: 2, acquireMs: 3 } })?.phaseEstimates, undefined);
  });

  it('the renderers are pure: no vscode, no Node API, only the engine\'s types and formatting', () => {
    const dir = join(process.cwd(), 'src/charts');
    const bad: string[] = [];
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/from '([^']+)'/g)) {
        if (!(m[1].startsWith('./') || m[1].startsWith('../engine/') || m[1] === '../config/types')) bad.push(`${f}: ${m[1]}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});

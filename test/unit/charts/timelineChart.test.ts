import * as assert from 'node:assert/strict';
import { timelineChart } from '../../../src/charts/timelineChart';
import { criticalPath, ticks, timelineModel } from '../../../src/charts/timelineModel';
import { formatMs } from '../../../src/engine/deadline';
import type { SwitchRecord, TimelineEntry } from '../../../src/engine/types';
import { attributeNames, cells, elements, tagNames } from './html';

const T0 = Date.UTC(2026, 0, 5, 9, 30);

/** rag → code as the executor records it: two sleeps in parallel, the wait, a wake and a cold start, their readiness, the verification. */
const steps: TimelineEntry[] = [
  { service: 'vllm-chat', action: 'sleep', depth: 'l1', phase: 'release', startMs: 40, ms: 300, result: 'ok', estimateMs: 350 },
  { service: 'vllm-hyde', action: 'sleep', depth: 'l2', phase: 'release', startMs: 41, ms: 520, result: 'ok', estimateMs: 400 },
  { service: 'gpu', action: 'wait-free', phase: 'wait-free', startMs: 563, ms: 120, result: 'ok' },
  { service: 'glm-code', action: 'wake', depth: 'router', phase: 'acquire', startMs: 690, ms: 2100, result: 'ok', estimateMs: 20000 },
  { service: 'vllm-embedding-code', action: 'start', phase: 'acquire', startMs: 690, ms: 900, result: 'ok', estimateMs: 60000 },
  { service: 'vllm-embedding-code', action: 'ready', phase: 'ready', startMs: 1591, ms: 80, result: 'ok' },
  { service: 'glm-code', action: 'ready', phase: 'ready', startMs: 2791, ms: 150, result: 'ok' },
  { service: 'code', action: 'verify', phase: 'verify', startMs: 2942, ms: 30, result: 'ok' },
];

const record: SwitchRecord = {
  kind: 'switch',
  from: 'rag',
  to: 'code',
  startedAt: T0,
  totalMs: 2980,
  estimateMs: 80900,
  phaseEstimates: { releaseMs: 400, waitFreeMs: 500, acquireMs: 80000 },
  ok: true,
  rolledBack: false,
  cancelled: false,
  steps,
};

const stepRows = (html: string) => elements(html, 'div', 'data-kind', 'step');

describe('charts: the switch timeline', () => {
  it('draws one row with one bar per step, at its start and duration', () => {
    const html = timelineChart(record);
    const rows = stepRows(html);
    assert.equal(rows.length, steps.length);
    for (const row of rows) {
      const e = steps[Number(row.attrs['data-index'])];
      assert.equal(row.attrs['data-service'], e.service);
      assert.equal(row.attrs['data-action'], e.action);
      assert.equal(Number(row.attrs['data-start-ms']), e.startMs);
      assert.equal(Number(row.attrs['data-ms']), e.ms);
      assert.equal(row.attrs['data-result'], 'ok');
      // The row's bar: positioned in percent of the axis, with the step in its hover title.
      const bar = elements(row.rest, 'rect').find((r) => r.attrs.class.startsWith('bar '));
      assert.ok(bar, `a bar for ${e.service}`);
      assert.equal(bar.attrs.x, `${((e.startMs / 5960) * 100).toFixed(3)}%`);
      assert.match(bar.attrs.class, new RegExp(`phase-${e.phase}`));
    }
    // An estimate far beyond the switch (80.9 s for 3 s) is cut at twice its length, not allowed to
    // shrink the bars to slivers; one within twice the switch shows whole.
    assert.equal(timelineModel(record).scaleMs, 5960);
    assert.equal(timelineModel({ ...record, estimateMs: 4000, steps: steps.map((x) => ({ ...x, estimateMs: undefined })) }).scaleMs, 4000);
    assert.equal(timelineModel({ ...record, estimateMs: 1000, steps: steps.map((x) => ({ ...x, estimateMs: undefined })) }).scaleMs, 2980);
  });

  it('groups the steps under their phases, in the order a switch runs them', () => {
    const html = timelineChart(record);
    const phases = elements(html, 'div', 'data-kind', 'phase').map((p) => p.attrs['data-phase']);
    assert.deepEqual(phases, ['release', 'wait-free', 'acquire', 'ready', 'verify']);
    const release = elements(html, 'div', 'data-phase', 'release').find((p) => p.attrs['data-kind'] === 'phase')!;
    assert.equal(Number(release.attrs['data-start-ms']), 40);
    assert.equal(Number(release.attrs['data-ms']), 521);
    assert.equal(Number(release.attrs['data-estimate-ms']), 400);
  });

  it('marks the critical path: the chain of steps the end of the switch waited for', () => {
    const html = timelineChart(record);
    const critical = stepRows(html)
      .filter((r) => r.attrs['data-critical'] === 'true')
      .map((r) => `${r.attrs['data-action']} ${r.attrs['data-service']}`);
    assert.deepEqual(critical, ['sleep vllm-hyde', 'wait-free gpu', 'wake glm-code', 'ready glm-code', 'verify code']);
    // In words too, not only as an outline.
    assert.match(html, /Critical path: sleep vllm-hyde \(l2\) → wait-free gpu → wake glm-code \(router\) → ready glm-code → verify code/);
    const chat = stepRows(html).find((r) => r.attrs['data-service'] === 'vllm-chat')!;
    assert.doesNotMatch(chat.rest.slice(0, chat.rest.indexOf('</svg>')), /critical/);
  });

  it('criticalPath: parallel steps that ended earlier are off it; a gap does not break the chain', () => {
    const path = criticalPath([
      { startMs: 0, ms: 100 }, // 0: a short parallel step
      { startMs: 0, ms: 400 }, // 1: the long one
      { startMs: 450, ms: 50 }, // 2: after a gap (the snapshot between phases)
      { startMs: 500, ms: 1000 }, // 3
      { startMs: 500, ms: 200 }, // 4: ended long before the switch did
    ]);
    assert.deepEqual([...path].sort(), [1, 2, 3]);
    assert.deepEqual([...criticalPath([])], []);
  });

  it('shows a failed step in the error colour with its error, and the switch\'s error', () => {
    const failed: SwitchRecord = {
      ...record,
      ok: false,
      rolledBack: true,
      error: 'start vllm-embedding-code: exited during start-up (exit-code, exit status 3)',
      steps: [
        steps[0],
        { ...steps[4], ms: 700, result: 'failed', error: 'vllm-embedding-code.service exited during start-up (exit-code, exit status 3)' },
        { service: 'vllm-chat', action: 'wake', depth: 'l1', phase: 'rollback', startMs: 1500, ms: 200, result: 'ok' },
      ],
    };
    const html = timelineChart(failed);
    const row = stepRows(html).find((r) => r.attrs['data-result'] === 'failed')!;
    assert.equal(row.attrs['data-error'], 'vllm-embedding-code.service exited during start-up (exit-code, exit status 3)');
    assert.match(row.attrs.class, /result-failed/);
    const bar = elements(row.rest, 'rect').find((r) => r.attrs.class.startsWith('bar '))!;
    assert.match(bar.attrs.class, /result-failed/);
    assert.match(row.rest.slice(0, 600), /<div class="error-text">vllm-embedding-code\.service exited during start-up/);
    assert.match(html, /<p class="error-text" role="alert">start vllm-embedding-code: exited/);
    assert.match(html, /failed in 3\.0 s \(estimate 81 s\), rolled back/);
    assert.deepEqual(elements(html, 'div', 'data-kind', 'phase').map((p) => p.attrs['data-phase']), ['release', 'acquire', 'rollback']);
  });

  it('puts the estimate beside the actual: a dashed bar and the figure, per step and for the switch', () => {
    const html = timelineChart(record);
    const hyde = stepRows(html).find((r) => r.attrs['data-service'] === 'vllm-hyde')!;
    assert.equal(Number(hyde.attrs['data-estimate-ms']), 400);
    const inRow = hyde.rest.slice(0, hyde.rest.indexOf('</div></div>') + 12);
    assert.equal(elements(inRow, 'rect', 'class', 'estimate').length, 1);
    assert.match(inRow, /520 ms <span class="est">est\. 400 ms<\/span>/);
    const total = elements(html, 'div', 'data-kind', 'total')[0];
    assert.equal(Number(total.attrs['data-ms']), 2980);
    assert.equal(Number(total.attrs['data-estimate-ms']), 80900);
    // A step without an estimate (the wait) has no dashed bar.
    const wait = stepRows(html).find((r) => r.attrs['data-action'] === 'wait-free')!;
    assert.equal(wait.attrs['data-estimate-ms'], undefined);
    assert.equal(elements(wait.rest.slice(0, wait.rest.indexOf('</svg>')), 'rect', 'class', 'estimate').length, 0);
  });

  it('the table under the chart holds the same data as the chart, step by step', () => {
    const html = timelineChart(record);
    const chart = stepRows(html);
    const table = elements(html, 'tr', 'data-index');
    assert.equal(table.length, chart.length);
    for (const row of chart) {
      const tr = table.find((t) => t.attrs['data-index'] === row.attrs['data-index'])!;
      const [phase, step, start, took, estimate, result, critical] = cells(tr.rest);
      const e = steps[Number(row.attrs['data-index'])];
      assert.equal(step, `${e.action} ${e.service}${e.depth ? ` (${e.depth})` : ''}`);
      assert.equal(phase, { release: 'release', 'wait-free': 'wait for freed memory', acquire: 'acquire', ready: 'ready', verify: 'verify' }[e.phase as string]);
      assert.equal(start, formatMs(e.startMs));
      assert.equal(took, formatMs(e.ms));
      assert.equal(estimate, e.estimateMs !== undefined ? formatMs(e.estimateMs) : '–');
      assert.equal(result, e.result);
      assert.equal(critical, row.attrs['data-critical'] === 'true' ? 'yes' : 'no');
    }
  });

  it('escapes every name and error: nothing from a config or a server becomes markup', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const quote = '" onmouseover="alert(2)';
    const hostile: SwitchRecord = {
      ...record,
      from: `a&b ${evil}`,
      to: '</h1><script>alert(3)</script>',
      error: `${quote} </p><iframe src="javascript:alert(4)">`,
      steps: [
        { service: evil, action: 'start', phase: 'acquire', startMs: 0, ms: 10, result: 'failed', error: `${quote}<svg onload=alert(5)>` },
        { service: quote, action: 'sleep', phase: 'release', startMs: 0, ms: 5, result: 'ok' },
      ],
    };
    const html = timelineChart(hostile);
    const tags = tagNames(html);
    for (const bad of ['img', 'script', 'iframe']) assert.ok(!tags.has(bad), `<${bad}> in the chart`);
    const { names, unparsed } = attributeNames(html);
    assert.deepEqual(unparsed, []);
    assert.deepEqual([...names].filter((n) => n.startsWith('on')), []);
    // The names survive, as text and as attribute values.
    const rows = stepRows(html);
    assert.deepEqual(rows.map((r) => r.attrs['data-service']).sort(), [evil, quote].sort());
    assert.equal(rows.find((r) => r.attrs['data-service'] === evil)!.attrs['data-error'], `${quote}<svg onload=alert(5)>`);
    assert.match(html, /a&#38;b &#60;img src=x onerror=alert\(1\)&#62;/);
    // The only svg elements are the chart's own.
    assert.equal((html.match(/<svg/g) ?? []).length, (html.match(/<\/svg>/g) ?? []).length);
  });

  it('reads old records without phases or estimates, and a service action', () => {
    const old: SwitchRecord = {
      kind: 'service',
      from: 'code',
      to: 'code',
      service: 'vllm-chat',
      startedAt: T0,
      totalMs: 300,
      ok: true,
      rolledBack: false,
      cancelled: false,
      steps: [{ service: 'vllm-chat', action: 'wake', startMs: 0, ms: 300, result: 'ok' }],
    };
    const m = timelineModel(old);
    assert.equal(m.title, 'vllm-chat');
    assert.deepEqual(m.phases.map((p) => p.phase), ['action']);
    assert.equal(timelineModel({ ...old, kind: 'switch' }).phases[0].phase, 'acquire');
    const html = timelineChart(old);
    assert.equal(stepRows(html).length, 1);
    assert.match(html, /whole action/);
  });

  it('a switch with no steps says so instead of drawing an empty axis', () => {
    const html = timelineChart({ ...record, steps: [], totalMs: 0, estimateMs: undefined });
    assert.match(html, /No steps were recorded/);
    assert.equal(stepRows(html).length, 0);
  });

  it('axis ticks fall on 1, 2 or 5 × 10^k ms, at most 8 beyond zero', () => {
    assert.deepEqual(ticks(2980), [0, 500, 1000, 1500, 2000, 2500]);
    assert.deepEqual(ticks(80900).slice(0, 3), [0, 20000, 40000]);
    assert.deepEqual(ticks(5960), [0, 1000, 2000, 3000, 4000, 5000]);
    assert.deepEqual(ticks(7), [0, 1, 2, 3, 4, 5, 6, 7]);
    for (const s of [1, 33, 999, 12_345, 3_600_000]) assert.ok(ticks(s).length <= 9, `${s}: ${ticks(s).length}`);
  });
});

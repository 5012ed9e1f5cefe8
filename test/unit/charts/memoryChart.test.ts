import * as assert from 'node:assert/strict';
import { memoryBarMarkup, memoryMarkup } from '../../../src/charts/memoryChart';
import { barsAfter, barsNow, type MemoryBar } from '../../../src/charts/memoryModel';
import { cells as textCells, memoryTooltip, textBar } from '../../../src/charts/memoryText';
import { previewMarkup } from '../../../src/charts/previewChart';
import { mb } from '../../../src/engine/budget';
import { plan } from '../../../src/engine/planner';
import type { Observation } from '../../../src/engine/types';
import { look, machine, profileConfig, service } from '../engine/profile';
import { attributeNames, cells, elements, tagNames } from './html';

const config = profileConfig();

const holders = (b: MemoryBar): string[] => b.segments.map((s) => `${s.kind}:${s.service ?? s.label}:${Math.round(s.mb)}:${s.source}`);

describe('charts: the card as a picture', () => {
  it('now: each service awake or its residue asleep, other processes, what no process holds, free — as observed', async () => {
    const m = machine(32, 'code');
    m.addForeign(0, 700);
    const obs = await look(m);
    const [bar] = barsNow(config, obs);
    const g = obs.gpu.available ? obs.gpu.gpus[0] : undefined;
    assert.ok(g?.usedMb !== undefined && g.totalMb !== undefined);
    const kinds = bar.segments.map((s) => s.kind);
    // Stacked in one order: awake, asleep, other processes, unattributed, free.
    assert.deepEqual([...kinds].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)), kinds);
    const glm = bar.segments.find((s) => s.service === 'glm-code')!;
    assert.equal(glm.kind, 'awake');
    assert.equal(glm.source, 'observed');
    assert.equal(glm.mb, obs.services.get('glm-code')?.vramMb);
    assert.equal(bar.segments.find((s) => s.kind === 'foreign')?.mb, 700);
    // The bar adds up to the card: held + free = total, held = what nvidia-smi says is used.
    const held = bar.segments.filter((s) => s.kind !== 'free').reduce((s, x) => s + x.mb, 0);
    assert.equal(Math.round(held), g.usedMb);
    assert.equal(Math.round(held + (bar.segments.find((s) => s.kind === 'free')?.mb ?? 0)), g.totalMb);
    assert.equal(bar.usedMb, g.usedMb);
  });

  it('a sleeper\'s residue is drawn as asleep, with its depth', async () => {
    const obs = await look(machine(32, 'rag'));
    const [bar] = barsNow(config, obs);
    const glm = bar.segments.find((s) => s.service === 'glm-code');
    assert.ok(glm, holders(bar).join(' '));
    assert.equal(glm.kind, 'asleep');
    assert.match(glm.state ?? '', /^asleep/);
  });

  it('without a GPU in view: the declared figures, marked and hatched as declared', () => {
    const obs: Observation = {
      at: 0,
      services: new Map([
        ['glm-code', { name: 'glm-code', state: 'running', healthy: true }],
        ['vllm-chat', { name: 'vllm-chat', state: 'sleeping', sleep: 'l1', healthy: true }],
      ]),
      gpu: { available: false, reason: 'nvidia-smi not found' },
      foreignMb: new Map(),
    };
    const withTotal = profileConfig({ gpuTotalMb: 32607 });
    const measured = new Map([['vllm-chat', { vram: { l1: 1400 }, ram: {} }]]);
    const [bar] = barsNow(withTotal, obs, measured);
    assert.deepEqual(holders(bar), ['awake:glm-code:20000:declared', 'asleep:vllm-chat:1400:measured', `free:free:${32607 - 21400}:declared`]);
    assert.match(bar.note ?? '', /GPU not visible \(nvidia-smi not found\)/);
    const html = memoryBarMarkup(bar, { id: 'x' });
    const glm = elements(html, 'rect', 'data-service', 'glm-code')[0];
    assert.match(glm.attrs.class, /src-declared/);
    assert.equal(glm.attrs['data-source'], 'declared');
    // The hatch is drawn over it, and it says "declared" in words (legend, hover title, table).
    assert.equal(elements(html, 'rect', 'class', 'hatch-overlay').length, 1);
    assert.match(html, /glm-code 20\.0 GB awake \(declared\)/);
    const chat = elements(html, 'rect', 'data-service', 'vllm-chat')[0];
    assert.doesNotMatch(chat.attrs.class, /src-declared/);
    assert.match(html, /vllm-chat 1\.4 GB asleep L1 \(measured earlier\)/);
    const row = elements(html, 'tr', 'data-service', 'glm-code')[0];
    assert.deepEqual(cells(row.rest), ['glm-code', 'awake', '20.0 GB', 'declared in the config']);
  });

  it('the table under the bar lists the same segments with the same figures', async () => {
    const obs = await look(machine(32, 'code'));
    const [bar] = barsNow(config, obs);
    const html = memoryBarMarkup(bar, { id: 'now-0' });
    const rects = elements(html, 'rect', 'data-kind');
    const rows = elements(html, 'tr', 'data-kind');
    assert.equal(rects.length, bar.segments.length);
    assert.deepEqual(
      rows.map((r) => [r.attrs['data-kind'], r.attrs['data-service'], r.attrs['data-mb']]),
      rects.map((r) => [r.attrs['data-kind'], r.attrs['data-service'], r.attrs['data-mb']]),
    );
    for (const r of rows) assert.equal(cells(r.rest)[2], mb(Number(r.attrs['data-mb'])));
    // Widths in percent of the card, adding up to the whole bar.
    const widths = rects.map((r) => Number(r.attrs.width.replace('%', '')));
    assert.ok(Math.abs(widths.reduce((s, w) => s + w, 0) - 100) < 0.01, widths.join(' + '));
  });

  it('after a plan: the planner\'s figures per step, other processes, the margin kept free', async () => {
    const m = machine(32, 'code');
    m.addForeign(0, 400);
    const obs = await look(m);
    const p = plan(config, obs, 'rag', { currentMode: 'code' });
    const [after] = barsAfter(config, p, obs);
    const b = p.budgets[0];
    const held = after.segments.filter((s) => s.kind !== 'free' && s.kind !== 'margin').reduce((s, x) => s + x.mb, 0);
    assert.equal(Math.round(held), b.afterMb);
    assert.equal(after.segments.find((s) => s.kind === 'margin')?.mb, b.marginMb);
    assert.equal(after.segments.find((s) => s.kind === 'foreign')?.mb, 400);
    const total = after.segments.reduce((s, x) => s + x.mb, 0);
    assert.equal(Math.round(total), b.totalMb);
    for (const name of ['vllm-chat', 'vllm-hyde', 'vllm-reranker', 'vllm-embedding']) assert.equal(after.segments.find((s) => s.service === name)?.kind, 'awake', name);
    assert.equal(after.segments.find((s) => s.service === 'glm-code')?.kind, 'asleep');
    assert.deepEqual(after.segments.filter((s) => s.source === 'declared' && s.service).map((s) => s.service).sort(), [...b.sources.declared].sort());
  });

  it('after a plan: a router shared by two models counts its own residue once', () => {
    const shared = profileConfig({}, [
      service('qwen-a', { driver: 'llamacpp', sleep: 'router', vram: 6000, residue: 400, ram: 0 }, 7090, { unit: 'router.service' }),
      service('qwen-b', { driver: 'llamacpp', sleep: 'router', vram: 5000, residue: 300, ram: 0 }, 7090, { unit: 'router.service' }),
    ]);
    const p = {
      from: 'x', to: 'y', ramAfterMb: 0, ramBudgetMb: 0, estimateMs: 0, phases: { releaseMs: 0, waitFreeMs: 0, acquireMs: 0 }, notes: [], noop: false,
      steps: [
        { service: 'qwen-a', action: 'wake' as const, reason: '', estimateMs: 0, vramAfterMb: 6000, vramSource: 'declared' as const, fromState: 'sleeping' as const, fromSleep: 'router' as const, gpu: 0, incoming: true },
        { service: 'qwen-b', action: 'sleep' as const, depth: 'router' as const, reason: '', estimateMs: 0, vramAfterMb: 300, vramSource: 'declared' as const, fromState: 'running' as const, gpu: 0, incoming: false },
      ],
      budgets: [{ gpu: 0, totalMb: 24000, beforeMb: 0, afterMb: 6000, marginMb: 0, foreignMb: 0, sources: { measured: [], declared: ['qwen-a', 'qwen-b'], unknown: [] } }],
    };
    const [after] = barsAfter(shared, p);
    assert.deepEqual(holders(after), ['awake:qwen-a:5600:declared', 'router:router.service:400:declared', 'free:free:18000:declared']);
  });

  it('a text bar for the tree\'s tooltip: one glyph per share of the card, every holder visible', () => {
    assert.deepEqual(textCells([20000, 3000, 50, 9000], 30), [18, 3, 1, 8]);
    assert.equal(textCells([1, 1, 1], 2).reduce((s, x) => s + x, 0), 2);
    assert.deepEqual(textCells([0, 0], 10), [0, 0]);
    const bar: MemoryBar = {
      gpu: 0,
      name: 'NVIDIA *RTX* 5090',
      totalMb: 32000,
      usedMb: 23000,
      segments: [
        { kind: 'awake', label: 'glm_code', service: 'glm_code', mb: 20000, source: 'observed', state: 'awake' },
        { kind: 'asleep', label: 'chat', service: 'chat', mb: 3000, source: 'declared', state: 'asleep L1' },
        { kind: 'free', label: 'free', mb: 9000, source: 'observed' },
      ],
    };
    assert.equal(textBar(bar, 32), `${'█'.repeat(20)}${'▓'.repeat(3)}${'·'.repeat(9)}`);
    const tip = memoryTooltip(bar);
    assert.match(tip, /\*\*GPU 0\*\* · NVIDIA \\\*RTX\\\* 5090 · 23\.0\/32\.0 GB \(9\.0 GB free\)/);
    assert.match(tip, /- `▓` chat 3\.0 GB asleep L1 \(declared\)/);
    assert.match(tip, /glm\\_code/);
  });

  it('escapes service names everywhere: bar, legend, table, preview', async () => {
    const evil = '<img src=x onerror=alert(1)>"\'&';
    const bar: MemoryBar = {
      gpu: 0,
      name: '</h2><script>alert(2)</script>',
      totalMb: 1000,
      usedMb: 500,
      segments: [{ kind: 'awake', label: evil, service: evil, mb: 500, source: 'declared', state: 'awake' }],
      note: '<iframe>',
    };
    const html = memoryMarkup([bar]) + memoryBarMarkup(bar, { id: '"><script>' });
    const tags = tagNames(html);
    for (const bad of ['img', 'script', 'iframe']) assert.ok(!tags.has(bad), `<${bad}>`);
    const { names, unparsed } = attributeNames(html);
    assert.deepEqual(unparsed, []);
    assert.deepEqual([...names].filter((n) => n.startsWith('on')), []);
    assert.equal(elements(html, 'rect', 'data-service')[0].attrs['data-service'], evil);
    // The hatch pattern's id stays an id.
    assert.ok(elements(html, 'pattern').every((p) => /^hatch-[\w-]+$/.test(p.attrs.id)));

    const obs = await look(machine(32, 'code'));
    const p = plan(config, obs, 'rag', { currentMode: 'code' });
    const preview = previewMarkup({ from: evil, to: '<b>rag</b>', plan: { ...p, notes: ['<script>x</script>'] }, before: [bar], after: [] });
    assert.ok(!tagNames(preview).has('script') && !tagNames(preview).has('b'));
  });

  it('the preview: the bar before and after for each card, and one row per step', async () => {
    const obs = await look(machine(32, 'code'));
    const p = plan(config, obs, 'rag', { currentMode: 'code' });
    const html = previewMarkup({ from: 'code', to: 'rag', plan: p, before: barsNow(config, obs), after: barsAfter(config, p, obs) });
    const before = html.indexOf('data-when="before"');
    const after = html.indexOf('data-when="after"');
    assert.ok(before > 0 && after > before);
    assert.equal(elements(html, 'svg', 'class', 'membar').length, 2);
    const rows = elements(html, 'tr', 'data-action');
    assert.equal(rows.length, p.steps.length);
    const glm = rows.find((r) => r.attrs['data-service'] === 'glm-code')!;
    assert.equal(glm.attrs['data-action'], 'sleep');
    assert.match(cells(glm.rest)[1], /^sleep \(router\)$/);
    assert.match(html, /Estimated [\d.]+ s: release/);
  });
});

const ORDER = ['awake', 'asleep', 'router', 'foreign', 'unattributed', 'margin', 'free'];

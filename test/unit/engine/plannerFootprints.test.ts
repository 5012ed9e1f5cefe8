import * as assert from 'node:assert/strict';
import { measuredNow, updateFootprints, type Measured } from '../../../src/engine/footprints';
import { plan } from '../../../src/engine/planner';
import { budgetLines } from '../../../src/engine/planText';
import { previewPlan } from '../../../src/engine/switcher';
import type { Plan } from '../../../src/engine/types';
import { look, machine, profileConfig, service, STEADY } from './profile';

const actions = (p: Plan): Record<string, string> => Object.fromEntries(p.steps.map((s) => [s.service, s.depth ? `${s.action}:${s.depth}` : s.action]));
const step = (p: Plan, name: string): Plan['steps'][number] => p.steps.find((s) => s.service === name)!;
const hasNote = (p: Plan, re: RegExp): boolean => p.notes.some((n) => re.test(n));
const measured = (figures: Record<string, Partial<Measured>>): Map<string, Measured> =>
  new Map(Object.entries(figures).map(([n, f]) => [n, { vram: f.vram ?? {}, ram: f.ram ?? {} }]));

describe('planner: measured footprints over declared figures', () => {
  it('a service measured larger than declared: its residues give way (declared, everything stayed asleep)', async () => {
    const m = machine(24, 'blank');
    const obs = await look(m);
    const declared = plan(m.config, obs, 'rag', { currentMode: 'blank' });
    assert.equal(actions(declared)['glm-code'], 'keep');
    assert.equal(actions(declared)['qwen3-asr'], 'keep');
    const p = plan(m.config, obs, 'rag', { currentMode: 'blank', measured: measured({ 'vllm-chat': { vram: { awake: 13_000 } } }) });
    assert.equal(p.refused, undefined);
    assert.equal(step(p, 'vllm-chat').vramAfterMb, 13_000);
    assert.equal(step(p, 'vllm-chat').vramSource, 'measured');
    assert.equal(step(p, 'vllm-hyde').vramSource, 'declared');
    assert.equal(actions(p)['glm-code'], 'stop');
    assert.equal(actions(p)['qwen3-asr'], 'stop');
    assert.deepEqual(p.budgets[0].sources.measured, ['vllm-chat']);
  });

  it('a switch refused by the declared figures is admitted by smaller measured ones', async () => {
    const m = machine(24, 'blank');
    m.addForeign(0, 6500);
    const obs = await look(m);
    const declared = plan(m.config, obs, 'rag', { currentMode: 'blank' });
    assert.ok(declared.refused, 'the declared 18 GB beside 6.5 GB of other processes do not fit 24 GB');
    const p = plan(m.config, obs, 'rag', { currentMode: 'blank', measured: measured({ 'vllm-chat': { vram: { awake: 6000 } }, 'vllm-hyde': { vram: { awake: 4000 } } }) });
    assert.equal(p.refused, undefined, p.notes.join('\n'));
    assert.equal(p.budgets[0].afterMb, 16_000 + 6500 + 300 + 500);
  });

  it('a residue measured at its depth replaces the declared sleep_vram_mb', async () => {
    const m = machine(32, 'rag');
    const p = plan(m.config, await look(m), 'code', { currentMode: 'rag', measured: measured({ 'vllm-chat': { vram: { l1: 2900 } } }) });
    assert.equal(actions(p)['vllm-chat'], 'sleep:l1');
    assert.equal(step(p, 'vllm-chat').vramAfterMb, 2900);
    assert.equal(step(p, 'vllm-chat').vramSource, 'measured');
  });

  it('host RAM measured for an L1 sleeper can push it to L2 where the declared figure fitted', async () => {
    const m = machine(32, 'rag', {}, profileConfig({ hostRamMb: 7000 }));
    const obs = await look(m);
    assert.equal(actions(plan(m.config, obs, 'code', { currentMode: 'rag' }))['vllm-chat'], 'sleep:l1');
    const p = plan(m.config, obs, 'code', { currentMode: 'rag', measured: measured({ 'vllm-chat': { ram: { l1: 6000 } } }) });
    assert.equal(actions(p)['vllm-chat'], 'sleep:l2');
    assert.ok(hasNote(p, /cannot also hold its 6\.0 GB of weights/), p.notes.join('\n'));
  });

  it('the preview says which figures are measured and which declared', async () => {
    const m = machine(24, 'blank');
    const p = plan(m.config, await look(m), 'rag', { currentMode: 'blank', measured: measured({ 'vllm-chat': { vram: { awake: 7100 } }, 'vllm-hyde': { vram: { awake: 5100 } } }) });
    const line = budgetLines(p)[0];
    assert.match(line, /\(declared; vllm-chat, vllm-hyde measured\)$/, line);
    const all = plan(m.config, await look(m), 'blank', { currentMode: 'blank' });
    assert.match(budgetLines(all)[0], /\(declared\)$/);
  });

  it('a service without vram_mb, never measured, runs alone; beside others it is refused with a note asking for vram_mb', async () => {
    const extra = service('vllm-new', { driver: 'vllm', sleep: 'l2', vram: 0, residue: 2600, ram: 0 }, 7090, { undeclared: ['vram_mb', 'sleep_vram_mb', 'sleep_ram_mb'] });
    const config = profileConfig({}, [extra]);
    config.modes.set('alone', { name: 'alone', services: ['vllm-new'] });
    config.modes.set('pair', { name: 'pair', services: ['vllm-new', 'vllm-embedding'] });
    const m = machine(24, 'blank', {}, config);
    const obs = await look(m);
    const alone = plan(config, obs, 'alone', { currentMode: 'blank' });
    assert.equal(alone.refused, undefined, alone.notes.join('\n'));
    assert.equal(step(alone, 'vllm-new').action, 'start');
    assert.equal(step(alone, 'vllm-new').vramSource, 'unknown');
    assert.equal(step(alone, 'vllm-new').vramAfterMb, 24_564 - 512);
    // The whole card: every residue makes way.
    assert.ok(['glm-code', 'vllm-chat', 'vllm-hyde', 'vllm-reranker', 'qwen3-asr'].every((n) => step(alone, n).action === 'stop'), JSON.stringify(actions(alone)));
    assert.ok(hasNote(alone, /^vllm-new has no vram_mb and gpumod has not measured it yet: .*set vram_mb/), alone.notes.join('\n'));
    const pair = plan(config, obs, 'pair', { currentMode: 'blank' });
    assert.ok(pair.refused);
    assert.ok(hasNote(pair, /^vllm-new has no vram_mb/));
    const seen = plan(config, obs, 'pair', { currentMode: 'blank', measured: measured({ 'vllm-new': { vram: { awake: 6000 } } }) });
    assert.equal(seen.refused, undefined, seen.notes.join('\n'));
    assert.equal(step(seen, 'vllm-new').vramAfterMb, 6000);
    assert.ok(!hasNote(seen, /has no vram_mb/));
  });

  it('a preview learns from its observation, saves the footprints and plans the next switch by them', async () => {
    const m = machine(32, undefined);
    m.holds('vllm-chat', { vram: 9000, residue: 1800 });
    m.set(STEADY[32].rag);
    const first = await previewPlan(m.config, 'code', m.ports());
    assert.equal(m.store.footprintWrites, 1);
    assert.equal(m.store.footprints['vllm-chat'].vram.awake?.mb, 9000);
    // What the switch to code plans for vllm-chat's sleep is still declared: it was never seen asleep.
    assert.equal(step(first.plan, 'vllm-chat').vramAfterMb, 1500);
    m.set(STEADY[32].code);
    const back = await previewPlan(m.config, 'rag', m.ports());
    assert.equal(step(back.plan, 'vllm-chat').vramAfterMb, 9000);
    assert.equal(step(back.plan, 'vllm-chat').vramSource, 'measured');
    assert.equal(m.store.footprints['vllm-chat'].vram.l1?.mb, 1800);
    // Observed again unchanged: nothing to write.
    await previewPlan(m.config, 'rag', m.ports());
    assert.equal(m.store.footprintWrites, 2);
    assert.equal(measuredNow(updateFootprints(m.store.footprints, m.config, back.observation).footprints, m.config, back.observation).get('vllm-chat')?.vram.l1, 1800);
  });
});

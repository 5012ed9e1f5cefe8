import * as assert from 'node:assert/strict';
import { asFootprints, footprintKey, lookup, measuredNow, updateFootprints, type Footprints } from '../../../src/engine/footprints';
import type { Observation } from '../../../src/engine/types';
import { look, machine, profileConfig } from './profile';

/** One observation of the 32 GB profile machine in rag, with vllm-chat really holding 9 GB awake. */
async function observed(states: Parameters<typeof machine>[2] = {}, tweak?: (m: ReturnType<typeof machine>) => void): Promise<{ m: ReturnType<typeof machine>; obs: Observation }> {
  const m = machine(32, undefined);
  m.holds('vllm-chat', { vram: 9000, residue: 1200, ram: 5100 });
  tweak?.(m);
  m.set(states);
  return { m, obs: await look(m) };
}

describe('learned footprints', () => {
  it('records what a running, healthy service holds and when; lookup gives it back for the same command line', async () => {
    const { m, obs } = await observed({ 'vllm-chat': 'running' });
    const { footprints, changed } = updateFootprints({}, m.config, obs);
    assert.equal(changed, true);
    assert.deepEqual(footprints['vllm-chat'].vram.awake, { mb: 9000, at: obs.at });
    const chat = m.config.services.get('vllm-chat')!;
    assert.deepEqual(lookup(footprints, chat, obs.services.get('vllm-chat')?.unit?.execStart), { vram: { awake: 9000 }, ram: {} });
    assert.equal(measuredNow(footprints, m.config, obs).get('vllm-chat')?.vram.awake, 9000);
  });

  it('records a sleeper at its depth: the VRAM residue and the host RAM of its processes', async () => {
    const { m, obs } = await observed({ 'vllm-chat': 'l1' });
    const { footprints } = updateFootprints({}, m.config, obs);
    assert.equal(footprints['vllm-chat'].vram.l1?.mb, 1200);
    assert.equal(footprints['vllm-chat'].ram.l1?.mb, 5100);
    assert.equal(footprints['vllm-chat'].vram.awake, undefined);
  });

  it('measures only stable states, and only when the GPU attributes memory', async () => {
    const starting = await observed({}, (m) => {
      m.set({ 'vllm-chat': 'stopped' });
    });
    await starting.m.ports().systemd.start('vllm-chat.service');
    const obs = await look(starting.m); // loading: not healthy yet
    assert.equal(obs.services.get('vllm-chat')?.state, 'starting');
    assert.equal(updateFootprints({}, starting.m.config, obs).footprints['vllm-chat'], undefined);

    const blind = await observed({ 'vllm-chat': 'running' }, (m) => (m.gpuVisible = false));
    assert.equal(updateFootprints({}, blind.m.config, blind.obs).footprints['vllm-chat'], undefined);

    // nvidia-smi in a container: processes listed without their units (cgroups not visible).
    const { m, obs: unattributed } = await observed({ 'vllm-chat': 'running' });
    if (unattributed.gpu.available) for (const g of unattributed.gpu.gpus) for (const p of g.processes) delete p.unit;
    unattributed.services.get('vllm-chat')!.vramMb = 0;
    assert.equal(updateFootprints({}, m.config, unattributed).footprints['vllm-chat'], undefined);
  });

  it('keeps a figure (and its date) when a later reading is within the tolerance; replaces it when it moved', async () => {
    const { m, obs } = await observed({ 'vllm-chat': 'running' });
    const first = updateFootprints({}, m.config, obs).footprints;
    const again = updateFootprints(first, m.config, { ...obs, at: obs.at + 60_000 });
    assert.equal(again.changed, false);
    assert.equal(again.footprints['vllm-chat'].vram.awake?.at, obs.at);
    obs.services.get('vllm-chat')!.vramMb = 11_000;
    const moved = updateFootprints(first, m.config, { ...obs, at: obs.at + 60_000 });
    assert.equal(moved.changed, true);
    assert.deepEqual(moved.footprints['vllm-chat'].vram.awake, { mb: 11_000, at: obs.at + 60_000 });
  });

  it('resets when the unit’s ExecStart changes: the old figures no longer apply, and the next measurement starts afresh', async () => {
    const asleep = await observed({ 'vllm-chat': 'l1' });
    const learned = updateFootprints({}, asleep.m.config, asleep.obs).footprints;
    const changed = await observed({ 'vllm-chat': 'running' }, (m) => (m.svc('vllm-chat').execStart = '/usr/bin/vllm serve other-model --port 7071'));
    const chat = changed.m.config.services.get('vllm-chat')!;
    assert.equal(lookup(learned, chat, changed.obs.services.get('vllm-chat')?.unit?.execStart), undefined);
    assert.equal(measuredNow(learned, changed.m.config, changed.obs).has('vllm-chat'), false);
    const next = updateFootprints(learned, changed.m.config, changed.obs).footprints['vllm-chat'];
    assert.deepEqual(Object.keys(next.vram), ['awake']);
    assert.deepEqual(next.ram, {});
  });

  it('resets when the config’s model or driver changes', () => {
    const cfg = profileConfig().services.get('glm-code')!;
    const fp: Footprints = { 'glm-code': { key: footprintKey(cfg, '/usr/bin/llama-server'), vram: { awake: { mb: 21_000, at: 1 } }, ram: {} } };
    assert.equal(lookup(fp, cfg, '/usr/bin/llama-server')?.vram.awake, 21_000);
    assert.equal(lookup(fp, { ...cfg, model: 'Qwen3-Coder-30B' }, '/usr/bin/llama-server'), undefined);
    assert.equal(lookup(fp, { ...cfg, driver: 'systemd' }, '/usr/bin/llama-server'), undefined);
    assert.equal(lookup(fp, cfg, '/usr/bin/llama-server --ctx-size 65536'), undefined);
  });

  it('reads a stored file defensively: wrong shapes are dropped, never fatal', () => {
    const key = footprintKey(profileConfig().services.get('vllm-chat')!, 'x');
    const read = asFootprints({
      'vllm-chat': { key, vram: { awake: { mb: 9000, at: 5 }, l1: { mb: -1, at: 5 }, l9: { mb: 1, at: 1 } }, ram: { l1: { mb: 'many', at: 1 } } },
      bad: { key: 'not-a-hash', vram: {} },
      ['__proto__']: { key, vram: {}, ram: {} },
    });
    assert.deepEqual(read, { 'vllm-chat': { key, vram: { awake: { mb: 9000, at: 5 } }, ram: {} } });
    assert.deepEqual(asFootprints([1, 2]), {});
    assert.deepEqual(asFootprints(null), {});
  });
});

// Issue 17: budgets per card. A vLLM server spread over two 24 GB cards (tensor parallelism) beside
// services pinned to card 0: every card it touches must have room, and a refusal names the short card.
import * as assert from 'node:assert/strict';
import { AWAKE, asleep, vramOf, vramOn } from '../../../src/engine/budget';
import { measuredNow, updateFootprints } from '../../../src/engine/footprints';
import { plan } from '../../../src/engine/planner';
import type { Plan } from '../../../src/engine/types';
import { look, machine, profileConfig, service } from './profile';

const BIG = service('vllm-big', { driver: 'vllm', sleep: 'l1', vram: 30_000, residue: 2000, ram: 28_000 }, 7099, { gpus: [0, 1] });

function twoCards(): ReturnType<typeof profileConfig> {
  const config = profileConfig({}, [BIG]);
  config.modes.set('big', { name: 'big', services: ['vllm-big'] });
  return config;
}

const actions = (p: Plan): Record<string, string> => Object.fromEntries(p.steps.filter((s) => s.action !== 'keep').map((s) => [s.service, s.depth ? `${s.action}:${s.depth}` : s.action]));

describe('planner on two 24 GB cards with a server spread over both', () => {
  it('a spread service counts its even share on each card, and one-card services only on theirs', () => {
    assert.equal(vramOf(BIG, AWAKE), 30_000);
    assert.deepEqual([vramOn(BIG, 0, AWAKE), vramOn(BIG, 1, AWAKE), vramOn(BIG, 2, AWAKE)], [15_000, 15_000, 0]);
    assert.deepEqual([vramOn(BIG, 0, asleep('l1')), vramOn(BIG, 1, asleep('l1'))], [1000, 1000]);
    const odd = { ...BIG, vramMb: 30_001, gpus: [1, 0], gpu: 1 };
    assert.deepEqual([vramOn(odd, 1, AWAKE), vramOn(odd, 0, AWAKE)], [15_001, 15_000], 'the remainder on its first card');
  });

  it('code → big: card 0 makes room (glm-code unloads its model), card 1 takes the other half', async () => {
    const config = twoCards();
    const m = machine(24, 'code', {}, config);
    m.totals.set(1, 24564);
    const p = plan(config, await look(m), 'big', { currentMode: 'code' });
    assert.equal(p.refused, undefined, p.refused?.reason);
    assert.deepEqual(actions(p), { 'glm-code': 'sleep:router', 'vllm-big': 'start' });
    // Card 0: half of vllm-big 15000, vllm-embedding-code 3000 (kept: it fits), the residues of hyde 1000 and the router 300.
    assert.deepEqual(Object.fromEntries(p.budgets.map((b) => [b.gpu, b.afterMb])), { 0: 19_300, 1: 15_000 });
    const step = p.steps.find((s) => s.service === 'vllm-big');
    assert.deepEqual(step?.vramAfterByGpu, { 0: 15_000, 1: 15_000 });
  });

  it('a plan that fits in total but not on one card is refused, naming that card', async () => {
    const config = twoCards();
    const m = machine(24, 'blank', {}, config);
    m.totals.set(1, 24564);
    m.addForeign(0, 12_000); // another program holds half of card 0
    const p = plan(config, await look(m), 'big', { currentMode: 'blank' });
    assert.ok(p.refused, 'refused');
    assert.equal(p.refused.gpu, 0);
    assert.match(p.refused.reason, /^big does not fit on GPU 0 \(24 GB card\): its services need 15000 MB awake, other processes hold 12000 MB, the margin is 512 MB: 27512 MB needed, but the card has 24564 MB \(2948 MB short\)\.$/);
  });

  it('learns what each card holds, and plans each card by its own measurement', async () => {
    const config = twoCards();
    const m = machine(24, 'blank', { 'vllm-big': 'running' }, config);
    m.totals.set(1, 24564);
    const obs = await look(m);
    const o = obs.services.get('vllm-big')!;
    assert.deepEqual(o.vramByGpu, { 0: 15_000, 1: 15_000 });
    // An uneven server (pipeline stages of different sizes): as measured, per card.
    o.vramByGpu = { 0: 18_000, 1: 12_000 };
    const { footprints } = updateFootprints({}, config, obs);
    assert.deepEqual(footprints['vllm-big'].cards?.['0']?.awake?.mb, 18_000);
    const measured = measuredNow(footprints, config, obs);
    const sizes = { measured };
    assert.deepEqual([vramOn(BIG, 0, AWAKE, sizes), vramOn(BIG, 1, AWAKE, sizes)], [18_000, 12_000]);
  });
});

import * as assert from 'node:assert/strict';
import { planOnDemand, type Demand } from '../../../src/engine/onDemand';
import { switchOnDemand } from '../../../src/engine/onDemandSwitch';
import { look, machine } from './profile';

const idle = (lastUsed: Record<string, number> = {}, busy: string[] = []): Demand => ({ busy: new Set(busy), lastUsed: new Map(Object.entries(lastUsed)) });
const did = (steps: Array<{ service: string; action: string; depth?: string }>): string[] => steps.filter((s) => s.action !== 'keep').map((s) => `${s.action} ${s.service}${s.depth ? ` (${s.depth})` : ''}`).sort();

describe('onDemand: the smallest switch that wakes the service a request names', () => {
  it('with room on the card, wakes it and touches nothing else', async () => {
    const m = machine(24, 'code', { 'glm-code': 'router' }); // glm-code unloaded: 3 GB in use of 24 GB
    const r = planOnDemand(m.config, await look(m), 'vllm-hyde', idle());
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(did(r.plan.steps), ['wake vllm-hyde']);
    assert.equal(r.mode.name, 'gateway: vllm-hyde');
  });

  it('short of memory, the least recently used idle service gives way at its usual fate (an unload)', async () => {
    const m = machine(24, 'code'); // glm-code 20 GB + embedding-code 3 GB + hyde's residue: no room for hyde awake
    const r = planOnDemand(m.config, await look(m), 'vllm-hyde', idle({ 'glm-code': 1, 'vllm-embedding-code': 2 }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(did(r.plan.steps), ['sleep glm-code (router)', 'wake vllm-hyde']);
  });

  it('least recently used first; where that one cannot make room the next gives way too, and one that cannot sleep runs on while there is room', async () => {
    const m = machine(24, 'code');
    const r = planOnDemand(m.config, await look(m), 'vllm-hyde', idle({ 'glm-code': 2, 'vllm-embedding-code': 1 }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(did(r.plan.steps), ['sleep glm-code (router)', 'wake vllm-hyde']);
    assert.deepEqual(r.mode.services, ['vllm-hyde'], 'both gave way: neither is in the mode the wake switches to');
  });

  it('a service with a request in flight is never put to sleep or stopped', async () => {
    const m = machine(24, 'code');
    const obs = await look(m);
    const spared = planOnDemand(m.config, obs, 'vllm-hyde', idle({ 'glm-code': 1 }, ['vllm-embedding-code']));
    assert.ok(spared.ok);
    assert.deepEqual(did(spared.plan.steps), ['sleep glm-code (router)', 'wake vllm-hyde']);
    const refused = planOnDemand(m.config, obs, 'vllm-hyde', idle({}, ['glm-code']));
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.reason, /^vllm-hyde cannot be woken now: .*\(serving requests: glm-code\)$/);
  });

  it('the plan runs as a mode of its own, beside the config\'s modes, and the config is left as it was', async () => {
    const m = machine(24, 'code');
    const r = planOnDemand(m.config, await look(m), 'vllm-hyde', idle());
    assert.ok(r.ok);
    assert.ok(r.config.modes.has('gateway: vllm-hyde'));
    assert.equal(m.config.modes.has('gateway: vllm-hyde'), false);
    assert.equal(planOnDemand(m.config, await look(m), 'nope', idle()).ok, false);
  });
});

describe('switchOnDemand: decided under the lock from the switch\'s own look', () => {
  const demand = (busy: string[] = []) => (): Demand => ({ busy: new Set(busy), lastUsed: new Map() });

  it('an asleep service is woken with one look before the switch (the verification aside), and the plan is told before it runs', async () => {
    const m = machine(24, 'code', { 'glm-code': 'router' });
    const planned: string[][] = [];
    const out = await switchOnDemand(m.config, m.config.services.get('vllm-hyde')!, m.ports(), { demand: demand(), onPlanned: (p) => planned.push(did(p.steps)) });
    assert.equal(out.kind, 'switched');
    assert.ok(out.kind === 'switched' && out.result.ok, JSON.stringify(out));
    assert.deepEqual(planned, [['wake vllm-hyde']]);
    const wake = m.calls.findIndex((c) => c.op === 'wake');
    assert.equal(m.calls.slice(0, wake).filter((c) => c.op === 'showMany').length, 1, 'one look of the units before the wake');
  });

  it('awake already: nothing is done', async () => {
    const m = machine(24, 'code');
    const out = await switchOnDemand(m.config, m.config.services.get('glm-code')!, m.ports(), { demand: demand() });
    assert.equal(out.kind, 'awake');
    assert.deepEqual(m.mutations(), []);
  });

  it('room held by a busy service: wait, naming what would give way once it is idle', async () => {
    const m = machine(24, 'code');
    const wait = await switchOnDemand(m.config, m.config.services.get('vllm-hyde')!, m.ports(), { demand: demand(['glm-code', 'vllm-embedding-code']) });
    assert.equal(wait.kind, 'wait');
    assert.ok(wait.kind === 'wait' && wait.taken.includes('glm-code'), JSON.stringify(wait));
    assert.deepEqual(m.mutations(), []);
  });
});

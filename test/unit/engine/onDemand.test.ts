import * as assert from 'node:assert/strict';
import { planOnDemand, type Demand } from '../../../src/engine/onDemand';
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

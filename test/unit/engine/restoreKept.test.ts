import * as assert from 'node:assert/strict';
import { execute } from '../../../src/engine/executor';
import { estimates } from '../../../src/engine/history';
import { plan } from '../../../src/engine/planner';
import { inSeriesPerRouter } from '../../../src/engine/restoreKept';
import { look, machine, profileConfig, profileHistory, service } from './profile';

describe('rollback restores what the plan kept', () => {
  it('a service the plan kept running that the switch lost (a crash, an eviction) is brought back by the rollback', async () => {
    const m = machine(32, 'rag');
    const p = plan(m.config, await look(m), 'code', { currentMode: 'rag', estimates: estimates(profileHistory()) });
    assert.equal(p.steps.find((s) => s.service === 'vllm-embedding')?.action, 'keep');
    m.fail('glm-code', 'wake');
    const r = await execute(p, m.config, m.ports(), {
      // The kept service dies while the switch runs (as a router's LRU eviction would unload it).
      onStep: (e) => {
        if (e.kind === 'begin' && e.service === 'glm-code' && e.phase === 'acquire') m.set({ 'vllm-embedding': 'stopped' });
      },
    });
    assert.equal(r.ok, false);
    assert.equal(r.rolledBack, true);
    assert.equal(m.stateOf('vllm-embedding'), 'running');
    assert.ok(r.timeline.some((t) => t.service === 'vllm-embedding' && t.action === 'start' && t.phase === 'rollback' && t.result === 'ok'), JSON.stringify(r.timeline));
  });

  it('the models of one router run one after another; other services in parallel', async () => {
    const router = (name: string) => service(name, { driver: 'llamacpp', sleep: 'router', vram: 1000, residue: 100, ram: 0 }, 7070, { unit: 'router.service', model: name });
    const config = profileConfig({}, [router('a'), router('b')]);
    const log: string[] = [];
    const work = async (name: string): Promise<void> => {
      log.push(`begin ${name}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`end ${name}`);
    };
    await inSeriesPerRouter(config, ['a', 'vllm-chat', 'b'], (n) => n, work);
    assert.ok(log.indexOf('end a') < log.indexOf('begin b'), log.join(', '));
    assert.ok(log.indexOf('begin vllm-chat') < log.indexOf('end a'), log.join(', '));
  });
});

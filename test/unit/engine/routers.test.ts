import * as assert from 'node:assert/strict';
import type { Config, ServiceConfig } from '../../../src/config/types';
import { currentMode } from '../../../src/engine/currentMode';
import type { UnitStatus } from '../../../src/engine/machinePorts';
import { plan } from '../../../src/engine/planner';
import { attributeRouterProcess, childModel, explainEnded, routerServiceAction, sharedRouters } from '../../../src/engine/routers';
import type { Observation, Plan, ServiceObservation } from '../../../src/engine/types';
import { service } from './profile';

// One llama.cpp router (router.service) serving coder and chat on a 24 GB card with a 1 GB foreign
// process; the router process itself holds 1.2 GB, each model's child the rest of its vram_mb.
const CARD = 24564;

function routerConfig(extra: Partial<Record<'coder' | 'chat' | 'tiny', Partial<ServiceConfig>>> = {}, third = false): Config {
  const model = (name: string, vram: number, over: Partial<ServiceConfig> = {}): ServiceConfig =>
    service(name, { driver: 'llamacpp', sleep: 'router', vram, residue: 1200, ram: 0 }, 7070, { unit: 'router.service', model: name, ...over });
  const services = new Map<string, ServiceConfig>([
    ['coder', model('coder', 22000, extra.coder)],
    ['chat', model('chat', 10200, extra.chat)],
  ]);
  if (third) services.set('tiny', model('tiny', 2200, extra.tiny));
  return {
    path: '/home/me/.config/gpumod/gpumod.yaml',
    services,
    modes: new Map([
      ['code', { name: 'code', services: ['coder'] }],
      ['chat', { name: 'chat', services: ['chat'] }],
      ['both', { name: 'both', services: ['coder', 'chat'] }],
      ['small', { name: 'small', services: ['coder', 'tiny'] }],
      ['blank', { name: 'blank', services: [] }],
    ]),
    budget: { marginMb: 512, gpuTotalMb: 0, hostRamMb: 0 },
    allowedHosts: [],
  };
}

const ACTIVE: UnitStatus = { unit: 'router.service', loadState: 'loaded', activeState: 'active', subState: 'running', mainPid: 4242, result: 'success', execMainStatus: 0, controlGroup: '/router.service', nRestarts: 0, stateChangeUs: 0 };

function observation(config: Config, states: Record<string, Partial<ServiceObservation>>, foreignMb = 1024): Observation {
  const services = new Map<string, ServiceObservation>();
  for (const name of config.services.keys()) {
    services.set(name, { name, state: 'sleeping', sleep: 'router', healthy: true, unit: ACTIVE, ...states[name] });
  }
  return {
    at: 0,
    services,
    gpu: { available: true, ms: 1, gpus: [{ index: 0, uuid: 'GPU-0', name: 'RTX 4090', totalMb: CARD, usedMb: 0, freeMb: CARD, processes: [] }] },
    foreignMb: new Map([[0, foreignMb]]),
  };
}

function actions(p: Plan): Record<string, string> {
  return Object.fromEntries(p.steps.map((s) => [s.service, s.depth ? `${s.action}:${s.depth}` : s.action]));
}

describe('one llama.cpp router serving several models (planner)', () => {
  it('chat → code on a tight card unloads chat and loads coder: the router is not stopped for a residue it keeps anyway', () => {
    const config = routerConfig();
    const p = plan(config, observation(config, { chat: { state: 'running' } }), 'code', { currentMode: 'chat' });
    assert.deepEqual(actions(p), { coder: 'load', chat: 'sleep:router' });
    assert.equal(p.refused, undefined);
    // coder's child 20.8 GB + the router once (1.2 GB) + 1 GB foreign.
    assert.equal(p.budgets[0].afterMb, 22000 + 1024);
  });

  it('a model that failed while the router runs is loaded into it, not cold-started (which would restart the router)', () => {
    const config = routerConfig();
    const p = plan(config, observation(config, { coder: { state: 'running' }, chat: { state: 'failed', healthy: false, detail: 'the model process ended (exit code 1)' } }), 'both', { currentMode: 'code' });
    assert.deepEqual(actions(p), { coder: 'keep', chat: 'load' });
  });

  it('a mode that needs more models than --models-max is refused with the reason', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { state: 'running', modelsMax: 1 }, chat: { modelsMax: 1 } });
    const p = plan(config, obs, 'both', { currentMode: 'code' });
    assert.ok(p.refused, 'refused');
    assert.match(p.refused.reason, /both needs 2 models from the llama\.cpp router router\.service \(coder, chat\), but it runs with --models-max 1/);
  });

  it('at --models-max, a model the target does not want is unloaded before the load, so the router evicts none the target keeps', () => {
    const config = routerConfig({ chat: { sleep: 'none' } }, true);
    const obs = observation(config, { coder: { state: 'running', modelsMax: 2 }, chat: { state: 'running', modelsMax: 2 }, tiny: { modelsMax: 2 } }, 0);
    const p = plan(config, obs, 'small', { currentMode: 'both' });
    assert.deepEqual(actions(p), { coder: 'keep', chat: 'sleep:router', tiny: 'load' });
  });

  it('a model that cannot sleep is unloaded, not stopped, while its router serves another model', () => {
    const config = routerConfig({ chat: { sleep: 'none' } });
    const p = plan(config, observation(config, { chat: { state: 'running' } }), 'code', { currentMode: 'chat' });
    assert.equal(actions(p).chat, 'sleep:router');
    assert.ok(!p.steps.some((s) => s.action === 'stop' || s.action === 'start'), JSON.stringify(p.steps));
  });

  it('the router stops only when none of its models is wanted or kept, and then as one residue', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { sleep: 'router' }, chat: { sleep: 'router' } }, 23_500);
    const p = plan(config, obs, 'blank', { currentMode: undefined });
    assert.deepEqual(actions(p), { coder: 'stop', chat: 'stop' });
    assert.ok(p.notes.some((n) => /the router router\.service \(coder, chat\) stops/.test(n)), p.notes.join('\n'));
  });

  it('an idle model (the router\'s --sleep-idle-seconds) still holds memory: a mode without it unloads it', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { state: 'sleeping', sleep: 'idle' } });
    const p = plan(config, obs, 'blank', { currentMode: 'code' });
    assert.deepEqual(actions(p), { coder: 'sleep:router', chat: 'keep' });
    assert.equal(p.noop, false);
  });

  it('an idle model of the current mode keeps the mode (no drift while it idles)', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { state: 'sleeping', sleep: 'idle' } });
    assert.deepEqual(currentMode(config, obs, 'code'), { mode: 'code', drift: [] });
  });
});

describe('one llama.cpp router serving several models (attribution, actions, words)', () => {
  it('memory goes to the model whose child holds it (by --alias/--model), the rest to the router once', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { state: 'running', vramMb: 0 }, chat: { state: 'running', vramMb: 0 } });
    const routerMb = new Map<string, number>();
    const routers = sharedRouters(config);
    const child = (model: string): string[] => [`llama-server --host 127.0.0.1 --port 0 --alias ${model} --model /srv/llm/${model}.gguf`];
    assert.equal(attributeRouterProcess(routers, { services: obs.services, routerMb }, { pid: 1, usedMb: 20800, unit: 'router.service', command: child('coder') }), true);
    attributeRouterProcess(routers, { services: obs.services, routerMb }, { pid: 2, usedMb: 9000, unit: 'router.service', command: ['/opt/llama-server', '--model', '/srv/llm/chat.gguf'] });
    attributeRouterProcess(routers, { services: obs.services, routerMb }, { pid: 3, usedMb: 1200, unit: 'router.service', command: ['/opt/llama-server', '--models-dir', '/srv/llm'] });
    assert.equal(obs.services.get('coder')?.vramMb, 20800);
    assert.equal(obs.services.get('chat')?.vramMb, 9000);
    assert.deepEqual([...routerMb], [['router.service', 1200]]);
    assert.equal(attributeRouterProcess(routers, { services: obs.services, routerMb }, { pid: 4, usedMb: 5, unit: 'other.service' }), false);
    assert.equal(childModel(undefined, [...config.services.values()]), undefined);
  });

  it('stop on one model of a router serving another unloads it; the last one stops the unit and says so', () => {
    const config = routerConfig();
    const coder = config.services.get('coder')!;
    const both = observation(config, { coder: { state: 'running' }, chat: { state: 'running' } });
    assert.deepEqual(routerServiceAction(config, both, coder, 'stop'), {
      runs: [{ action: 'sleep', depth: 'router' }],
      note: 'its model was unloaded; the router router.service keeps serving chat',
    });
    assert.deepEqual(routerServiceAction(config, both, coder, 'restart')?.runs, [{ action: 'sleep', depth: 'router' }, { action: 'load' }]);
    const alone = observation(config, { coder: { state: 'running' } });
    assert.deepEqual(routerServiceAction(config, alone, coder, 'stop'), {
      runs: [{ action: 'stop' }],
      note: 'no other model of router.service was loaded, so the router stopped (chat with it)',
    });
  });

  it('a loaded model whose process ended reads as such, not as a failed load', () => {
    const config = routerConfig();
    const obs = observation(config, { coder: { state: 'failed', detail: "the model's process ended (exit code 1): its load failed, or it was killed" } });
    explainEnded(config, obs, { mode: 'code', at: 0, services: { coder: { state: 'running' } } });
    assert.equal(obs.services.get('coder')?.detail, 'its process ended (killed, or crashed: exit code 1) after its model had loaded');
  });
});

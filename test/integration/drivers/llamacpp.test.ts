// The llama.cpp router driver through its whole protocol against the fake router run as a unit of
// the real systemd user manager: cold start with a polled load, unload/load as sleep/wake, failed
// and killed children, an unknown model, idle sleep, and faults on the router's endpoints.
import * as assert from 'node:assert/strict';
import type { ServiceConfig } from '../../../src/config/types';
import { driverFor } from '../../../src/drivers/registry';
import { json } from '../../fakes/lib/testHttp';
import { rejectsWith, Rig, scaled, servicesFromYaml } from './support';
import { testPort, unitName } from '../support/testManager';

const P = { main: testPort(210), idle: testPort(211), max: testPort(1152) };
const U = { main: unitName('it-drv-llama'), idle: unitName('it-drv-llama-idle'), max: unitName('it-drv-llama-max') };
// Three services on one router (its unit and port shared, as the config allows for llamacpp).
const YAML = `
services:
  coder:  { driver: llamacpp, unit: ${U.main}, port: ${P.main}, vram_mb: 8000, model: coder-7b, sleep_timeout_s: 2, wake_timeout_s: 5 }
  broken: { driver: llamacpp, unit: ${U.main}, port: ${P.main}, vram_mb: 8000, model: broken-3b, wake_timeout_s: 5 }
  ghost:  { driver: llamacpp, unit: ${U.main}, port: ${P.main}, vram_mb: 8000, model: ghost-13b }
  idler:  { driver: llamacpp, unit: ${U.idle}, port: ${P.idle}, vram_mb: 8000, model: coder-7b, wake_timeout_s: 5 }
modes: {}
`;
const ROUTER = 300; // the router process's own VRAM: what an unloaded model leaves behind
const LOADED = ROUTER + 8000; // plus the model's child
const IDLE = ROUTER + 500; // plus an idle-sleeping child's CUDA context
const COMMON = ['--model-vram-mb', '8000', '--router-vram-mb', String(ROUTER)];

interface RouterState {
  models: Array<{ id: string; status: string; failed: boolean; exitCode: number | null; childPid: number | null }>;
}

describe('drivers/llamacpp against the fake llama.cpp router under the real systemd user manager', function () {
  this.timeout(60_000);
  const svcs = servicesFromYaml(YAML);
  const svc = (name: string): ServiceConfig => svcs.get(name)!;
  const coder = svc('coder');
  const drv = driverFor(coder);
  let rig: Rig;

  before(async () => {
    rig = new Rig(Object.values(P));
    await rig.checkPortsFree();
  });
  after(async () => {
    await rig.dispose();
  });

  const model = async (port: number, id: string): Promise<RouterState['models'][number]> => {
    const m = (await rig.fakeState<RouterState>(port)).models.find((x) => x.id === id);
    assert.ok(m, `the fake has no model ${id}`);
    return m;
  };

  describe('one router, three configured models', () => {
    after(() => rig.cleanup());

    it('cold start: starting → awaitReady waits for /health, loads the model and polls until loaded → running', async () => {
      assert.equal(drv.kind, 'llamacpp');
      assert.deepEqual(drv.capabilities(coder), { sleepLevels: ['router'], canWake: true, canDrain: false });
      await rig.install(U.main, rig.fakeSpec('llamaRouter', P.main, [...COMMON, '--models', 'coder-7b,broken-3b', '--fail-models', 'broken-3b', '--load-ms', scaled(800), '--unload-ms', scaled(50), '--fail-ms', scaled(100), '--startup-ms', scaled(600)]));
      await rig.systemd.start(U.main);
      await rig.expectObserved(coder, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      rig.http.take();
      const ready = drv.awaitReady(coder, rig.ctx(), 15_000);
      // Mid-load the router answers health and reports the model loading: waking, not starting.
      await rig.awaitObserved(coder, { state: 'waking', healthy: true, detail: /^model loading$/ }, 5000);
      await ready;
      const calls = rig.http.take();
      const health = calls.filter((c) => c === 'GET /health').length;
      assert.ok(health >= 1 && calls.slice(0, health).every((c) => c === 'GET /health'), `health first: ${calls.join(', ')}`);
      assert.deepEqual(calls.slice(health, health + 2), ['GET /models', 'POST /models/load {"model":"coder-7b"}']);
      const polls = calls.slice(health + 2);
      assert.ok(polls.length >= 2 && polls.every((c) => c === 'GET /models'), `the load is awaited by polling GET /models: ${calls.join(', ')}`);
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
    });

    it('sleep = unload polled until unloaded → sleeping(router) with only the router’s memory; wake = load polled until loaded', async () => {
      rig.http.take();
      await drv.sleep(coder, 'router', rig.ctx());
      const slept = rig.http.take();
      assert.equal(slept[0], 'POST /models/unload {"model":"coder-7b"}');
      assert.ok(slept.slice(1).length >= 1 && slept.slice(1).every((c) => c === 'GET /models'), slept.join(', '));
      await rig.expectObserved(coder, { state: 'sleeping', sleep: 'router', healthy: true, vramMb: ROUTER });
      const m = await model(P.main, 'coder-7b');
      assert.equal(m.status, 'unloaded');
      assert.equal(m.childPid, null, 'the child is gone');

      // Unloading what is not loaded: the router's 400 "model is not running" means done.
      rig.http.take();
      await drv.sleep(coder, 'router', rig.ctx());
      assert.deepEqual(rig.http.take(), ['POST /models/unload {"model":"coder-7b"}']);

      await drv.wake(coder, rig.ctx());
      const woke = rig.http.take();
      assert.deepEqual(woke.slice(0, 2), ['GET /models', 'POST /models/load {"model":"coder-7b"}']);
      assert.ok(woke.slice(2).length >= 2 && woke.slice(2).every((c) => c === 'GET /models'), `polled until loaded: ${woke.join(', ')}`);
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
    });

    it('a model whose child fails to load: LOAD_FAILED with the exit code, observed failed; the other model serves on', async () => {
      const broken = svc('broken');
      await rejectsWith(() => drv.wake(broken, rig.ctx()), 'LOAD_FAILED', /^broken: the router failed to load broken-3b \(exit code 1\)/);
      await rig.expectObserved(broken, { state: 'failed', healthy: false, detail: /^the model's process ended \(exit code 1\): its load failed, or it was killed$/ });
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
      await rejectsWith(() => drv.awaitReady(broken, rig.ctx(), 5000), 'LOAD_FAILED', /exit code 1/);
    });

    it('a killed child (SIGKILL) is observed failed and its memory gone; a wake loads it again', async () => {
      const r = await json('POST', rig.fakeUrl(P.main, '/_fake/kill-model'), { model: 'coder-7b' });
      assert.equal(r.status, 200, r.body);
      // The router says only "failed, exit code 1" (a load that failed reads the same): not "model load failed".
      await rig.awaitObserved(coder, { state: 'failed', healthy: false, detail: /^the model's process ended \(exit code 1\): its load failed, or it was killed$/, vramMb: ROUTER });
      await drv.wake(coder, rig.ctx());
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
    });

    it('a model the router does not offer: a clear error naming it and what the router has', async () => {
      const ghost = svc('ghost');
      const why = /^ghost: the router does not offer model "ghost-13b" \(it has: coder-7b, broken-3b\)$/;
      await rig.expectObserved(ghost, { state: 'unknown', healthy: false, detail: why });
      await rejectsWith(() => drv.wake(ghost, rig.ctx()), 'LOAD_FAILED', why);
      await rejectsWith(() => drv.awaitReady(ghost, rig.ctx(), 5000), 'LOAD_FAILED', why);
      await rejectsWith(() => drv.sleep(ghost, 'router', rig.ctx()), 'LOAD_FAILED', /^ghost: the router has no model "ghost-13b"$/);
    });

    it('faults on /models/load (500, hang), /models/unload (500, hang) and /models (500, refuse)', async () => {
      await rig.fault(P.main, { endpoint: '/models/unload', kind: '500', times: 1 });
      await rejectsWith(() => drv.sleep(coder, 'router', rig.ctx()), 'HTTP_ERROR', /^coder: POST \/models\/unload answered 500: .*fake fault injected/);
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
      await rig.fault(P.main, { endpoint: '/models/unload', kind: 'hang', times: 1 });
      await rejectsWith(() => drv.sleep(coder, 'router', rig.ctx(AbortSignal.timeout(300))), 'CANCELLED');
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });

      await drv.sleep(coder, 'router', rig.ctx());
      await rig.fault(P.main, { endpoint: '/models/load', kind: '500', times: 1 });
      await rejectsWith(() => drv.wake(coder, rig.ctx()), 'HTTP_ERROR', /^coder: POST \/models\/load answered 500/);
      await rig.expectObserved(coder, { state: 'sleeping', sleep: 'router', healthy: true, vramMb: ROUTER });
      await rig.fault(P.main, { endpoint: '/models/load', kind: 'hang', times: 1 });
      const t0 = Date.now();
      await rejectsWith(() => drv.wake(coder, rig.ctx(AbortSignal.timeout(300))), 'CANCELLED');
      assert.ok(Date.now() - t0 < 2500, `the signal cut the load (${Date.now() - t0} ms)`);
      await rig.expectObserved(coder, { state: 'sleeping', sleep: 'router', healthy: true, vramMb: ROUTER });

      await rig.fault(P.main, { endpoint: '/models', kind: '500', times: 1 });
      await rig.expectObserved(coder, { state: 'unknown', healthy: false, detail: /^coder: GET \/models answered 500/ });

      await rig.fault(P.main, { endpoint: '/models', kind: 'refuse', times: 1, forMs: 1500 });
      await rig.expectObserved(coder, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      await rejectsWith(() => drv.wake(coder, rig.ctx()), 'HTTP_UNREACHABLE', new RegExp(`GET http://127\\.0\\.0\\.1:${P.main}/models`));
      await rig.awaitObserved(coder, { state: 'sleeping', sleep: 'router', healthy: true, vramMb: ROUTER });
      await drv.wake(coder, rig.ctx());
      await rig.expectObserved(coder, { state: 'running', healthy: true, vramMb: LOADED });
    });

    it('a router crashing mid-unload: the unit is observed failed, the children gone with it', async () => {
      await rig.fault(P.main, { endpoint: '/models/unload', kind: 'crash' });
      await rejectsWith(() => drv.sleep(coder, 'router', rig.ctx()), 'HTTP_UNREACHABLE', /\/models\/unload/);
      await rig.awaitObserved(coder, { state: 'failed', healthy: false, detail: /^unit failed: exit-code, exit status 1$/, vramMb: 0 });
    });
  });

  describe('idle sleep (--sleep-idle-seconds)', () => {
    after(() => rig.cleanup());

    it('an idle model is observed sleeping(idle), not unloaded, holding its context; wake reloads it with a task; sleep unloads it', async () => {
      const idler = svc('idler');
      await rig.runFake(U.idle, 'llamaRouter', P.idle, [...COMMON, '--models', 'coder-7b', '--sleep-idle-seconds', String(3 * 100), '--sleeping-vram-mb', '500', '--load-ms', scaled(200), '--startup-ms', scaled(100)]);
      await drv.awaitReady(idler, rig.ctx(), 10_000);
      await rig.expectObserved(idler, { state: 'running', healthy: true, vramMb: LOADED });
      // Probes are not tasks: observing does not keep the model awake (it idles after 3 s).
      await rig.awaitObserved(idler, { state: 'sleeping', sleep: 'idle', healthy: true, detail: /^idle \(--sleep-idle-seconds\): its process still holds memory$/, vramMb: IDLE }, 10_000);
      assert.equal((await model(P.idle, 'coder-7b')).status, 'sleeping');
      rig.http.take();
      await drv.wake(idler, rig.ctx());
      assert.deepEqual(rig.http.take().slice(0, 2), ['GET /models', 'POST /completion {"model":"coder-7b","prompt":"","n_predict":1}']);
      await rig.expectObserved(idler, { state: 'running', healthy: true, vramMb: LOADED });
      await rig.awaitObserved(idler, { state: 'sleeping', sleep: 'idle', healthy: true }, 10_000);
      await drv.sleep(idler, 'router', rig.ctx());
      await rig.expectObserved(idler, { state: 'sleeping', sleep: 'router', healthy: true, vramMb: ROUTER });
    });
  });

  describe('--models-max 1: a load cut short by another load', () => {
    after(() => rig.cleanup());

    it('a load the router force-kills to make room is not reported as a failure of the model; the probe reports models-max', async () => {
      const max = { ...coder, name: 'max-a', unit: U.max, port: P.max, model: 'tiny-a' };
      await rig.runFake(max.unit, 'llamaRouter', max.port, [...COMMON, '--models', 'tiny-a,tiny-b', '--models-max', '1', '--load-ms', scaled(1500), '--startup-ms', scaled(100)]);
      await rig.awaitObserved(max, { state: 'sleeping', sleep: 'router', healthy: true }, 10_000);
      assert.equal((await rig.observe(max)).modelsMax, 1);
      const wake = drv.wake(max, rig.ctx());
      await rig.awaitObserved(max, { state: 'waking', healthy: true }, 5000);
      const other = await json('POST', `http://127.0.0.1:${max.port}/models/load`, { model: 'tiny-b' });
      assert.equal(other.status, 200, other.body);
      await rejectsWith(() => wake, 'LOAD_FAILED', /^max-a: the router ended the load of tiny-a to make room for tiny-b \(--models-max 1\): the model did not fail/);
    });
  });
});

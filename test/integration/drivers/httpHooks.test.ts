// The HTTP-hooks driver through its whole protocol against the fake FastAPI hook server (a lazy
// model behind POST /load, POST /unload, GET /status) run as a unit of the real systemd user
// manager, with faults on the hooks and the probe, and the observed state after every step.
import * as assert from 'node:assert/strict';
import { driverFor } from '../../../src/drivers/registry';
import { rejectsWith, Rig, scaled, servicesFromYaml } from './support';
import { testPort, unitName } from '../support/testManager';

const PORT = testPort(310);
const UNIT = unitName('it-drv-hooks');
const HOOKS = `{ sleep: "POST /unload", wake: "POST /load", probe: "GET /status" }`;
const asr = servicesFromYaml(`
services:
  asr: { driver: http, unit: ${UNIT}, port: ${PORT}, vram_mb: 2500, sleep: ${HOOKS}, sleep_timeout_s: 1, wake_timeout_s: 1 }
modes: {}
`).get('asr')!;
// The same server, configured with a probe whose answer tells no state ({"status":"ok"}).
const mute = servicesFromYaml(`
services:
  asr-mute: { driver: http, unit: ${UNIT}, port: ${PORT}, vram_mb: 2500, sleep: { sleep: "POST /unload", wake: "POST /load", probe: "GET /health" } }
modes: {}
`).get('asr-mute')!;
const LOADED = 2500;
const CONTEXT = 500; // the CUDA context an unloaded app keeps

describe('drivers/httpHooks against the fake hook server under the real systemd user manager', function () {
  this.timeout(60_000);
  const drv = driverFor(asr);
  let rig: Rig;

  before(async () => {
    rig = new Rig([PORT]);
    await rig.checkPortsFree();
  });
  after(async () => {
    await rig.dispose();
  });

  it('cold start: starting → a lazy app idles unloaded (sleeping(hook)) → awaitReady loads it → running', async () => {
    assert.equal(drv.kind, 'http');
    assert.deepEqual(drv.capabilities(asr), { sleepLevels: ['hook'], canWake: true, canDrain: false });
    await rig.install(UNIT, rig.fakeSpec('hookServer', PORT, ['--load-on-start', 'off', '--load-ms', scaled(300), '--unload-ms', scaled(50), '--vram-mb', '2500', '--vram-asleep-mb', '500', '--startup-ms', scaled(600)]));
    await rig.systemd.start(UNIT);
    await rig.expectObserved(asr, { state: 'starting', healthy: false, detail: /port not answering yet/ });
    await rig.awaitObserved(asr, { state: 'sleeping', sleep: 'hook', healthy: true, vramMb: CONTEXT });
    rig.http.take();
    await drv.awaitReady(asr, rig.ctx(), 10_000);
    const calls = rig.http.take();
    assert.deepEqual(calls.slice(0, 3), ['GET /health', 'GET /status', 'POST /load']);
    assert.ok(calls.slice(3).length >= 1 && calls.slice(3).every((c) => c === 'GET /status'), calls.join(', '));
    await rig.expectObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });
  });

  it('sleep = the sleep hook, confirmed by the probe → sleeping(hook); wake = the wake hook → running', async () => {
    rig.http.take();
    await drv.sleep(asr, 'hook', rig.ctx());
    assert.deepEqual(rig.http.take(), ['POST /unload', 'GET /status']);
    await rig.expectObserved(asr, { state: 'sleeping', sleep: 'hook', healthy: true, vramMb: CONTEXT });
    await drv.wake(asr, rig.ctx());
    assert.deepEqual(rig.http.take(), ['POST /load', 'GET /status']);
    await rig.expectObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });
  });

  it('faults on the sleep hook: 500 → HTTP_ERROR, hang → HTTP_TIMEOUT at sleep_timeout_s; still running', async () => {
    await rig.fault(PORT, { endpoint: '/unload', kind: '500', times: 1 });
    await rejectsWith(() => drv.sleep(asr, 'hook', rig.ctx()), 'HTTP_ERROR', /^asr: POST \/unload answered 500: .*fake fault injected on \/unload/);
    await rig.expectObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });
    await rig.fault(PORT, { endpoint: '/unload', kind: 'hang', times: 1 });
    const t0 = Date.now();
    await rejectsWith(() => drv.sleep(asr, 'hook', rig.ctx()), 'HTTP_TIMEOUT', new RegExp(`POST http://127\\.0\\.0\\.1:${PORT}/unload did not complete within 1000 ms`));
    assert.ok(Date.now() - t0 < 4000, `${Date.now() - t0} ms`);
    await rig.expectObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });
  });

  it('faults on the wake hook: 500 → HTTP_ERROR, hang → HTTP_TIMEOUT at wake_timeout_s; still sleeping', async () => {
    await drv.sleep(asr, 'hook', rig.ctx());
    await rig.fault(PORT, { endpoint: '/load', kind: '500', times: 1 });
    await rejectsWith(() => drv.wake(asr, rig.ctx()), 'HTTP_ERROR', /^asr: POST \/load answered 500/);
    await rig.expectObserved(asr, { state: 'sleeping', sleep: 'hook', healthy: true, vramMb: CONTEXT });
    await rig.fault(PORT, { endpoint: '/load', kind: 'hang', times: 1 });
    await rejectsWith(() => drv.wake(asr, rig.ctx()), 'HTTP_TIMEOUT', /\/load did not complete within 1000 ms/);
    await rig.expectObserved(asr, { state: 'sleeping', sleep: 'hook', healthy: true, vramMb: CONTEXT });
    await drv.wake(asr, rig.ctx());
    await rig.expectObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });
  });

  it('the probe: a body with no state, a 500, a refused connection, a dead engine', async () => {
    const noState = /^asr-mute: GET \/health tells no state \(expected "loaded", "sleeping" or "state"\): \{"status":"ok"\}$/;
    await rig.expectObserved(mute, { state: 'unknown', healthy: false, detail: noState });
    await rejectsWith(() => drv.awaitReady(mute, rig.ctx(), 5000), 'HTTP_BAD_RESPONSE', noState);

    await rig.fault(PORT, { endpoint: '/status', kind: '500', times: 1 });
    await rig.expectObserved(asr, { state: 'unknown', healthy: false, detail: /^asr: GET \/status answered 500/ });

    await rig.fault(PORT, { endpoint: '/status', kind: 'refuse', times: 1, forMs: 1000 });
    await rig.expectObserved(asr, { state: 'starting', healthy: false, detail: /port not answering yet/ });
    await rig.awaitObserved(asr, { state: 'running', healthy: true, vramMb: LOADED });

    await rig.fault(PORT, { endpoint: '/health', kind: 'engine-dead' });
    await rig.expectObserved(asr, { state: 'running', healthy: false, detail: /health check failing/ });
    await rig.clearFaults(PORT);
    await rig.expectObserved(asr, { state: 'running', healthy: true });
  });

  it('crashes in the hooks: the process exits 1 and the unit is observed failed with its memory gone', async () => {
    const failed = { state: 'failed', healthy: false, detail: /^unit failed: exit-code, exit status 1$/, vramMb: 0 } as const;
    await rig.fault(PORT, { endpoint: '/unload', kind: 'crash' });
    await rejectsWith(() => drv.sleep(asr, 'hook', rig.ctx()), 'HTTP_UNREACHABLE', /\/unload/);
    await rig.awaitObserved(asr, failed);

    await rig.systemd.start(UNIT);
    await drv.awaitReady(asr, rig.ctx(), 10_000);
    await drv.sleep(asr, 'hook', rig.ctx());
    await rig.expectObserved(asr, { state: 'sleeping', sleep: 'hook', healthy: true, vramMb: CONTEXT });
    await rig.fault(PORT, { endpoint: '/load', kind: 'crash' });
    await rejectsWith(() => drv.wake(asr, rig.ctx()), 'HTTP_UNREACHABLE', /\/load/);
    await rig.awaitObserved(asr, failed);
  });
});

// The vLLM driver through its whole protocol against the fake vLLM run as a unit of the real
// systemd user manager: cold start, L1 and L2 sleep/wake, draining, configuration mistakes, and
// every fault kind on the sleep endpoints, with the observed state (and VRAM by cgroup) after each step.
import * as assert from 'node:assert/strict';
import type { ServiceConfig } from '../../../src/config/types';
import { driverFor } from '../../../src/drivers/registry';
import { json } from '../../fakes/lib/testHttp';
import { rejectsWith, Rig, scaled, servicesFromYaml, until } from './support';
import { testPort, unitName } from '../support/testManager';

const P = { main: testPort(110), nodev: testPort(111), nosleep: testPort(112), old: testPort(113), crash: testPort(114), restart: testPort(115) };
const U = {
  main: unitName('it-drv-vllm'),
  nodev: unitName('it-drv-vllm-nodev'),
  nosleep: unitName('it-drv-vllm-nosleep'),
  old: unitName('it-drv-vllm-old'),
  crash: unitName('it-drv-vllm-crash'),
  restart: unitName('it-drv-vllm-restart'),
};
// Short sleep/wake timeouts: the hang tests wait them out.
const YAML = `
services:
  chat:    { driver: vllm, unit: ${U.main}, port: ${P.main}, vram_mb: 7000, sleep: l1, sleep_vram_mb: 1500, sleep_timeout_s: 1, wake_timeout_s: 1 }
  nodev:   { driver: vllm, unit: ${U.nodev}, port: ${P.nodev}, vram_mb: 7000, sleep: l1 }
  nosleep: { driver: vllm, unit: ${U.nosleep}, port: ${P.nosleep}, vram_mb: 7000, sleep: l1 }
  old:     { driver: vllm, unit: ${U.old}, port: ${P.old}, vram_mb: 7000, sleep: l1, sleep_timeout_s: 10 }
  crashy:  { driver: vllm, unit: ${U.crash}, port: ${P.crash}, vram_mb: 7000, sleep: l2 }
  phoenix: { driver: vllm, unit: ${U.restart}, port: ${P.restart}, vram_mb: 7000, sleep: l1 }
modes: {}
`;
// 7000 MB awake; 1500 MB residue asleep; KV cache 40% of the rest (2200), so weights are 3300.
const AWAKE = 7000;
const RESIDUE = 1500;
const WEIGHTS_BACK = 4800; // an L2 wake stopped after the weights: residue + weights, no KV cache
const VRAM_ARGS = ['--vram-mb', '7000', '--vram-asleep-mb', '1500'];
const QUICK_START = ['--startup-ms', scaled(150)];

interface Completion {
  finish: string;
  text: string;
  garbage: boolean;
  doneAt: number;
}

/** One completion from the fake (outside the driver, as a user's request would be). */
async function complete(port: number): Promise<Completion> {
  const r = await json('POST', `http://127.0.0.1:${port}/v1/completions`, { prompt: 'hi', max_tokens: 1 }, 15_000);
  assert.equal(r.status, 200, r.body);
  const v = r.value as { choices: Array<{ text: string; finish_reason: string }>; fake_garbage?: boolean };
  return { finish: v.choices[0].finish_reason, text: v.choices[0].text, garbage: v.fake_garbage === true, doneAt: Date.now() };
}

interface VllmState {
  isSleeping: boolean;
  sleepingTags: string[];
  level: number | null;
  weightsValid: boolean;
  running: number;
}

describe('drivers/vllm against the fake vLLM under the real systemd user manager', function () {
  this.timeout(60_000);
  const svcs = servicesFromYaml(YAML);
  const svc = (name: string): ServiceConfig => svcs.get(name)!;
  const drv = driverFor(svc('chat'));
  let rig: Rig;

  before(async () => {
    rig = new Rig(Object.values(P));
    await rig.checkPortsFree();
  });
  after(async () => {
    await rig.dispose();
  });

  const state = (port: number): Promise<VllmState> => rig.fakeState<VllmState>(port);
  /** Starts a request; resolves once the fake has it running (so a sleep meets it in flight), with its answer to come. */
  const inFlight = async (port: number): Promise<{ answer: Promise<Completion> }> => {
    const answer = complete(port);
    await until('a request in flight', async () => ((await state(port)).running === 1 ? true : undefined));
    return { answer }; // wrapped: an async function returning the promise itself would wait for it
  };

  describe('protocol on one server', () => {
    const chat = svc('chat');
    after(() => rig.cleanup());

    it('cold start: starting (port not bound) → awaitReady → running with the weights on the GPU', async () => {
      assert.equal(drv.kind, 'vllm');
      await rig.install(U.main, rig.fakeSpec('vllm', P.main, [...VRAM_ARGS, '--startup-ms', scaled(800), '--infer-ms', scaled(600)]));
      await rig.systemd.start(U.main);
      await rig.expectObserved(chat, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      await drv.awaitReady(chat, rig.ctx(), 10_000);
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
      assert.deepEqual(drv.capabilities(chat), { sleepLevels: ['l1', 'l2'], canWake: true, canDrain: true });
    });

    it('L1: sleep (mode=wait on 0.17) → sleeping(l1) holding only the residue; wake with the depth read from /metrics → running', async () => {
      rig.http.take();
      await drv.sleep(chat, 'l1', rig.ctx());
      assert.deepEqual(rig.http.take(), ['GET /version', 'POST /sleep?level=1&mode=wait', 'GET /is_sleeping']);
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      assert.deepEqual((await state(P.main)).sleepingTags.sort(), ['kv_cache', 'weights']);

      rig.http.take();
      await drv.wake(chat, rig.ctx()); // depth unknown: the driver reads weights_offloaded from /metrics
      const calls = rig.http.take();
      assert.deepEqual(calls.filter((c) => c.startsWith('POST ')), ['POST /wake_up'], `the L1 wake: ${calls.join(', ')}`);
      assert.ok(calls.indexOf('GET /metrics') >= 0 && calls.indexOf('GET /metrics') < calls.indexOf('POST /wake_up'), calls.join(', '));
      assert.equal(calls.at(-1), 'GET /is_sleeping', 'the wake is confirmed by /is_sleeping');
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
      assert.equal((await state(P.main)).isSleeping, false);
    });

    it('L2: sleep discards the weights; wake is weights → reload_weights → kv_cache, and serves real output', async () => {
      await drv.sleep(chat, 'l2', rig.ctx());
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l2', healthy: true, vramMb: RESIDUE });
      const asleep = await state(P.main);
      assert.equal(asleep.level, 2);
      assert.equal(asleep.weightsValid, false, 'an L2 sleep discards the weights');

      rig.http.take();
      await drv.wake(chat, rig.ctx(), 'l2');
      assert.deepEqual(rig.http.take(), [
        'POST /wake_up?tags=weights',
        'POST /collective_rpc {"method":"reload_weights"}',
        'POST /wake_up?tags=kv_cache',
        'POST /reset_prefix_cache',
        'GET /is_sleeping',
      ]);
      const awake = await state(P.main);
      assert.equal(awake.isSleeping, false);
      assert.equal(awake.weightsValid, true, 'the weights were reloaded');
      const c = await complete(P.main);
      assert.equal(c.garbage, false);
      assert.match(c.text, /^Hello from /);
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('a depth it cannot read (no sleep-state metric) is taken as l2, so waking with the observed depth reloads the weights', async () => {
      // The planner deepens an l1 service to L2 for host RAM; a server without the gauge (or a /metrics
      // that fails) must not be guessed back to l1: an L1 wake after an L2 sleep serves garbage.
      await drv.sleep(chat, 'l2', rig.ctx());
      await rig.fault(P.main, { endpoint: '/metrics', kind: '500', times: 1 });
      const o = await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l2', healthy: true, detail: /no sleep-state metric/ });
      await drv.wake(chat, rig.ctx(), o.sleep); // as the executor does: with the observed depth
      assert.equal((await state(P.main)).weightsValid, true, 'the weights were reloaded');
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('drains: a request in flight finishes before the sleep (mode=wait); a forced sleep aborts it', async () => {
      let pending = await inFlight(P.main);
      rig.http.take();
      await drv.sleep(chat, 'l1', rig.ctx());
      const sleptAt = Date.now();
      const c = await pending.answer;
      assert.ok(rig.http.take().includes('POST /sleep?level=1&mode=wait'));
      assert.equal(c.finish, 'length', 'the request ran to its end');
      assert.equal(c.garbage, false);
      assert.ok(c.doneAt <= sleptAt, 'the request was answered before the sleep returned');
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true });
      await drv.wake(chat, rig.ctx(), 'l1');
      await rig.expectObserved(chat, { state: 'running', healthy: true });

      pending = await inFlight(P.main);
      rig.http.take();
      await drv.sleep(chat, 'l1', rig.ctx(), { force: true });
      assert.deepEqual(rig.http.take(), ['POST /sleep?level=1', 'GET /is_sleeping']);
      assert.equal((await pending.answer).finish, 'abort', 'without mode=wait vLLM aborts what runs');
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await drv.wake(chat, rig.ctx(), 'l1');
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('500 on /sleep, /is_sleeping, /wake_up and /collective_rpc: HTTP_ERROR naming the service, the call and the status', async () => {
      await rig.fault(P.main, { endpoint: '/sleep', kind: '500', times: 1 });
      await rejectsWith(() => drv.sleep(chat, 'l1', rig.ctx()), 'HTTP_ERROR', /^chat: POST \/sleep\?level=1&mode=wait answered 500: .*fake fault injected on \/sleep/);
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });

      // The probe's first question fails: the state is unknown, with the reason.
      await rig.fault(P.main, { endpoint: '/is_sleeping', kind: '500', times: 1 });
      await rig.expectObserved(chat, { state: 'unknown', healthy: false, detail: /^chat: GET \/is_sleeping answered 500/ });
      // The sleep's confirmation fails: the driver reports it, and the next look shows the truth.
      await rig.fault(P.main, { endpoint: '/is_sleeping', kind: '500', times: 1 });
      await rejectsWith(() => drv.sleep(chat, 'l1', rig.ctx()), 'HTTP_ERROR', /^chat: GET \/is_sleeping answered 500/);
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });

      await rig.fault(P.main, { endpoint: '/wake_up', kind: '500', times: 1 });
      await rejectsWith(() => drv.wake(chat, rig.ctx(), 'l1'), 'HTTP_ERROR', /^chat: POST \/wake_up answered 500/);
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await drv.wake(chat, rig.ctx(), 'l1');
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });

      await drv.sleep(chat, 'l2', rig.ctx());
      await rig.fault(P.main, { endpoint: '/collective_rpc', kind: '500', times: 1 });
      await rejectsWith(() => drv.wake(chat, rig.ctx(), 'l2'), 'HTTP_ERROR', /^chat: POST \/collective_rpc answered 500/);
      // Half woken: the weights are mapped again (but stale), the KV cache still asleep.
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l2', healthy: true, vramMb: WEIGHTS_BACK });
      assert.deepEqual((await state(P.main)).sleepingTags, ['kv_cache']);
      // A retry with the depth read from /metrics completes it (the weights tag wake is a no-op now).
      await drv.wake(chat, rig.ctx());
      assert.equal((await state(P.main)).weightsValid, true);
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('hangs: a wedged endpoint is cut by the call timeout (HTTP_TIMEOUT) or the caller’s signal (CANCELLED)', async () => {
      await rig.fault(P.main, { endpoint: '/sleep', kind: 'hang', times: 1 });
      let t0 = Date.now();
      await rejectsWith(() => drv.sleep(chat, 'l1', rig.ctx()), 'HTTP_TIMEOUT', new RegExp(`POST http://127\\.0\\.0\\.1:${P.main}/sleep\\?level=1&mode=wait did not complete within 1000 ms`));
      assert.ok(Date.now() - t0 < 5000, `sleep_timeout_s 1 held (${Date.now() - t0} ms)`);
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });

      await drv.sleep(chat, 'l1', rig.ctx());
      await rig.fault(P.main, { endpoint: '/wake_up', kind: 'hang', times: 1 });
      t0 = Date.now();
      await rejectsWith(() => drv.wake(chat, rig.ctx(AbortSignal.timeout(300)), 'l1'), 'CANCELLED');
      assert.ok(Date.now() - t0 < 3000, `the signal cut the wake (${Date.now() - t0} ms)`);
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await drv.wake(chat, rig.ctx(), 'l1');

      await drv.sleep(chat, 'l2', rig.ctx());
      await rig.fault(P.main, { endpoint: '/collective_rpc', kind: 'hang', times: 1 });
      await rejectsWith(() => drv.wake(chat, rig.ctx(), 'l2'), 'HTTP_TIMEOUT', /\/collective_rpc did not complete within 1000 ms/);
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l2', healthy: true, vramMb: WEIGHTS_BACK });
      await drv.wake(chat, rig.ctx());
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });

      // A probe never waits longer than its own short timeout.
      await rig.fault(P.main, { endpoint: '/is_sleeping', kind: 'hang', times: 1 });
      t0 = Date.now();
      await rig.expectObserved(chat, { state: 'unknown', healthy: false, detail: /\/is_sleeping did not complete within 3000 ms/ });
      assert.ok(Date.now() - t0 < 5500, `the probe gave up in time (${Date.now() - t0} ms)`);
      await rig.expectObserved(chat, { state: 'running', healthy: true });
    });

    it('refused connections: the call fails HTTP_UNREACHABLE and the service reads as starting until it listens again', async () => {
      const refuse = (endpoint: string): Promise<void> => rig.fault(P.main, { endpoint, kind: 'refuse', times: 1, forMs: 1000 });

      await refuse('/sleep');
      await rejectsWith(() => drv.sleep(chat, 'l1', rig.ctx()), 'HTTP_UNREACHABLE', /\/sleep\?level=1&mode=wait/);
      await rig.expectObserved(chat, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      await rig.awaitObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });

      await drv.sleep(chat, 'l1', rig.ctx());
      await refuse('/wake_up');
      await rejectsWith(() => drv.wake(chat, rig.ctx(), 'l1'), 'HTTP_UNREACHABLE', /\/wake_up/);
      await rig.expectObserved(chat, { state: 'starting', healthy: false });
      await rig.awaitObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await drv.wake(chat, rig.ctx(), 'l1');

      await drv.sleep(chat, 'l2', rig.ctx());
      await refuse('/collective_rpc');
      await rejectsWith(() => drv.wake(chat, rig.ctx(), 'l2'), 'HTTP_UNREACHABLE', /\/collective_rpc/);
      await rig.expectObserved(chat, { state: 'starting', healthy: false });
      await rig.awaitObserved(chat, { state: 'sleeping', sleep: 'l2', healthy: true, vramMb: WEIGHTS_BACK });
      await drv.wake(chat, rig.ctx());

      await refuse('/is_sleeping');
      await rig.expectObserved(chat, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      await rig.awaitObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('engine dead: /health 503 reads as running but unhealthy (asleep: sleeping, unhealthy), and blocks awaitReady', async () => {
      await rig.fault(P.main, { endpoint: '/health', kind: 'engine-dead' });
      await rig.expectObserved(chat, { state: 'running', healthy: false, detail: /health check failed/, vramMb: AWAKE });
      await rejectsWith(() => drv.awaitReady(chat, rig.ctx(), 400), 'DEADLINE', /chat: waiting for \/health: .*last seen: HTTP 503/);
      await drv.sleep(chat, 'l1', rig.ctx());
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: false });
      await rig.clearFaults(P.main); // revives the engine
      await rig.expectObserved(chat, { state: 'sleeping', sleep: 'l1', healthy: true });
      await drv.wake(chat, rig.ctx(), 'l1');
      await rig.expectObserved(chat, { state: 'running', healthy: true, vramMb: AWAKE });
    });
  });

  describe('servers started without what sleeping needs', () => {
    after(() => rig.cleanup());

    it('without VLLM_SERVER_DEV_MODE: awake with the reason, and sleep/wake reject SLEEP_NOT_ENABLED', async () => {
      const s = svc('nodev');
      await rig.runFake(U.nodev, 'vllm', P.nodev, [...VRAM_ARGS, ...QUICK_START, '--dev-mode', 'off']);
      await drv.awaitReady(s, rig.ctx(), 10_000);
      await rig.expectObserved(s, { state: 'running', healthy: true, detail: /sleep endpoints disabled \(VLLM_SERVER_DEV_MODE=1 not set\)/, vramMb: AWAKE });
      await rejectsWith(() => drv.sleep(s, 'l1', rig.ctx()), 'SLEEP_NOT_ENABLED', /^nodev: POST \/sleep\?level=1&mode=wait answered 404: .*VLLM_SERVER_DEV_MODE=1/);
      await rejectsWith(() => drv.wake(s, rig.ctx(), 'l1'), 'SLEEP_NOT_ENABLED', /POST \/wake_up answered 404/);
      await rig.expectObserved(s, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('without --enable-sleep-mode: /sleep answers 200 and /is_sleeping true, but the GPU shows nothing freed', async () => {
      // vLLM V1 (protocols.md §1.1): only the memory tells. The driver cannot see the GPU; the
      // observation can, and the executor's wait for freed memory is what catches this.
      const s = svc('nosleep');
      await rig.runFake(U.nosleep, 'vllm', P.nosleep, [...VRAM_ARGS, ...QUICK_START, '--sleep-mode-enabled', 'off']);
      await drv.awaitReady(s, rig.ctx(), 10_000);
      await rig.expectObserved(s, { state: 'running', healthy: true, vramMb: AWAKE });
      await drv.sleep(s, 'l1', rig.ctx());
      await rig.expectObserved(s, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: AWAKE });
      await drv.wake(s, rig.ctx(), 'l1');
      await rig.expectObserved(s, { state: 'running', healthy: true, vramMb: AWAKE });
    });

    it('old vLLM (0.15, no mode=): the driver drains by polling /metrics before /sleep; a forced sleep corrupts the request', async () => {
      const s = svc('old');
      await rig.runFake(U.old, 'vllm', P.old, [...VRAM_ARGS, ...QUICK_START, '--vllm-version', '0.15.0', '--supports-mode-param', 'off', '--infer-ms', scaled(700)]);
      await drv.awaitReady(s, rig.ctx(), 10_000);
      let pending = await inFlight(P.old);
      rig.http.take();
      await drv.sleep(s, 'l1', rig.ctx());
      const sleptAt = Date.now();
      const calls = rig.http.take();
      const c = await pending.answer;
      assert.equal(calls[0], 'GET /version');
      assert.ok(calls.filter((x) => x === 'GET /metrics').length >= 2, `polled /metrics while the request ran: ${calls.join(', ')}`);
      assert.deepEqual(calls.slice(-2), ['POST /sleep?level=1', 'GET /is_sleeping']);
      assert.equal(c.garbage, false, 'the request finished before the memory went away');
      assert.ok(c.doneAt <= sleptAt);
      await rig.expectObserved(s, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await drv.wake(s, rig.ctx(), 'l1');
      await rig.expectObserved(s, { state: 'running', healthy: true, vramMb: AWAKE });

      pending = await inFlight(P.old);
      await drv.sleep(s, 'l1', rig.ctx(), { force: true });
      assert.equal((await pending.answer).garbage, true, 'what the drain prevents: output computed on unmapped memory');
      await drv.wake(s, rig.ctx(), 'l1');
    });
  });

  describe('crashes mid-step', () => {
    after(() => rig.cleanup());
    const crashy = svc('crashy');
    const failed = { state: 'failed', healthy: false, detail: /^unit failed: exit-code, exit status 1$/, vramMb: 0 } as const;

    /** (Re)starts the crash unit (Restart=no) and waits until it serves. */
    const startCrashy = async (): Promise<void> => {
      await rig.systemd.start(U.crash);
      await drv.awaitReady(crashy, rig.ctx(), 10_000);
      await rig.expectObserved(crashy, { state: 'running', healthy: true, vramMb: AWAKE });
    };

    it('in /sleep, /collective_rpc and /is_sleeping: the process exits 1, the unit (Restart=no) is observed failed, the memory gone', async () => {
      await rig.install(U.crash, rig.fakeSpec('vllm', P.crash, [...VRAM_ARGS, ...QUICK_START]));

      await startCrashy();
      await rig.fault(P.crash, { endpoint: '/sleep', kind: 'crash' });
      await rejectsWith(() => drv.sleep(crashy, 'l2', rig.ctx()), 'HTTP_UNREACHABLE', /\/sleep\?level=2&mode=wait/);
      await rig.awaitObserved(crashy, failed);

      await startCrashy();
      await drv.sleep(crashy, 'l2', rig.ctx());
      await rig.fault(P.crash, { endpoint: '/collective_rpc', kind: 'crash' });
      await rejectsWith(() => drv.wake(crashy, rig.ctx(), 'l2'), 'HTTP_UNREACHABLE', /\/collective_rpc/);
      await rig.awaitObserved(crashy, failed);

      // The probe itself kills it: that look still saw an active unit with nothing answering.
      await startCrashy();
      await rig.fault(P.crash, { endpoint: '/is_sleeping', kind: 'crash' });
      await rig.expectObserved(crashy, { state: 'starting', healthy: false, detail: /port not answering yet/ });
      await rig.awaitObserved(crashy, failed);
    });

    it('in /wake_up with Restart=on-failure: starting (auto-restart), then a fresh awake server', async () => {
      const s = svc('phoenix');
      await rig.runFake(U.restart, 'vllm', P.restart, [...VRAM_ARGS, ...QUICK_START], { Restart: 'on-failure', RestartSec: '1' });
      await drv.awaitReady(s, rig.ctx(), 10_000);
      await drv.sleep(s, 'l1', rig.ctx());
      await rig.expectObserved(s, { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: RESIDUE });
      await rig.fault(P.restart, { endpoint: '/wake_up', kind: 'crash' });
      await rejectsWith(() => drv.wake(s, rig.ctx(), 'l1'), 'HTTP_UNREACHABLE', /\/wake_up/);
      await rig.awaitObserved(s, { state: 'starting', healthy: false, detail: /^restarting after a failure \(0 restarts\)$/, vramMb: 0 });
      await drv.awaitReady(s, rig.ctx(), 10_000);
      const o = await rig.expectObserved(s, { state: 'running', healthy: true, vramMb: AWAKE });
      assert.equal(o.unit?.nRestarts, 1);
    });
  });
});

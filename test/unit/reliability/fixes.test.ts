// The engine and driver fixes the fault matrix led to, pinned at the unit level (virtual time):
// a start whose unit dies is failed at once, an outgoing service that crashed is restarted by the
// rollback, and a depth-less wake of an awake vLLM (a rollback's) sends nothing that reloads weights.
import * as assert from 'node:assert/strict';
import type { ServiceConfig } from '../../../src/config/types';
import type { Driver } from '../../../src/engine/driverPort';
import { vllmDriver } from '../../../src/drivers/vllm';
import { serviceAction, switchMode } from '../../../src/engine/switcher';
import { GpumodError } from '../../../src/errors';
import { silentLogger } from '../../../src/system/logger';
import type { HttpClient, HttpRequest, HttpResponse } from '../../../src/engine/machinePorts';
import { machine } from '../engine/profile';

describe('reliability: fixes found by the fault matrix', () => {
  it('a cold start whose unit exits at once fails within a watch interval, naming the exit, not after the start-up deadline', async () => {
    const m = machine(32, 'blank');
    const ports = m.ports();
    const start = ports.systemd.start;
    // Type=simple: `systemctl start` succeeds, then the server exits 2 (a bad option).
    ports.systemd = {
      ...ports.systemd,
      start: async (unit, opts) => {
        await start(unit, opts);
        // Only systemd knows: the fake server's own wait would still run to its 120 s cold start.
        if (unit === 'vllm-embedding.service') m.svc('vllm-embedding').active = 'failed';
      },
    };
    const r = await switchMode(m.config, 'rag', ports);
    assert.equal(r.ok, false);
    assert.deepEqual([r.failure?.service, r.failure?.action], ['vllm-embedding', 'start']);
    assert.match(r.failure?.error ?? '', /vllm-embedding\.service exited during start-up \(exit-code, exit status 1\)/);
    const entry = r.timeline.find((e) => e.service === 'vllm-embedding' && e.action === 'start' && e.phase === 'acquire');
    assert.ok(entry && entry.ms < 1000, `failed after ${entry?.ms} ms (its cold start is 120 s, its deadline 300 s)`);
    assert.equal(r.rolledBack, true);
    assert.equal(r.mode, 'blank');
    // Nothing of the failed step outlives it: its health poll would keep the CLI up until the server's
    // 120 s cold start (the virtual clock would jump there), or its 300 s deadline on a real machine.
    const ended = m.clock.now();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(m.clock.now(), ended, 'a timer of the failed start was still pending');
  });

  it('a unit left failed at its start limit is reset before it is started: by hand and by a switch', async () => {
    const m = machine(32, 'rag', { 'vllm-tts': 'failed', 'qwen3-asr': 'failed' });
    const ports = m.ports();
    const start = ports.systemd.start;
    // systemd's answer while a unit sits at its start limit: every start is refused until reset-failed.
    ports.systemd = {
      ...ports.systemd,
      start: async (unit, opts) => {
        if ((await ports.systemd.show(unit)).activeState === 'failed') throw new GpumodError('PROCESS_FAILED', `${unit}: start request repeated too quickly`);
        await start(unit, opts);
      },
    };
    const r = await serviceAction(m.config, 'vllm-tts', 'start', ports, { force: true });
    assert.equal(r.ok, true, r.message);
    assert.deepEqual(m.mutations().filter((c) => c.service === 'vllm-tts').map((c) => c.op), ['resetFailed', 'start', 'awaitReady']);
    const s = await switchMode(m.config, 'speak', ports);
    assert.equal(s.ok, true, s.message);
    assert.equal(m.stateOf('qwen3-asr'), 'running');
    assert.equal(m.mutations().filter((c) => c.op === 'resetFailed').length, 2, 'only failed units are reset');
  });

  it('a server that crashes while put to sleep is started again by the rollback: the machine is back in its mode', async () => {
    const m = machine(32, 'rag');
    const ports = m.ports();
    const drivers = ports.drivers;
    ports.drivers = (svc: ServiceConfig): Driver => {
      const d = drivers(svc);
      if (svc.name !== 'vllm-chat') return d;
      return {
        ...d,
        sleep: async () => {
          m.set({ 'vllm-chat': 'failed' });
          throw new GpumodError('HTTP_UNREACHABLE', 'POST /sleep: UND_ERR_SOCKET');
        },
      };
    };
    const r = await switchMode(m.config, 'code', ports);
    assert.equal(r.ok, false);
    assert.deepEqual([r.failure?.service, r.failure?.action], ['vllm-chat', 'sleep']);
    assert.equal(r.rolledBack, true);
    assert.deepEqual(r.rollbackFailures, []);
    assert.ok(r.timeline.some((e) => e.service === 'vllm-chat' && e.action === 'start' && e.phase === 'rollback' && e.result === 'ok'), JSON.stringify(r.timeline));
    assert.equal(m.stateOf('vllm-chat'), 'running');
    assert.equal(r.mode, 'rag');
  });

  describe('vLLM wake without a depth (what a rollback asks after a sleep that failed)', () => {
    const svc = { name: 'chat', host: '127.0.0.1', port: 7071, sleep: 'l1', wakeTimeoutMs: 1000, sleepTimeoutMs: 1000 } as ServiceConfig;

    function server(answers: Record<string, string>): HttpClient & { calls: string[] } {
      const calls: string[] = [];
      return {
        calls,
        async request(req: HttpRequest): Promise<HttpResponse> {
          const u = new URL(req.url);
          calls.push(`${req.method} ${u.pathname}${u.search}`);
          const body = answers[`${req.method} ${u.pathname}`];
          return body === undefined ? { status: 404, body: '{"detail":"Not Found"}', ms: 1 } : { status: 200, body, ms: 1 };
        },
      };
    }
    const metric = (state: string): string =>
      ['awake', 'weights_offloaded', 'discard_all'].map((s) => `vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="${s}"} ${s === state ? 1 : 0}`).join('\n');

    it('an awake server (per /metrics) gets no wake and no reload_weights', async () => {
      const http = server({ 'GET /metrics': metric('awake'), 'GET /is_sleeping': '{"is_sleeping":false}' });
      await vllmDriver.wake(svc, { http, log: silentLogger, signal: new AbortController().signal });
      assert.deepEqual(http.calls, ['GET /metrics']);
    });

    it('an awake server without the metric is asked /is_sleeping, and left alone', async () => {
      const http = server({ 'GET /is_sleeping': '{"is_sleeping":false}' });
      await vllmDriver.wake(svc, { http, log: silentLogger, signal: new AbortController().signal });
      assert.deepEqual(http.calls, ['GET /metrics', 'GET /is_sleeping']);
    });

    it('an asleep server without the metric still gets the safe L2 sequence', async () => {
      let asleep = true;
      const http = server({ 'POST /wake_up': '', 'POST /collective_rpc': '{"results":[null]}', 'POST /reset_prefix_cache': '' });
      const inner = http.request.bind(http);
      http.request = async (req) => {
        if (req.url.endsWith('/is_sleeping')) {
          http.calls.push('GET /is_sleeping');
          return { status: 200, body: JSON.stringify({ is_sleeping: asleep }), ms: 1 };
        }
        if (req.url.endsWith('/reset_prefix_cache')) asleep = false;
        return inner(req);
      };
      await vllmDriver.wake(svc, { http, log: silentLogger, signal: new AbortController().signal });
      assert.deepEqual(http.calls, ['GET /metrics', 'GET /is_sleeping', 'POST /wake_up?tags=weights', 'POST /collective_rpc', 'POST /wake_up?tags=kv_cache', 'POST /reset_prefix_cache', 'GET /is_sleeping']);
    });
  });
});

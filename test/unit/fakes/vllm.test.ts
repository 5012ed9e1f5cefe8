// The fake vLLM against protocols.md Part 1: the §1.11 exchange byte for byte, L2 without reload,
// requests while asleep, dev mode off, faults, /metrics and mode=wait/abort.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../../fakes/lib/gpuFiles';
import { startFake, type RunningFake } from '../../fakes/lib/spawnFake';
import { http, json, waitFor, type TestResponse } from '../../fakes/lib/testHttp';

const FAST = ['--startup-ms', '0', '--sleep-ms-l1', '20', '--sleep-ms-l2', '10', '--wake-ms-l1', '20', '--wake-ms-l2', '20', '--wake-ms-kv', '5', '--reload-ms', '30', '--infer-ms', '20', '--stop-ms', '300'];

const complete = (fake: RunningFake, timeoutMs?: number): Promise<{ status: number; value: unknown; body: string }> =>
  json('POST', `${fake.url}/v1/completions`, { model: 'fake/model', prompt: 'hello', max_tokens: 4 }, timeoutMs);
const choice = (r: { value: unknown }): { text: string; finish_reason: string } => (r.value as { choices: Array<{ text: string; finish_reason: string }> }).choices[0];
const state = async (fake: RunningFake): Promise<Record<string, unknown>> => (await json('GET', `${fake.url}/_fake/state`)).value as Record<string, unknown>;
const metric = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(name));
  assert.ok(line, `metric ${name} missing in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('fake vLLM', function () {
  this.timeout(10000);
  const fakes: RunningFake[] = [];
  const start = async (args: string[]): Promise<RunningFake> => {
    const f = await startFake('vllm', [...FAST, ...args]);
    fakes.push(f);
    return f;
  };
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop('SIGKILL')));
  });

  it('reproduces the example exchange of protocols.md §1.11 byte for byte', async () => {
    const f = await start([]);
    const expectExchange = async (method: string, path: string, body: string | undefined, status: number, want: string): Promise<TestResponse> => {
      const res = await http(method, `${f.url}${path}`, body);
      assert.equal(res.status, status, `${method} ${path}`);
      assert.equal(res.body, want, `${method} ${path}`);
      return res;
    };
    const slept = await expectExchange('POST', '/sleep?level=1', undefined, 200, '');
    assert.equal(slept.headers['content-length'], '0');
    await expectExchange('GET', '/is_sleeping', undefined, 200, '{"is_sleeping":true}');
    await expectExchange('GET', '/health', undefined, 200, '');
    await expectExchange('POST', '/wake_up?tags=weights', undefined, 200, '');
    await expectExchange('GET', '/is_sleeping', undefined, 200, '{"is_sleeping":true}');
    await expectExchange('POST', '/wake_up?tags=kv_cache', undefined, 200, '');
    await expectExchange('GET', '/is_sleeping', undefined, 200, '{"is_sleeping":false}');
    await expectExchange('POST', '/collective_rpc', '{}', 400, '{"error":{"message":"Missing \'method\' in request body","type":"Bad Request","param":null,"code":400}}');
    const bad = await http('POST', `${f.url}/collective_rpc`, '{nope');
    assert.equal(bad.status, 400);
    assert.match((JSON.parse(bad.body) as { error: { message: string } }).error.message, /^JSON decode error: /);
    await expectExchange('POST', '/sleep?level=abc', undefined, 500, 'Internal Server Error');
    await expectExchange('GET', '/no/such/route', undefined, 404, '{"detail":"Not Found"}');
    // Idempotency: sleeping twice and waking an awake server are 200 no-ops.
    await expectExchange('POST', '/wake_up', undefined, 200, '');
    await expectExchange('POST', '/sleep?level=1', undefined, 200, '');
    await expectExchange('POST', '/sleep?level=2', undefined, 200, '');
    assert.equal((await state(f)).level, 1, 'a second sleep must not deepen the first');
    // Waking a tag not asleep ignores the whole call.
    await expectExchange('POST', '/wake_up?tags=weights', undefined, 200, '');
    await expectExchange('POST', '/wake_up?tags=weights&tags=kv_cache', undefined, 200, '');
    assert.deepEqual((await state(f)).sleepingTags, ['kv_cache']);
  });

  it('dev mode off: every dev endpoint is 404 {"detail":"Not Found"}, the rest works', async () => {
    const f = await start(['--dev-mode', 'off']);
    for (const [method, path] of [['POST', '/sleep'], ['POST', '/sleep?level=1'], ['POST', '/wake_up'], ['GET', '/is_sleeping'], ['POST', '/collective_rpc'], ['POST', '/reset_prefix_cache']]) {
      const res = await http(method, `${f.url}${path}`, method === 'POST' ? '{}' : undefined);
      assert.equal(res.status, 404, path);
      assert.equal(res.body, '{"detail":"Not Found"}', path);
    }
    assert.equal((await http('GET', `${f.url}/health`)).status, 200);
    assert.equal((await complete(f)).status, 200);
  });

  it('level 2: output is garbage until reload_weights; the three-step wake restores it', async () => {
    const f = await start([]);
    assert.equal((await http('POST', `${f.url}/sleep?level=2`)).status, 200);
    assert.equal((await http('POST', `${f.url}/wake_up`)).status, 200);
    const garbage = await complete(f);
    assert.match(choice(garbage).text, /^\u0000\u0000garbage/);
    assert.equal((garbage.value as { fake_garbage?: boolean }).fake_garbage, true);

    assert.equal((await http('POST', `${f.url}/sleep?level=2`)).status, 200);
    assert.equal((await http('POST', `${f.url}/wake_up?tags=weights`)).status, 200);
    const rpc = await http('POST', `${f.url}/collective_rpc`, '{"method":"reload_weights"}');
    assert.equal(rpc.status, 200);
    assert.equal(rpc.body, '{"results":[null]}');
    assert.equal((await http('POST', `${f.url}/wake_up?tags=kv_cache`)).status, 200);
    assert.equal((await http('POST', `${f.url}/reset_prefix_cache`)).status, 200);
    const good = await complete(f);
    assert.equal(choice(good).text, 'Hello from fake/model.');
    assert.equal((good.value as { fake_garbage?: boolean }).fake_garbage, undefined);
    // Level 1 keeps the weights in host RAM: no reload needed.
    await http('POST', `${f.url}/sleep?level=1`);
    await http('POST', `${f.url}/wake_up`);
    assert.equal(choice(await complete(f)).text, 'Hello from fake/model.');
  });

  it('requests while asleep hang until the wake (policy hang), and count as waiting', async () => {
    const f = await start([]);
    await http('POST', `${f.url}/sleep?level=1`);
    let answered = false;
    const pending = complete(f).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, 'a request to a sleeping vLLM must not be answered');
    assert.equal(metric((await http('GET', `${f.url}/metrics`)).body, 'vllm:num_requests_waiting'), 1);
    await http('POST', `${f.url}/wake_up?tags=weights`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, 'still asleep until every tag is awake');
    await http('POST', `${f.url}/wake_up?tags=kv_cache`);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(choice(res).finish_reason, 'length');
  });

  it('--asleep-policy abort answers finish_reason abort; crash kills the server', async () => {
    const a = await start(['--asleep-policy', 'abort']);
    await http('POST', `${a.url}/sleep?level=1`);
    assert.equal(choice(await complete(a)).finish_reason, 'abort');
    const c = await start(['--asleep-policy', 'crash']);
    await http('POST', `${c.url}/sleep?level=1`);
    await assert.rejects(complete(c));
    assert.equal(await c.exited, 1);
  });

  it('mode=wait drains in-flight requests before sleeping; mode=abort aborts them', async () => {
    const f = await start(['--infer-ms', '400']);
    const inflight = complete(f);
    await waitFor('the request to run', async () => (await state(f)).running === 1);
    assert.equal(metric((await http('GET', `${f.url}/metrics`)).body, 'vllm:num_requests_running'), 1);
    const t0 = Date.now();
    assert.equal((await http('POST', `${f.url}/sleep?level=1&mode=wait`)).status, 200);
    assert.ok(Date.now() - t0 >= 250, `sleep(mode=wait) returned after ${Date.now() - t0} ms, before the request drained`);
    assert.equal(choice(await inflight).finish_reason, 'length');
    await http('POST', `${f.url}/wake_up`);

    const aborted = complete(f);
    await waitFor('the request to run', async () => (await state(f)).running === 1);
    await http('POST', `${f.url}/sleep?level=1&mode=abort`);
    assert.equal(choice(await aborted).finish_reason, 'abort');
  });

  it('/metrics shows the sleep state gauges for awake, level 1 and level 2', async () => {
    const f = await start(['--model', 'chat']);
    const gauges = async (): Promise<number[]> => {
      const text = (await http('GET', `${f.url}/metrics`)).body;
      return ['awake', 'weights_offloaded', 'discard_all'].map((s) => metric(text, `vllm:engine_sleep_state{engine="0",model_name="chat",sleep_state="${s}"}`));
    };
    assert.deepEqual(await gauges(), [1, 0, 0]);
    await http('POST', `${f.url}/sleep?level=1`);
    assert.deepEqual(await gauges(), [0, 1, 0]);
    await http('POST', `${f.url}/wake_up`);
    await http('POST', `${f.url}/sleep?level=2`);
    assert.deepEqual(await gauges(), [0, 0, 1]);
    assert.match((await http('GET', `${f.url}/metrics`)).body, /^vllm:num_requests_running\{model_name="chat"\} 0$/m);
  });

  it('faults: 500 after N calls, hang, refuse, engine-dead, and crash takes EngineCore with it', async () => {
    const f = await start(['--fault', '/wake_up:500:1']);
    await http('POST', `${f.url}/sleep?level=1`);
    assert.equal((await http('POST', `${f.url}/wake_up`)).status, 200, 'the first call succeeds');
    await http('POST', `${f.url}/sleep?level=1`);
    const failed = await http('POST', `${f.url}/wake_up`);
    assert.equal(failed.status, 500);
    assert.ok((JSON.parse(failed.body) as { error?: unknown }).error);
    assert.equal((await http('DELETE', `${f.url}/_fake/fault`)).status, 200);
    assert.equal((await http('POST', `${f.url}/wake_up`)).status, 200);

    await json('POST', `${f.url}/_fake/fault`, { endpoint: '/health', kind: 'hang', times: 1 });
    await assert.rejects(http('GET', `${f.url}/health`, undefined, 300), /timeout/);
    assert.equal((await http('GET', `${f.url}/health`)).status, 200, 'times: 1 fires once');

    await json('POST', `${f.url}/_fake/fault`, { endpoint: '/health', kind: 'engine-dead' });
    assert.equal((await http('GET', `${f.url}/health`)).status, 503);
    await http('DELETE', `${f.url}/_fake/fault`);

    await json('POST', `${f.url}/_fake/fault`, { endpoint: '/is_sleeping', kind: 'refuse' });
    await assert.rejects(http('GET', `${f.url}/is_sleeping`));
    await assert.rejects(http('GET', `${f.url}/health`), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');

    const g = await start(['--fault', '/sleep:crash']);
    const engineCore = (await state(g)).gpuPid as number;
    assert.notEqual(engineCore, g.pid, 'VRAM is held by a child');
    assert.ok(pidAlive(engineCore));
    await assert.rejects(http('POST', `${g.url}/sleep?level=1`));
    assert.equal(await g.exited, 1);
    await waitFor('EngineCore to die with its server', () => !pidAlive(engineCore), 2000);
  });

  it('publishes VRAM under the EngineCore child; SIGTERM frees it with the stop lag and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
    try {
      const f = await start(['--gpu-dir', dir, '--vram-mb', '7000', '--vram-asleep-mb', '1500']);
      const pid = (await state(f)).gpuPid as number;
      const file = (): { usedMb: number; prevMb: number; lagMs: number } => JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as { usedMb: number; prevMb: number; lagMs: number };
      assert.equal(file().usedMb, 7000);
      assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], 'VLLM::EngineCore');
      await http('POST', `${f.url}/sleep?level=1`);
      assert.deepEqual([file().usedMb, file().prevMb, file().lagMs], [1500, 7000, 25]);
      await http('POST', `${f.url}/wake_up?tags=weights`);
      assert.ok(file().usedMb > 1500 && file().usedMb < 7000, 'weights awake, KV cache not yet');
      assert.equal((await state(f)).vramMb, file().usedMb);
      const t0 = Date.now();
      assert.equal(await f.stop('SIGTERM'), 0);
      assert.ok(Date.now() - t0 < 1000);
      assert.deepEqual([file().usedMb, file().lagMs], [0, 300]);
      await waitFor('EngineCore gone', () => !pidAlive(pid), 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--sleep-mode-enabled off: /sleep answers 200 but the VRAM stays', async () => {
    const f = await start(['--sleep-mode-enabled', 'off']);
    await http('POST', `${f.url}/sleep?level=1`);
    assert.equal((await json('GET', `${f.url}/is_sleeping`)).body, '{"is_sleeping":true}');
    assert.equal((await state(f)).vramMb, 7000);
  });
  describe('the first request after a start or a wake (--first-request-ms)', () => {
    const COLD = 600;
    const timed = async (f: RunningFake, path = '/v1/completions', body: unknown = { model: 'fake/model', prompt: 'hi', max_tokens: 1 }): Promise<number> => {
      const t0 = Date.now();
      const r = await json('POST', `${f.url}${path}`, body);
      assert.equal(r.status, 200, r.body);
      return Date.now() - t0;
    };

    it('is slow after a start and after each wake; the next one is warm', async () => {
      const f = await start(['--first-request-ms', String(COLD)]);
      assert.equal((await state(f)).firstRequestPending, true);
      assert.ok((await timed(f)) >= COLD - 20, 'the first request after the start pays the warm-up');
      assert.equal((await state(f)).firstRequestPending, false);
      assert.ok((await timed(f)) < COLD / 2, 'the second is warm');
      for (const level of [1, 2]) {
        await http('POST', `${f.url}/sleep?level=${level}`);
        await http('POST', `${f.url}/wake_up`);
        if (level === 2) await json('POST', `${f.url}/collective_rpc`, { method: 'reload_weights' });
        assert.equal((await state(f)).firstRequestPending, true, `after an L${level} wake`);
        assert.ok((await timed(f)) >= COLD - 20, `the first request after an L${level} wake pays it again`);
        assert.ok((await timed(f)) < COLD / 2);
      }
    });

    it('a warm-up request right after the wake takes it off the next one, and requests meanwhile wait for it', async () => {
      const f = await start(['--first-request-ms', String(COLD)]);
      await timed(f);
      await http('POST', `${f.url}/sleep?level=1`);
      await http('POST', `${f.url}/wake_up`);
      // Two requests at once while cold: the one that arrives second does not overtake the warm-up.
      const [a, b] = await Promise.all([timed(f), timed(f, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })]);
      assert.ok(Math.min(a, b) >= COLD - 20, `both wait for the warm-up: ${a} and ${b} ms`);
      assert.ok((await timed(f)) < COLD / 2, 'warmed: the user request after it is fast');
      // Health and the sleep endpoints are not inference: they leave the penalty in place.
      await http('POST', `${f.url}/sleep?level=1`);
      await http('POST', `${f.url}/wake_up`);
      await http('GET', `${f.url}/health`);
      await http('GET', `${f.url}/is_sleeping`);
      assert.equal((await state(f)).firstRequestPending, true);
    });

    it('a request queued while asleep pays it once the wake is done; without the option there is none', async () => {
      const f = await start(['--first-request-ms', String(COLD)]);
      await timed(f);
      await http('POST', `${f.url}/sleep?level=1`);
      const queued = timed(f);
      await waitFor('the request queued', async () => (await state(f)).waiting === 1);
      const t0 = Date.now();
      await http('POST', `${f.url}/wake_up`);
      await queued;
      assert.ok(Date.now() - t0 >= COLD - 20, 'it ran after the wake, with the warm-up');
      const plain = await start([]);
      assert.ok((await timed(plain)) < COLD / 2, 'the default is no penalty');
    });

    it('pooling runner: embeddings and rerank answer and pay it too; the generation APIs answer 400, and the reverse', async () => {
      const f = await start(['--runner', 'pooling', '--model', 'embed', '--first-request-ms', String(COLD)]);
      const embed = await json('POST', `${f.url}/v1/embeddings`, { model: 'embed', input: 'hello' });
      assert.equal(embed.status, 200);
      const e = embed.value as { object: string; data: Array<{ object: string; embedding: number[] }> };
      assert.equal(e.object, 'list');
      assert.equal(e.data[0].object, 'embedding');
      assert.ok(e.data[0].embedding.length > 0);
      assert.equal((await state(f)).firstRequestPending, false, 'an embedding consumes the warm-up');
      const rr = await json('POST', `${f.url}/v1/rerank`, { model: 'embed', query: 'gpu', documents: ['a GPU', 'a CPU', 'a TPU'] });
      assert.equal(rr.status, 200);
      assert.equal((rr.value as { results: unknown[] }).results.length, 3);
      assert.equal((await json('POST', `${f.url}/rerank`, { query: 'q', documents: ['d'] })).status, 200);
      const no = await json('POST', `${f.url}/v1/completions`, { prompt: 'hi', max_tokens: 1 });
      assert.equal(no.status, 400);
      assert.equal(no.body, '{"error":{"message":"The model does not support Completions API","type":"BadRequestError","param":null,"code":400}}');
      await http('POST', `${f.url}/sleep?level=1`);
      await http('POST', `${f.url}/wake_up`);
      assert.ok((await timed(f, '/v1/embeddings', { input: 'x' })) >= COLD - 20, 'after a wake the first embedding pays it');
      const g = await start([]);
      const ge = await json('POST', `${g.url}/v1/embeddings`, { input: 'x' });
      assert.equal(ge.status, 400);
      assert.match(ge.body, /does not support Embeddings API/);
    });
  });
});

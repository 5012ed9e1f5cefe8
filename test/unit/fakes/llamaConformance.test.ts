// Replays the real llama-server recordings (test/fixtures/llama-server/) against the fake router:
// status codes must match, and JSON shapes must match (same keys in the same order, recursively);
// values are compared only where they are protocol, not noise (status.value, errors, success…).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startFake, type RunningFake } from '../../fakes/lib/spawnFake';
import { http, json, waitFor } from '../../fakes/lib/testHttp';

const FIXTURES = resolve(process.cwd(), 'test/fixtures');
const fixture = (name: string): string => readFileSync(resolve(FIXTURES, 'llama-server', name), 'utf8');

interface Exchange {
  method: string;
  path: string;
  body: string;
  response: string;
  status: number;
  /** Statuses the transcript says held after this exchange (from its comment lines). */
  expectAfter: Map<string, string>;
}

const STATUS_RE = /(tiny-[\w]+)(?:=| status=)(unloaded|loading|loaded|sleeping)/g;

function parseTranscript(text: string): { before: Map<string, string>; exchanges: Exchange[] } {
  const lines = text.split('\n');
  const exchanges: Exchange[] = [];
  const before = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const req = /^>>> (\w+) (\S+) ?(.*)$/.exec(line);
    if (req) {
      const response = lines[i + 1];
      const status = /^<<< http=(\d+)/.exec(lines[i + 2]);
      assert.ok(status, `transcript line ${i + 3} should be <<< http=…`);
      exchanges.push({ method: req[1], path: req[2], body: req[3], response, status: Number(status[1]), expectAfter: new Map() });
      i += 2;
      continue;
    }
    const target = exchanges.length ? exchanges[exchanges.length - 1].expectAfter : before;
    for (const m of line.matchAll(STATUS_RE)) target.set(m[1], m[2]);
  }
  return { before, exchanges };
}

/** Keys whose primitive values are protocol, compared exactly; the rest is shape only. */
const EXACT = new Set(['value', 'success', 'object', 'owned_by', 'role', 'message', 'type', 'code', 'finish_reason', 'is_sleeping', 'max_instances', 'models_autoload', 'model_alias', 'source', 'can_remove', 'failed', 'exit_code', 'status', 'event', 'model', 'stop_type']);

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Differences between the recorded and the fake's JSON, as readable paths. */
function shapeDiff(want: unknown, got: unknown, path = '$', key = ''): string[] {
  if (kind(want) !== kind(got)) return [`${path}: ${kind(want)} expected, got ${kind(got)} (${JSON.stringify(got)?.slice(0, 80)})`];
  if (Array.isArray(want) && Array.isArray(got)) {
    if (want.length !== got.length) return [`${path}: ${want.length} items expected, got ${got.length}`];
    return want.flatMap((w, i) => shapeDiff(w, got[i], `${path}[${i}]`, key));
  }
  if (kind(want) === 'object') {
    const wk = Object.keys(want as object);
    const gk = Object.keys(got as object);
    if (wk.join(',') !== gk.join(',')) return [`${path}: keys ${JSON.stringify(wk)} expected, got ${JSON.stringify(gk)}`];
    return wk.flatMap((k) => shapeDiff((want as Record<string, unknown>)[k], (got as Record<string, unknown>)[k], `${path}.${k}`, k));
  }
  if (EXACT.has(key) && want !== got) return [`${path}: ${JSON.stringify(want)} expected, got ${JSON.stringify(got)}`];
  return [];
}

async function statuses(fake: RunningFake): Promise<Map<string, string>> {
  const res = await json('GET', `${fake.url}/models`);
  const data = (res.value as { data: Array<{ id: string; status: { value: string } }> }).data;
  return new Map(data.map((m) => [m.id, m.status.value]));
}

async function waitStatuses(fake: RunningFake, want: Map<string, string>, timeoutMs = 3000): Promise<void> {
  if (want.size === 0) return;
  let last = new Map<string, string>();
  await waitFor(
    `statuses ${JSON.stringify([...want])}`,
    async () => {
      last = await statuses(fake);
      return [...want].every(([id, v]) => last.get(id) === v);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${JSON.stringify([...last])}`);
  });
}

const FAST = ['--models', 'tiny-a,tiny-b', '--startup-ms', '0', '--load-ms', '150', '--unload-ms', '100', '--infer-ms', '2', '--model-vram-mb', '100'];

async function replay(name: string): Promise<void> {
  const { before, exchanges } = parseTranscript(fixture(name));
  assert.ok(exchanges.length >= 5, `${name} should hold exchanges`);
  const fake = await startFake('llamaRouter', [...FAST, '--models-max', '2']);
  try {
    await waitStatuses(fake, before);
    for (const ex of exchanges) {
      const where = `${name}: ${ex.method} ${ex.path} ${ex.body}`;
      const recorded: unknown = JSON.parse(ex.response);
      // The recorded 500s on inference are the tiny model's unparsable output, not protocol: inject them.
      if (ex.status === 500 && ex.method === 'POST') {
        const message = (recorded as { error: { message: string } }).error.message;
        const injected = await json('POST', `${fake.url}/_fake/fault`, { endpoint: ex.path, kind: '500', times: 1, message });
        assert.equal(injected.status, 200);
      }
      const isList = ex.method === 'GET' && (ex.path === '/models' || ex.path === '/v1/models');
      let res = await http(ex.method, `${fake.url}${ex.path}`, ex.body === '' ? undefined : ex.body);
      let diff: string[] = [];
      // A listing right after a load/unload may still show the transition: poll it a little.
      for (let tries = 0; ; tries++) {
        diff = res.status === ex.status ? shapeDiff(recorded, JSON.parse(res.body)) : [`status ${ex.status} expected, got ${res.status}: ${res.body}`];
        if (diff.length === 0 || !isList || tries > 100) break;
        await new Promise((r) => setTimeout(r, 20));
        res = await http(ex.method, `${fake.url}${ex.path}`);
      }
      assert.deepEqual(diff, [], where);
      await waitStatuses(fake, ex.expectAfter);
    }
  } finally {
    await fake.stop('SIGKILL');
  }
}

describe('fake llama-server router: conformance with the recordings', function () {
  this.timeout(10000);

  it('the transcript parser finds the recorded exchanges and statuses', () => {
    const { exchanges } = parseTranscript(fixture('session2.txt'));
    assert.equal(exchanges[0].method, 'POST');
    assert.equal(exchanges[0].path, '/models/load');
    assert.equal(exchanges[0].expectAfter.get('tiny-a'), 'loaded');
    assert.ok(exchanges.some((e) => e.status === 404));
    // And the shape comparison can fail: a reordered key or a wrong status value is caught.
    assert.notDeepEqual(shapeDiff({ a: 1, b: 2 }, { b: 2, a: 1 }), []);
    assert.notDeepEqual(shapeDiff({ status: { value: 'loaded' } }, { status: { value: 'loading' } }), []);
    assert.deepEqual(shapeDiff({ created: 1, args: ['x'] }, { created: 2, args: ['y'] }), []);
  });

  it('replays session1.txt', () => replay('session1.txt'));
  it('replays session2.txt', () => replay('session2.txt'));

  it('session3: models-max 1 unloads the LRU model; idle models sleep and wake on inference', async () => {
    const fake = await startFake('llamaRouter', [...FAST, '--models-max', '1', '--sleep-idle-seconds', '2', '--time-scale', '10']);
    const chat = (model: string): Promise<{ status: number }> => json('POST', `${fake.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    const props = async (model: string): Promise<unknown> => ((await json('GET', `${fake.url}/props?model=${model}`)).value as { is_sleeping: unknown }).is_sleeping;
    try {
      assert.deepEqual([...(await statuses(fake))], [['tiny-a', 'unloaded'], ['tiny-b', 'unloaded']]);
      assert.equal((await json('POST', `${fake.url}/models/load`, { model: 'tiny-a' })).body, '{"success":true}');
      await waitStatuses(fake, new Map([['tiny-a', 'loaded'], ['tiny-b', 'unloaded']]));
      assert.equal((await chat('tiny-a')).status, 200);
      assert.equal((await chat('tiny-b')).status, 200);
      assert.deepEqual([...(await statuses(fake))], [['tiny-a', 'unloaded'], ['tiny-b', 'loaded']]);
      await waitStatuses(fake, new Map([['tiny-a', 'unloaded'], ['tiny-b', 'sleeping']]), 2000);
      assert.equal(await props('tiny-b'), true);
      assert.equal((await statuses(fake)).get('tiny-b'), 'sleeping', '/props must not wake a sleeping model');
      assert.equal((await chat('tiny-b')).status, 200);
      assert.equal((await statuses(fake)).get('tiny-b'), 'loaded');
      assert.equal(await props('tiny-b'), false);
    } finally {
      await fake.stop('SIGKILL');
    }
  });

  it('/models/sse streams the recorded event names, order and shapes', async () => {
    const recorded = fixture('sse.txt')
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as unknown);
    const fake = await startFake('llamaRouter', [...FAST, '--models-max', '2', '--sleep-idle-seconds', '2', '--time-scale', '10']);
    const events: unknown[] = [];
    const { request } = await import('node:http');
    const sse = request(`${fake.url}/models/sse`, { agent: false });
    let buf = '';
    sse.on('response', (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (chunk.startsWith('data: ')) events.push(JSON.parse(chunk.slice(6)));
        }
      });
    });
    sse.on('error', () => undefined);
    sse.end();
    const status = (m: string): Promise<string | undefined> => statuses(fake).then((s) => s.get(m));
    try {
      await waitFor('the SSE subscription', () => json('GET', `${fake.url}/_fake/state`).then((r) => (r.value as { sseClients: number }).sseClients === 1));
      await json('POST', `${fake.url}/models/load`, { model: 'tiny-a' });
      await waitFor('tiny-a loaded', async () => (await status('tiny-a')) === 'loaded');
      await json('POST', `${fake.url}/models/unload`, { model: 'tiny-a' });
      await waitFor('tiny-a unloaded', async () => (await status('tiny-a')) === 'unloaded');
      await json('POST', `${fake.url}/models/load`, { model: 'tiny-b' });
      await waitFor('tiny-b sleeping', async () => (await status('tiny-b')) === 'sleeping');
      assert.equal((await json('POST', `${fake.url}/completion`, { model: 'tiny-b', prompt: 'x', n_predict: 2 })).status, 200);
      await waitFor('tiny-b asleep again', async () => (await status('tiny-b')) === 'sleeping');
      await waitFor('all events', () => events.length >= recorded.length, 1000);
      assert.equal(events.length, recorded.length);
      recorded.forEach((want, i) => assert.deepEqual(shapeDiff(want, events[i]), [], `event ${i}: ${JSON.stringify(events[i])}`));
    } finally {
      sse.destroy();
      await fake.stop('SIGKILL');
    }
  });

  it('a failed load and a killed child read as unloaded + failed + exit_code 1', async () => {
    const fake = await startFake('llamaRouter', [...FAST, '--fail-models', 'tiny-b', '--fail-ms', '100']);
    const statusOf = async (m: string): Promise<Record<string, unknown>> => {
      const data = ((await json('GET', `${fake.url}/models`)).value as { data: Array<{ id: string; status: Record<string, unknown> }> }).data;
      return data.find((d) => d.id === m)?.status ?? {};
    };
    try {
      assert.equal((await json('POST', `${fake.url}/models/load`, { model: 'tiny-b' })).status, 200);
      assert.equal((await statusOf('tiny-b')).value, 'loading');
      await waitFor('tiny-b failed', async () => (await statusOf('tiny-b')).failed === true);
      assert.deepEqual(Object.keys(await statusOf('tiny-b')), ['value', 'args', 'preset', 'exit_code', 'failed']);
      assert.equal((await statusOf('tiny-b')).value, 'unloaded');
      assert.equal((await statusOf('tiny-b')).exit_code, 1);
      const chat = await json('POST', `${fake.url}/v1/chat/completions`, { model: 'tiny-b', messages: [] });
      assert.equal(chat.body, '{"error":{"code":500,"message":"model name=tiny-b failed to load","type":"server_error"}}');

      await json('POST', `${fake.url}/models/load`, { model: 'tiny-a' });
      await waitFor('tiny-a loaded', async () => (await statusOf('tiny-a')).value === 'loaded');
      assert.equal((await statusOf('tiny-a')).failed, undefined);
      const killed = await json('POST', `${fake.url}/_fake/kill-model`, { model: 'tiny-a' });
      assert.equal(killed.status, 200);
      await waitFor('tiny-a failed', async () => (await statusOf('tiny-a')).failed === true);
      assert.equal((await statusOf('tiny-a')).value, 'unloaded');
      assert.equal((await statusOf('tiny-a')).exit_code, 1);
    } finally {
      await fake.stop('SIGKILL');
    }
  });

  it('--no-models-autoload refuses inference for a model not loaded; SIGTERM exits 0', async () => {
    const fake = await startFake('llamaRouter', [...FAST, '--no-models-autoload', '--stop-ms', '300']);
    const chat = await json('POST', `${fake.url}/v1/chat/completions`, { model: 'tiny-a', messages: [] });
    assert.equal(chat.status, 400);
    assert.equal(chat.body, '{"error":{"code":400,"message":"model is not loaded","type":"invalid_request_error"}}');
    assert.equal(((await json('GET', `${fake.url}/props`)).value as { models_autoload: boolean }).models_autoload, false);
    const t0 = Date.now();
    assert.equal(await fake.stop('SIGTERM'), 0);
    assert.ok(Date.now() - t0 < 1000, 'the router should exit within its stop time');
  });
});

// `gpumod gateway` as its own process in front of the profile workstation under the real user
// manager: a request for a sleeping model is answered after a wake (and the history says why), a
// stopped one cold-starts, /v1/models lists what each service serves, idle sleep, the token.
import * as assert from 'node:assert/strict';
import { request } from 'node:http';
import { cli, downRig, fakeState, readHistory, scaled, setStartArgs, spawnCli, status, stateOf, switchTo, until, upRig, type Rig, type RunningCli } from '../reliability/support';
import { testPort } from '../support/testManager';
import { GatewayFollower } from '../../../src/ui/gatewayFollower';
import type { GatewayView } from '../../../src/gateway/status';
import { SseParser } from '../../../src/ui/gatewayFollower';

const PORT_BASE = testPort(1180);
const GATEWAY_PORT = testPort(1188);
const TOKEN = 'test-token-0123456789';

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function call(method: string, path: string, body?: unknown, token = TOKEN, extra: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { host: '127.0.0.1', port: GATEWAY_PORT, method, path, headers: { ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
    req.end(data);
  });
}

describe('cli: gpumod gateway (wake on request, the profile workstation)', function () {
  this.timeout(180_000);
  let rig: Rig;
  let gateway: RunningCli;

  before(async () => {
    rig = await upRig('gw', PORT_BASE, (y) => {
      y.gateway = { port: GATEWAY_PORT, token: TOKEN };
      // vllm-tts is stopped when the gateway starts: its name cannot be learnt, so the config gives it.
      Object.assign(y.services['vllm-tts'], { serves: ['tts'] });
      Object.assign(y.services['vllm-reranker'], { idle_sleep_s: 2 });
    });
    await switchTo(rig, 'rag');
    await switchTo(rig, 'code'); // vllm-chat asleep (L1), vllm-reranker asleep (L2), vllm-tts stopped
    await setStartArgs(rig, 'vllm-tts', ['--startup-ms', scaled(3000)]); // a 3 s cold start: long enough for keep-alives
    gateway = spawnCli(rig, ['gateway', '--verbose']);
    await until('the gateway to answer', async () => ((await call('GET', '/v1/models').catch(() => undefined))?.status === 200 ? true : undefined), 30_000, 100);
  });

  after(async () => {
    gateway?.child.kill('SIGTERM');
    const r = await gateway?.done;
    if (rig) await downRig(rig);
    assert.equal(r?.code, 0, `the gateway did not exit cleanly on SIGTERM (${r?.signal ?? r?.code}): ${r?.stderr.slice(-3000)}`);
  });

  it('refuses a request without the bearer token', async () => {
    const r = await call('GET', '/v1/models', undefined, '');
    assert.equal(r.status, 401);
    assert.match(r.body, /bearer token/);
  });

  it('refuses web pages: another site\'s Origin, or a Host that is not loopback (DNS rebinding)', async () => {
    const chat = { model: 'chat-2b-vl', prompt: 'Hello', max_tokens: 1 };
    const fromPage = await call('POST', '/v1/completions', chat, TOKEN, { origin: 'https://evil.example' });
    assert.equal(fromPage.status, 403);
    assert.equal((await call('POST', '/v1/completions', chat, TOKEN, { host: `evil.example:${GATEWAY_PORT}` })).status, 403);
    assert.equal((await call('GET', '/v1/models', undefined, TOKEN, { origin: `http://localhost:${GATEWAY_PORT}` })).status, 200);
    assert.equal(stateOf(await status(rig), 'vllm-chat'), 'sleeping', 'nothing was woken');
  });

  it('/v1/models lists every model it can route, with its service and state, the learnt names included', async () => {
    const r = await call('GET', '/v1/models');
    assert.equal(r.status, 200);
    const data = (JSON.parse(r.body) as { data: Array<{ id: string; service: string; state: string }> }).data;
    const byId = new Map(data.map((m) => [m.id, m]));
    assert.equal(byId.get('chat-2b-vl')?.service, 'vllm-chat', 'learnt from the sleeping server\'s /v1/models');
    assert.equal(byId.get('chat-2b-vl')?.state, 'asleep l1');
    assert.equal(byId.get('tts')?.state, 'stopped');
    assert.equal(byId.get('GLM-4.5-Air-Q4')?.service, 'glm-code');
  });

  it('a chat request for a sleeping model is answered after a wake, and the history says why', async () => {
    const before = readHistory(rig).length;
    const r = await call('POST', '/v1/chat/completions', { model: 'chat-2b-vl', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2 });
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { object: string }).object, 'chat.completion');
    const s = await status(rig);
    assert.equal(stateOf(s, 'vllm-chat'), 'running');
    assert.equal(stateOf(s, 'glm-code'), 'running', 'glm-code had room to stay');
    const rec = readHistory(rig)[before];
    assert.equal(rec?.to, 'gateway: vllm-chat');
    assert.equal(rec?.ok, true);
  });

  it('a streamed request for a model whose service is stopped cold-starts it, with keep-alive comments while it starts', async () => {
    const t0 = Date.now();
    const parts: Array<{ at: number; text: string }> = [];
    const code = await new Promise<number>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify({ model: 'tts', prompt: 'Hello', max_tokens: 3, stream: true }));
      const req = request({ host: '127.0.0.1', port: GATEWAY_PORT, method: 'POST', path: '/v1/completions', headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.on('data', (d: Buffer) => parts.push({ at: Date.now() - t0, text: d.toString() }));
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(data);
    });
    assert.equal(code, 200);
    const text = parts.map((p) => p.text).join('');
    assert.match(parts[0].text, /^: gpumod: waking vllm-tts\n\n/, 'the first bytes are a keep-alive comment');
    assert.ok(parts[0].at < 2500, `the comment came ${parts[0].at} ms in, before the 3 s start ended`);
    assert.match(text, /data: \{.*"text":"Hello"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
    assert.equal(stateOf(await status(rig), 'vllm-tts'), 'running');
  });

  it('a streamed completion passes through token by token, unbuffered', async () => {
    const arrivals: number[] = [];
    let text = '';
    const t0 = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify({ model: 'chat-2b-vl', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, stream: true }));
      const req = request({ host: '127.0.0.1', port: GATEWAY_PORT, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.on('data', (d: Buffer) => {
          arrivals.push(Date.now() - t0);
          text += d.toString();
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(data);
    });
    assert.equal(status, 200);
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 10, 'eight tokens, the last chunk, [DONE]');
    assert.equal(events[events.length - 1], 'data: [DONE]');
    // The fake sends a token every 20 ms: buffered, they would arrive together at the end.
    assert.ok(arrivals.length >= 8, `${arrivals.length} reads: ${arrivals.join(', ')}`);
    assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 100, `tokens arrived over ${arrivals[arrivals.length - 1] - arrivals[0]} ms: ${arrivals.join(', ')}`);
  });

  it('a client that goes away mid-stream aborts the request upstream', async () => {
    await new Promise<void>((resolve, reject) => {
      const data = Buffer.from(JSON.stringify({ model: 'chat-2b-vl', prompt: 'Hello', max_tokens: 500, stream: true })); // 10 s of tokens
      const req = request({ host: '127.0.0.1', port: GATEWAY_PORT, method: 'POST', path: '/v1/completions', headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.end(data);
      req.setTimeout(30_000, () => reject(new Error('no first token')));
    });
    // 500 tokens take 10 s: the fake holds no request long before that only if its client (the gateway) went away.
    await until('the upstream request aborted', async () => {
      const s = await fakeState(rig, 'vllm-chat');
      return s && s.running === 0 ? true : undefined;
    }, 3000, 50);
  });

  it('an unknown model is a 404 naming the models; a request naming none, a 400', async () => {
    const r = await call('POST', '/v1/completions', { model: 'gpt-5', prompt: 'Hello' });
    assert.equal(r.status, 404);
    assert.match(r.body, /no service serves the model \\"gpt-5\\" \(models: .*chat-2b-vl/);
    assert.equal((await call('POST', '/v1/completions', { prompt: 'Hello' })).status, 400);
  });

  it('idle sleep: a service idle for idle_sleep_s is put to sleep, and the next request wakes it', async () => {
    const ask = (): Promise<Answer> => call('POST', '/v1/rerank', { model: 'reranker', query: 'Hello', documents: ['Hello there', 'Goodbye'] });
    const first = await ask();
    assert.equal(first.status, 200, first.body);
    const answeredAt = Date.now();
    await until('vllm-reranker asleep after 2 s idle', async () => (stateOf(await status(rig), 'vllm-reranker') === 'sleeping' ? true : undefined), 20_000, 200);
    assert.ok(Date.now() - answeredAt >= 2000, `asleep ${Date.now() - answeredAt} ms after its last answer, before idle_sleep_s`);
    const before = readHistory(rig).length;
    const again = await ask();
    assert.equal(again.status, 200, again.body);
    assert.equal((JSON.parse(again.body) as { results: unknown[] }).results.length, 2, 'answered by the woken reranker');
    assert.ok(readHistory(rig).slice(before).some((r) => r.to === 'gateway: vllm-reranker' && r.ok), 'the next request woke it');
  });

  it('a model someone else put to sleep (the CLI) is woken by the very next request, not forwarded into its sleep', async () => {
    const ask = (): Promise<Answer> => call('POST', '/v1/completions', { model: 'hyde-small', prompt: 'Hello', max_tokens: 1 });
    assert.equal((await ask()).status, 200, 'awake, and known awake to the gateway');
    for (let i = 0; i < 3; i++) {
      // The gateway's idle sleep (of the reranker) may hold the lock a moment: exit 3 then, as for any switch under way.
      const slept = await until('gpumod sleep not refused by the lock', async () => {
        const run = await cli(rig, ['sleep', 'vllm-hyde']);
        return run.code === 3 ? undefined : run;
      }, 20_000, 100);
      assert.equal(slept.code, 0, slept.stderr);
      const t0 = Date.now();
      const r = await ask(); // at once: no time for any file watch to have told the gateway
      assert.equal(r.status, 200, r.body);
      assert.ok(Date.now() - t0 < 10_000, `answered after ${Date.now() - t0} ms`);
    }
  });

  it('200 concurrent clients asking for four models, some asleep or stopped: every one answered by the model it named', async () => {
    const asks: Array<{ model: string; path: string; body: Record<string, unknown> }> = [];
    for (let i = 0; i < 50; i++) {
      asks.push({ model: 'chat-2b-vl', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: `Hello ${i}` }], max_tokens: 2 } });
      asks.push({ model: 'hyde-small', path: '/v1/completions', body: { prompt: `Hello ${i}`, max_tokens: 2 } });
      asks.push({ model: 'reranker', path: '/v1/rerank', body: { query: `Hello ${i}`, documents: ['a', 'b'] } });
      asks.push({ model: 'embedding', path: '/v1/embeddings', body: { input: `Hello ${i}` } });
    }
    const answers = await Promise.all(asks.map((a) => call('POST', a.path, { model: a.model, ...a.body })));
    const wrong = answers
      .map((r, i) => ({ r, want: asks[i].model }))
      .filter(({ r, want }) => r.status !== 200 || (JSON.parse(r.body) as { model?: string }).model !== want)
      .map(({ r, want }) => `${want}: ${r.status} ${r.body.slice(0, 200)}`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${asks.length} lost or mis-routed`);
  });

  it('after the gateway\'s switches, the recorded mode is what the machine amounts to in the config, and a switch from the CLI takes it back', async () => {
    // Once the gateway's own idle sleeps have settled (one may be under way: its state is recorded at its end).
    const s = await until('the recorded mode to be what is observed', async () => {
      const now = await status(rig);
      return now.recorded_mode === now.mode ? now : undefined;
    }, 20_000, 200).catch(async () => status(rig));
    assert.equal(s.recorded_mode, s.mode, 'a wake\'s own mode is not recorded as the user\'s');
    assert.doesNotMatch(String(s.recorded_mode), /^gateway:/);
    // The gateway's idle sleep may hold the lock a moment: exit 3 then, as for any switch under way.
    const r = await until('a switch to code not refused by the lock', async () => {
      const run = await cli(rig, ['switch', 'code', '--json']);
      return run.code === 3 ? undefined : run;
    }, 20_000, 200);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await status(rig)).mode, 'code');
  });

  it('/gpumod/events and /gpumod/status: the editor follows idle timers, idle sleep and the mode "rag (vllm-reranker idle, asleep)"', async () => {
    const r = await until('a switch to rag not refused by the lock', async () => {
      const run = await cli(rig, ['switch', 'rag', '--json']);
      return run.code === 3 ? undefined : run;
    }, 20_000, 200);
    assert.equal(r.code, 0, r.stderr);
    // The window's follower, against the real gateway: every status it accepts, and the raw switch events.
    const seen: GatewayView[] = [];
    const downs: string[] = [];
    const follower = new GatewayFollower(GATEWAY_PORT, TOKEN, { onStatus: (g) => seen.push(g), onDown: (why) => downs.push(why) });
    const switches: Array<Record<string, unknown>> = [];
    const raw = request({ host: '127.0.0.1', port: GATEWAY_PORT, path: '/gpumod/events', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      const parser = new SseParser((event, data) => event === 'switch' && switches.push(JSON.parse(data) as Record<string, unknown>));
      res.setEncoding('utf8');
      res.on('data', (c: string) => parser.push(c));
    });
    raw.on('error', () => undefined);
    raw.end();
    try {
      follower.setActive(true);
      const first = await until('a first status', async () => seen[0], 10_000);
      assert.equal(first.mode, 'rag');
      assert.equal(first.url, `http://127.0.0.1:${GATEWAY_PORT}/v1`);
      assert.equal(first.observation.services.get('vllm-reranker')?.state, 'running', 'the observation comes whole over the wire');
      assert.ok(first.services.find((s) => s.name === 'vllm-reranker')?.models.includes('reranker'));

      const ask = await call('POST', '/v1/rerank', { model: 'reranker', query: 'Hello', documents: ['a', 'b'] });
      assert.equal(ask.status, 200, ask.body);
      const timer = await until('the idle timer in a status', async () => seen.find((g) => g.services.find((s) => s.name === 'vllm-reranker')?.idleSleepAt !== undefined), 10_000);
      const at = timer.services.find((s) => s.name === 'vllm-reranker')?.idleSleepAt ?? 0;
      assert.ok(Math.abs(at - (Date.now() + 2000)) < 1500, `the timer fires at ${new Date(at).toISOString()}, about 2 s after the answer`);

      const idle = await until('a status with vllm-reranker idle, asleep', async () => seen.find((g) => g.idle.includes('vllm-reranker')), 20_000);
      assert.equal(idle.mode, 'rag', 'idle sleep keeps the mode');
      assert.equal(idle.observation.services.get('vllm-reranker')?.state, 'sleeping');
      const idleSleep = (): unknown[][] => switches.filter((e) => e.service === 'vllm-reranker' && e.kind === 'idle-sleep').map((e) => [e.phase, e.ok]);
      await until('the idle sleep\'s end event', async () => (idleSleep().length >= 2 ? true : undefined), 5000);
      assert.deepEqual(idleSleep(), [['begin', undefined], ['end', true]]);
      const text = await cli(rig, ['status']);
      assert.match(text.stdout, /^mode: rag \(vllm-reranker idle, asleep\)$/m);
      const json = await status(rig);
      assert.equal(json.mode, 'rag');
      assert.deepEqual((json as unknown as { idle: string[] }).idle, ['vllm-reranker']);
      const now = JSON.parse((await call('GET', '/gpumod/status')).body) as { mode: string; idle: string[] };
      assert.deepEqual([now.mode, now.idle], ['rag', ['vllm-reranker']]);

      // The next request wakes it: the mode is plain rag again, and the history says the gateway did it.
      assert.equal((await call('POST', '/v1/rerank', { model: 'reranker', query: 'Hello', documents: ['a', 'b'] })).status, 200);
      await until('a status with nothing idle', async () => (seen.at(-1)?.idle.length === 0 && seen.at(-1)?.observation.services.get('vllm-reranker')?.state === 'running' ? true : undefined), 10_000);
      assert.deepEqual(downs, [], 'the follower stayed connected');
    } finally {
      follower.dispose();
      raw.destroy();
    }
  });
});

// `gpumod gateway` as its own process in front of the profile workstation under the real user
// manager: a request for a sleeping model is answered after a wake (and the history says why), a
// stopped one cold-starts, /v1/models lists what each service serves, idle sleep, the token.
import * as assert from 'node:assert/strict';
import { request } from 'node:http';
import { cli, downRig, readHistory, spawnCli, status, stateOf, switchTo, until, upRig, type Rig, type RunningCli } from '../reliability/support';
import { testPort } from '../support/testManager';

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
      Object.assign(y.services['vllm-reranker'], { idle_sleep_s: 1 });
    });
    await switchTo(rig, 'rag');
    await switchTo(rig, 'code'); // vllm-chat asleep (L1), vllm-reranker asleep (L2), vllm-tts stopped
    gateway = spawnCli(rig, ['gateway', '--verbose']);
    await until('the gateway to answer', async () => ((await call('GET', '/v1/models').catch(() => undefined))?.status === 200 ? true : undefined), 30_000, 100);
  });

  after(async () => {
    gateway?.child.kill('SIGTERM');
    const r = await gateway?.done;
    if (rig) await downRig(rig);
    assert.equal(r?.code, 0, `the gateway did not exit cleanly on SIGTERM: ${r?.stderr.slice(-2000)}`);
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

  it('a request for a model whose service is stopped cold-starts it', async () => {
    const r = await call('POST', '/v1/completions', { model: 'tts', prompt: 'Hello', max_tokens: 1 });
    assert.equal(r.status, 200, r.body);
    assert.equal(stateOf(await status(rig), 'vllm-tts'), 'running');
  });

  it('an unknown model is a 404 naming the models; a request naming none, a 400', async () => {
    const r = await call('POST', '/v1/completions', { model: 'gpt-5', prompt: 'Hello' });
    assert.equal(r.status, 404);
    assert.match(r.body, /no service serves the model \\"gpt-5\\" \(models: .*chat-2b-vl/);
    assert.equal((await call('POST', '/v1/completions', { prompt: 'Hello' })).status, 400);
  });

  it('idle sleep: a service idle for idle_sleep_s is put to sleep, and the next request wakes it', async () => {
    const ask = (): Promise<Answer> => call('POST', '/v1/rerank', { model: 'reranker', query: 'Hello', documents: ['Hello there', 'Goodbye'] });
    assert.equal((await ask()).status, 200);
    assert.equal(stateOf(await status(rig), 'vllm-reranker'), 'running');
    await until('vllm-reranker asleep after 1 s idle', async () => (stateOf(await status(rig), 'vllm-reranker') === 'sleeping' ? true : undefined), 20_000, 200);
    const again = await ask();
    assert.equal(again.status, 200, again.body);
    assert.equal(stateOf(await status(rig), 'vllm-reranker'), 'running');
  });

  it('after the gateway\'s switches the machine is in no mode of the config, and a switch from the CLI takes it back', async () => {
    const s = await status(rig);
    assert.equal(s.mode, null);
    assert.equal(s.recorded_mode, null, 'a wake\'s own mode is not recorded as the user\'s');
    const r = await cli(rig, ['switch', 'code', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await status(rig)).mode, 'code');
  });
});

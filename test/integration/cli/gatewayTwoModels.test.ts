// The gateway on the 24 GB card, where the chat model and GLM do not fit together: requested
// alternately, with requests overlapping, each is answered whole and nothing serving a request is ever
// put to sleep; and the gateway, as a systemd unit killed with SIGKILL in the middle of a wake, is
// restarted and leaves the machine consistent for the next request.
import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { unitFileText } from '../../../src/system/unitFile';
import { CLI, downRig, readHistory, readState, scaled, setStartArgs, settleOrphans, status, stateOf, switchTo, until, upRig, type Rig } from '../reliability/support';
import { testPort, unitPrefix } from '../support/testManager';

const PORT_BASE = testPort(1191);
const GATEWAY_PORT = testPort(1199);

interface Exchange {
  model: string;
  status: number;
  body: string;
  sentAt: number;
  /** When the first answer token arrived (not a keep-alive comment). */
  firstAt?: number;
  endAt: number;
}

function ask(path: string, body: Record<string, unknown>): Promise<Exchange> {
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = request({ host: '127.0.0.1', port: GATEWAY_PORT, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      let text = '';
      let firstAt: number | undefined;
      res.on('data', (d: Buffer) => {
        text += d.toString();
        if (firstAt === undefined && /data: \{|"choices"/.test(text)) firstAt = Date.now();
      });
      res.on('end', () => resolve({ model: String(body.model), status: res.statusCode ?? 0, body: text, sentAt, firstAt, endAt: Date.now() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
    req.end(data);
  });
}

const CHAT_TOKENS = 25;
const chat = (i: number): Promise<Exchange> => ask('/v1/completions', { model: 'chat-2b-vl', prompt: `Hello ${i}`, max_tokens: CHAT_TOKENS, stream: true });
const glm = (i: number): Promise<Exchange> => ask('/v1/chat/completions', { model: 'GLM-4.5-Air-Q4', messages: [{ role: 'user', content: `Hello ${i}` }], max_tokens: 2 });

describe('cli: gpumod gateway on the 24 GB card (two models that do not fit together)', function () {
  this.timeout(240_000);
  let rig: Rig;
  const gatewayUnit = `${unitPrefix()}relgw24-gateway.service`;

  before(async () => {
    rig = await upRig('gw24', PORT_BASE, (y) => {
      y.gateway = { port: GATEWAY_PORT };
      // Stopped when the gateway starts, so their names cannot be learnt yet: the config gives them.
      Object.assign(y.services['vllm-tts'], { serves: ['tts'] });
      Object.assign(y.services['vllm-chat'], { serves: ['chat-2b-vl'] });
    }, '24');
    // Each GLM answer takes 400 ms, each streamed chat answer 25 tokens at 20 ms: long enough to overlap.
    await setStartArgs(rig, 'glm-code', ['--infer-ms', scaled(400)]);
    await switchTo(rig, 'code');
    writeFileSync(
      join(rig.unitDir, gatewayUnit),
      unitFileText(gatewayUnit, {
        execStart: [process.execPath, CLI, 'gateway', '--config', rig.configPath, '--verbose'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...rig.env },
        service: { Restart: 'on-failure', RestartSec: '1' },
      }),
    );
    await rig.systemd.daemonReload({ timeoutMs: 15_000 });
    await rig.systemd.start(gatewayUnit, { timeoutMs: 15_000 });
    await until('the gateway to answer', async () => ((await models()) === 200 ? true : undefined), 30_000, 100);
  });

  after(async () => {
    if (!rig) return;
    await rig.systemd.stop(gatewayUnit, { timeoutMs: 30_000 }).catch(() => undefined);
    rmSync(join(rig.unitDir, gatewayUnit), { force: true });
    await rig.systemd.daemonReload({ timeoutMs: 15_000 });
    await downRig(rig);
  });

  function models(): Promise<number | undefined> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: GATEWAY_PORT, path: '/v1/models' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', () => resolve(undefined));
      req.setTimeout(5000, () => req.destroy());
      req.end();
    });
  }

  it('chat and GLM asked alternately, overlapping: every answer whole, and no service put to sleep while it served one', async () => {
    const t0 = Date.now();
    const runs: Array<Promise<Exchange>> = [];
    // A request every 250 ms, alternating: each arrives while the other model still answers.
    for (let i = 0; i < 12; i++) {
      runs.push(new Promise((r) => setTimeout(r, i * 250)).then(() => (i % 2 === 0 ? chat(i) : glm(i))));
      if (i % 4 === 0) runs.push(new Promise((r) => setTimeout(r, i * 250 + 50)).then(() => chat(100 + i))); // two chats at once now and then
    }
    const answers = await Promise.all(runs);
    const bad = answers.filter((a) => a.status !== 200 || (a.model === 'chat-2b-vl' ? !a.body.includes('"finish_reason":"length"') || (a.body.match(/"text":/g) ?? []).length !== CHAT_TOKENS + 1 : !a.body.includes('"choices"')));
    assert.deepEqual(bad.map((a) => `${a.model}: ${a.status} ${a.body.slice(0, 300)}`), [], 'every request answered whole');

    // Each sleep or stop of a service happened while none of its answers was under way.
    const served = (model: string): Exchange[] => answers.filter((a) => a.model === model && a.firstAt !== undefined);
    const byService: Record<string, Exchange[]> = { 'vllm-chat': served('chat-2b-vl'), 'glm-code': served('GLM-4.5-Air-Q4') };
    const takenAway = readHistory(rig)
      .filter((r) => r.startedAt >= t0 - 1000)
      .flatMap((r) => r.steps.filter((s) => (s.action === 'sleep' || s.action === 'stop') && byService[s.service]).map((s) => ({ service: s.service, at: r.startedAt + s.startMs, to: r.to })));
    assert.ok(takenAway.some((t) => t.service === 'vllm-chat') && takenAway.some((t) => t.service === 'glm-code'), `the two models took turns: ${JSON.stringify(takenAway)}`);
    const overlaps = takenAway.flatMap((t) => byService[t.service].filter((a) => (a.firstAt ?? 0) < t.at - 30 && a.endAt > t.at + 30).map((a) => `${t.service} put away at +${t.at - t0} ms (${t.to}) while answering (+${(a.firstAt ?? 0) - t0}..+${a.endAt - t0} ms)`));
    assert.deepEqual(overlaps, []);
    assert.ok(readHistory(rig).filter((r) => r.startedAt >= t0 - 1000).every((r) => r.ok), 'every gateway switch succeeded');
  });

  it('a wake waiting for a busy model is not starved by a steady stream of requests for that model', async () => {
    // Chat is asked every 200 ms for 6 s, each answer 500 ms long: chat always has one under way.
    const stream: Array<Promise<Exchange>> = [];
    for (let i = 0; i < 30; i++) stream.push(new Promise((r) => setTimeout(r, i * 200)).then(() => chat(200 + i)));
    const asked = await new Promise((r) => setTimeout(r, 1000)).then(() => glm(300));
    const chats = await Promise.all(stream);
    assert.equal(asked.status, 200, asked.body);
    const lastChatSent = Math.max(...chats.map((c) => c.sentAt));
    // GLM's turn comes once the chats under way when it asked end (<= 0.5 s), plus the switch: not when the stream stops.
    assert.ok(asked.endAt - asked.sentAt < 3000, `GLM answered ${asked.endAt - asked.sentAt} ms after it asked (the chat stream ran until +${lastChatSent - asked.sentAt} ms)`);
    assert.ok(asked.endAt < lastChatSent, 'GLM was answered while chat requests still came');
    assert.deepEqual(chats.filter((c) => c.status !== 200 || !c.body.includes('"finish_reason":"length"')).map((c) => c.body.slice(0, 200)), [], 'every chat answered whole, the held ones after GLM');
  });

  it('killed with SIGKILL in the middle of a wake, systemd restarts it; the next request is answered and the machine is consistent', async () => {
    await setStartArgs(rig, 'vllm-tts', ['--startup-ms', scaled(4000)]); // a 4 s cold start to be killed in
    const first = await rig.systemd.show(gatewayUnit, { timeoutMs: 10_000 });
    const cut = ask('/v1/completions', { model: 'tts', prompt: 'Hello', max_tokens: 2 }).catch((e: Error) => e);
    await until('the wake for vllm-tts under way', async () => (readState(rig).switching?.to === 'gateway: vllm-tts' ? true : undefined), 15_000, 20);
    process.kill(first.mainPid, 'SIGKILL');
    assert.ok((await cut) instanceof Error, 'the request under way lost its connection');
    await until('systemd to restart the gateway', async () => {
      const now = await rig.systemd.show(gatewayUnit, { timeoutMs: 10_000 });
      return now.activeState === 'active' && now.mainPid > 0 && now.mainPid !== first.mainPid ? true : undefined;
    }, 30_000, 100);
    await until('the restarted gateway to answer', async () => ((await models()) === 200 ? true : undefined), 30_000, 100);
    const again = await ask('/v1/completions', { model: 'tts', prompt: 'Hello', max_tokens: 2 });
    assert.equal(again.status, 200, again.body);
    const s = await status(rig);
    assert.equal(s.switching, null, 'no switch marker is left behind');
    assert.equal(stateOf(s, 'vllm-tts'), 'running');
    assert.ok(!s.services.some((x) => x.state === 'failed' || x.state === 'unknown'), JSON.stringify(s.services));
    assert.deepEqual(await settleOrphans(rig), [], 'no process outlived its unit');
  });
});

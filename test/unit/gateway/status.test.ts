import * as assert from 'node:assert/strict';
import { fromWire, toWire } from '../../../src/engine/observationWire';
import { parseGatewayStatus, type GatewayStatus } from '../../../src/gateway/status';
import { SseParser } from '../../../src/ui/gatewayFollower';
import { look, machine } from '../engine/profile';

async function status(): Promise<GatewayStatus> {
  const obs = await look(machine(32, 'rag', { 'vllm-chat': 'l1' }));
  return {
    url: 'http://127.0.0.1:7099/v1',
    pid: 4242,
    startedAt: Date.UTC(2026, 11, 1),
    tokenRequired: false,
    mode: 'rag',
    idle: ['vllm-chat'],
    drift: [],
    switching: null,
    services: [{ name: 'vllm-chat', models: ['chat-2b-vl'], inFlight: 0, waking: false, idleSleepS: 300, lastRequestAt: 1, idleSleepAt: 2 }],
    observation: toWire(obs),
  };
}

describe('gateway status on the wire', () => {
  it('an observation survives JSON whole (maps, GPU processes, units)', async () => {
    const obs = await look(machine(32, 'code'));
    const back = fromWire(JSON.parse(JSON.stringify(toWire(obs))));
    assert.ok(back && back.services instanceof Map && back.foreignMb instanceof Map);
    const plain = (o: Parameters<typeof toWire>[0]): unknown => JSON.parse(JSON.stringify(toWire(o)));
    assert.deepEqual(plain(back), plain(obs));
    assert.deepEqual(back.services.get('glm-code')?.unit, obs.services.get('glm-code')?.unit);
  });

  it('a status parses back; the editor gets the observation as a Map again', async () => {
    const s = await status();
    const v = parseGatewayStatus(JSON.parse(JSON.stringify(s)));
    assert.ok(v);
    assert.equal(v.observation.services.get('vllm-chat')?.sleep, 'l1');
    assert.deepEqual(v.idle, ['vllm-chat']);
    assert.equal(v.services[0].idleSleepAt, 2);
  });

  it('refuses what is not the gateway\'s shape, whole (another program on the port)', async () => {
    const good = JSON.parse(JSON.stringify(await status())) as Record<string, unknown>;
    const bad = (patch: (v: Record<string, unknown>) => void): unknown => {
      const v = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      patch(v);
      return v;
    };
    const obsOf = (v: Record<string, unknown>): Record<string, unknown> => v.observation as Record<string, unknown>;
    for (const v of [
      null,
      [],
      { hello: 'world' },
      bad((v) => (v.mode = 3)),
      bad((v) => (v.services = [{ name: 'x' }])),
      bad((v) => ((obsOf(v).services as Array<Record<string, unknown>>)[0].state = 'dancing')),
      bad((v) => ((obsOf(v).services as Array<Record<string, unknown>>)[0].vramMb = 'lots')),
      bad((v) => (obsOf(v).foreignMb = [[0, 'x']])),
      bad((v) => (obsOf(v).gpu = { available: true, ms: 1, gpus: [{ index: 0 }] })),
      bad((v) => (v.switching = { to: 5 })),
    ]) {
      assert.equal(parseGatewayStatus(v), undefined, JSON.stringify(v)?.slice(0, 120));
    }
  });
});

describe('SseParser', () => {
  it('splits events across chunks, joins multi-line data, skips comments and retry lines, accepts CRLF', () => {
    const got: Array<[string, string]> = [];
    const p = new SseParser((e, d) => got.push([e, d]));
    p.push('retry: 2000\n\n: keep-alive\n\nevent: status\ndata: {"a":');
    assert.deepEqual(got, []);
    p.push('1}\n\ndata: one\r\ndata: two\r\n\r\n');
    assert.deepEqual(got, [['status', '{"a":1}'], ['message', 'one\ntwo']]);
  });

  it('says when an event grows past its bound (a stream that is not the gateway\'s)', () => {
    const p = new SseParser(() => undefined);
    assert.equal(p.push('data: ' + 'x'.repeat(5 * 1024 * 1024)), false);
  });
});

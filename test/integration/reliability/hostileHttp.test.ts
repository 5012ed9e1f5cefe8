// The drivers against a hostile server (node:http on loopback, written here, not the fakes):
// malformed JSON, wrong types, bodies far beyond the client's maxBytes (declared and chunked), and
// slow drips of the body or of the headers. Every call must end with a clear error (or, for a probe,
// an `error`/`down` observation with the reason) within its deadline, and read a bounded amount.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig, formatProblems } from '../../../src/config/load';
import type { ServiceConfig } from '../../../src/config/types';
import type { DriverContext, Probe } from '../../../src/engine/driverPort';
import { driverFor } from '../../../src/drivers/registry';
import { isGpumodError, type GpumodErrorCode } from '../../../src/errors';
import { createHttpClient, DEFAULT_MAX_BYTES, type ClosableHttpClient } from '../../../src/system/http';
import { silentLogger } from '../../../src/system/logger';
import { testPort, unitName } from '../support/testManager';

const PORTS = { vllm: testPort(1040), llamacpp: testPort(1041), http: testPort(1042), systemd: testPort(1043) } as const;
const MODEL = 'm-1';
const HUGE = 64 * 1024 * 1024;

type Behaviour = 'malformed' | 'wrong-types' | 'huge-declared' | 'huge-chunked' | 'drip-body' | 'drip-headers';

/** What the hostile servers do now, and how many body bytes they managed to send per request. */
let behaviour: Behaviour | 'metrics-bomb' = 'malformed';

/** An asleep vLLM whose /metrics is ~1 MiB of lines that open a label set and never close it. */
const METRICS_BOMB = 'vllm:engine_sleep_state{\n'.repeat(Math.floor((DEFAULT_MAX_BYTES - 1024) / 25));
const sent: number[] = [];

function wrongTypes(path: string): unknown {
  if (path === '/is_sleeping') return { is_sleeping: 'false' };
  if (path === '/models') return { data: { id: MODEL, status: 'loaded' } };
  if (path === '/status') return { loaded: 'yes', state: 42 };
  return { ok: 1 };
}

/** Writes `total` bytes of JSON-looking filler as fast as the socket takes them; records what went out. */
function flood(res: ServerResponse, total: number, declared: boolean): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  chunk[0] = 0x5b; // '[': a body that looks like it might be JSON
  let written = 0;
  const slot = sent.push(0) - 1;
  res.writeHead(200, declared ? { 'content-type': 'application/json', 'content-length': total } : { 'content-type': 'application/json' });
  const pump = (): void => {
    while (written < total) {
      written += chunk.length;
      sent[slot] = written;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('close', () => (sent[slot] = Math.min(written, total)));
  pump();
}

/** `prefix`, then filler that never completes it, one byte every 50 ms, until the client goes away. */
function drip(write: (b: string) => boolean, onClose: (fn: () => void) => void, prefix: string): void {
  let i = 0;
  const t = setInterval(() => write(i < prefix.length ? prefix[i++] : 'x'), 50);
  onClose(() => clearInterval(t));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  req.resume();
  switch (behaviour) {
    case 'metrics-bomb':
      res.writeHead(200, { 'content-type': path === '/metrics' ? 'text/plain' : 'application/json' });
      return void res.end(path === '/metrics' ? METRICS_BOMB : path === '/is_sleeping' ? '{"is_sleeping": true}' : '{}');
    case 'malformed':
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"is_sleeping": tru');
    case 'wrong-types':
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(wrongTypes(path)));
    case 'huge-declared':
      return flood(res, HUGE, true);
    case 'huge-chunked':
      return flood(res, HUGE, false);
    case 'drip-body':
      res.writeHead(200, { 'content-type': 'application/json' });
      return drip((b) => res.write(b), (fn) => res.on('close', fn), '{"is_sleeping": false, "pad": "');
    case 'drip-headers': {
      // Around node:http: the status line and headers themselves arrive a byte at a time.
      const sock = req.socket;
      return drip((b) => sock.write(b), (fn) => sock.on('close', fn), 'HTTP/1.1 200 OK\r\nX-Slow: ');
    }
  }
}

function yaml(): string {
  return `
services:
  v: { driver: vllm, unit: ${unitName('relh-v')}, port: ${PORTS.vllm}, vram_mb: 1000, sleep: l1, sleep_timeout_s: 1, wake_timeout_s: 1,
       readiness: { method: POST, path: /v1/completions, body: { prompt: hi, max_tokens: 1 } } }
  l: { driver: llamacpp, unit: ${unitName('relh-l')}, port: ${PORTS.llamacpp}, vram_mb: 1000, model: ${MODEL}, sleep_timeout_s: 1, wake_timeout_s: 1 }
  h: { driver: http, unit: ${unitName('relh-h')}, port: ${PORTS.http}, vram_mb: 1000, sleep_timeout_s: 1, wake_timeout_s: 1,
       sleep: { sleep: POST /unload, wake: POST /load, probe: GET /status } }
  p: { driver: systemd, unit: ${unitName('relh-p')}, port: ${PORTS.systemd}, vram_mb: 1000, startup_timeout_s: 1 }
modes: {}
`;
}

type Op = { kind: 'probe' } | { kind: 'action'; run: (svc: ServiceConfig, ctx: DriverContext) => Promise<unknown> };

interface Row {
  svc: 'v' | 'l' | 'h' | 'p';
  op: string;
  call: Op;
}

const ROWS: Row[] = [
  { svc: 'v', op: 'probe', call: { kind: 'probe' } },
  { svc: 'v', op: 'sleep (forced)', call: { kind: 'action', run: (s, c) => driverFor(s).sleep(s, 'l1', c, { force: true }) } },
  { svc: 'v', op: 'wake L1', call: { kind: 'action', run: (s, c) => driverFor(s).wake(s, c, 'l1') } },
  { svc: 'v', op: 'readiness', call: { kind: 'action', run: (s, c) => driverFor(s).readiness(s, c) } },
  { svc: 'l', op: 'probe', call: { kind: 'probe' } },
  { svc: 'l', op: 'load', call: { kind: 'action', run: (s, c) => driverFor(s).wake(s, c) } },
  { svc: 'l', op: 'unload', call: { kind: 'action', run: (s, c) => driverFor(s).sleep(s, 'router', c) } },
  { svc: 'h', op: 'probe', call: { kind: 'probe' } },
  { svc: 'h', op: 'sleep hook', call: { kind: 'action', run: (s, c) => driverFor(s).sleep(s, 'hook', c) } },
  { svc: 'p', op: 'probe', call: { kind: 'probe' } },
  { svc: 'p', op: 'await ready', call: { kind: 'action', run: (s, c) => driverFor(s).awaitReady(s, c, 1000) } },
];

/** What each behaviour must produce: the error codes an action may end with, and what the message says. */
const EXPECT: Record<Behaviour, { codes: GpumodErrorCode[]; message: RegExp; rows?: (r: Row) => boolean }> = {
  // Bodies are parsed only where the protocol has one: a 2xx readiness or health answer is all they ask.
  malformed: { codes: ['HTTP_BAD_RESPONSE'], message: /malformed JSON/, rows: (r) => r.svc !== 'p' && r.op !== 'readiness' },
  'wrong-types': { codes: ['HTTP_BAD_RESPONSE'], message: /without a boolean is_sleeping|not in the router's shape|tells no state/, rows: (r) => r.svc !== 'p' && r.op !== 'readiness' },
  'huge-declared': { codes: ['HTTP_BAD_RESPONSE', 'DEADLINE'], message: /more than the \d+ (bytes )?allowed|bytes, more than|not done after/ },
  'huge-chunked': { codes: ['HTTP_BAD_RESPONSE', 'DEADLINE'], message: /more than the \d+ bytes allowed|not done after/ },
  'drip-body': { codes: ['HTTP_TIMEOUT', 'DEADLINE'], message: /did not complete within \d+ ms|not done after/ },
  'drip-headers': { codes: ['HTTP_TIMEOUT', 'DEADLINE'], message: /did not complete within \d+ ms|not done after/ },
};

/** The longest a call may take: its own deadline (1 s for actions here, 3 s for a probe's requests) plus slack for a loaded machine. */
const BOUND_MS = { probe: 3000 * 2 + 2500, action: 3000 + 2500 };

describe('reliability: drivers against a hostile HTTP server (bad input: a clear error, bounded memory and time)', function () {
  const servers: Server[] = [];
  let http: ClosableHttpClient;
  let services: Map<string, ServiceConfig>;

  before(async () => {
    const r = parseConfig(yaml(), 'hostile.yaml');
    assert.ok(r.ok, r.ok ? '' : formatProblems(r.problems));
    services = r.config.services;
    http = createHttpClient(silentLogger, { keepAliveMs: 200 });
    for (const port of Object.values(PORTS)) {
      const s = createServer(handle);
      s.keepAliveTimeout = 200;
      await new Promise<void>((res, rej) => {
        s.once('error', rej);
        s.listen(port, '127.0.0.1', () => res());
      });
      assert.equal((s.address() as AddressInfo).port, port);
      servers.push(s);
    }
  });

  after(async () => {
    await http.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((res) => s.close(() => res()));
    }
  });

  for (const b of Object.keys(EXPECT) as Behaviour[]) {
    const e = EXPECT[b];
    for (const row of ROWS.filter((r) => e.rows?.(r) ?? true)) {
      it(`${b}: ${row.svc === 'v' ? 'vllm' : row.svc === 'l' ? 'llamacpp' : row.svc === 'h' ? 'http hooks' : 'systemd'} ${row.op} → ${row.call.kind === 'probe' ? 'an error/down observation' : e.codes.join(' or ')}, in bounded time`, async function () {
        this.timeout(30_000);
        behaviour = b;
        sent.length = 0;
        const svc = services.get(row.svc) as ServiceConfig;
        // A safety net far beyond the bound: a driver that ignores its deadline fails here, not in mocha.
        const ctx: DriverContext = { http, log: silentLogger, signal: AbortSignal.timeout(20_000) };
        const heapBefore = process.memoryUsage().arrayBuffers;
        const t0 = Date.now();
        if (row.call.kind === 'probe') {
          const p: Probe = await driverFor(svc).probe(svc, ctx);
          const ms = Date.now() - t0;
          assert.ok(ms < BOUND_MS.probe, `the probe took ${ms} ms`);
          assert.equal(p.healthy, false, JSON.stringify(p));
          assert.ok(p.state === 'error' || p.state === 'down', `a hostile answer must not look like a state: ${JSON.stringify(p)}`);
          if (p.state === 'error') assert.match(p.detail ?? '', e.message);
        } else {
          let caught: unknown;
          try {
            await row.call.run(svc, ctx);
          } catch (err) {
            caught = err;
          }
          const ms = Date.now() - t0;
          assert.ok(ms < BOUND_MS.action, `the call took ${ms} ms`);
          assert.ok(isGpumodError(caught), `expected a GpumodError, got ${caught instanceof Error ? caught.stack : String(caught)}`);
          assert.ok(e.codes.includes(caught.code), `code ${caught.code}: ${caught.message}`);
          assert.match(caught.message, e.message);
          // Clear: it names the service or the endpoint it was talking to.
          assert.match(caught.message, new RegExp(`^${row.svc}: |127\\.0\\.0\\.1:${PORTS[svc.driver]}`), caught.message);
        }
        // Bounded: the client stopped reading soon after maxBytes (socket buffers aside), and kept little.
        for (const n of sent) assert.ok(n < DEFAULT_MAX_BYTES + 16 * 1024 * 1024, `the server got ${n} bytes out before the client hung up`);
        const grown = process.memoryUsage().arrayBuffers - heapBefore;
        assert.ok(grown < 32 * 1024 * 1024, `buffers grew by ${grown} bytes`);
      });
    }
  }

  // The regular expressions that read /metrics before ran across newlines: 30-37 s of CPU per read here.
  it('a ~1 MiB /metrics of unclosed label sets: the vLLM probe and a draining sleep read it in linear time', async function () {
    this.timeout(20_000);
    behaviour = 'metrics-bomb';
    const svc = services.get('v') as ServiceConfig;
    const ctx: DriverContext = { http, log: silentLogger, signal: AbortSignal.timeout(15_000) };
    let t0 = Date.now();
    const p = await driverFor(svc).probe(svc, ctx);
    assert.ok(Date.now() - t0 < 1500, `the probe took ${Date.now() - t0} ms`);
    assert.deepEqual([p.state, p.sleep], ['asleep', 'l2'], JSON.stringify(p));
    assert.match(p.detail ?? '', /depth unknown/);
    t0 = Date.now();
    await driverFor(svc).sleep(svc, 'l1', ctx); // no mode=wait without a version: drains by /metrics first
    assert.ok(Date.now() - t0 < 1500, `the sleep took ${Date.now() - t0} ms`);
  });

  it('the HTTP client itself: a 64 MiB body is cut at maxBytes, and a custom maxBytes is honoured', async function () {
    this.timeout(20_000);
    for (const b of ['huge-declared', 'huge-chunked'] as const) {
      behaviour = b;
      sent.length = 0;
      const t0 = Date.now();
      await assert.rejects(
        http.request({ method: 'GET', url: `http://127.0.0.1:${PORTS.vllm}/anything`, timeoutMs: 10_000, maxBytes: 4096 }),
        (err: unknown) => isGpumodError(err, 'HTTP_BAD_RESPONSE') && /4096/.test(err.message),
      );
      assert.ok(Date.now() - t0 < 5000, `${b}: ${Date.now() - t0} ms`);
      assert.ok(sent.every((n) => n < 16 * 1024 * 1024), `${b}: ${sent.join(', ')} bytes sent`);
    }
  });
});

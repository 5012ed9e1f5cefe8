import * as assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isGpumodError } from '../../../src/errors';
import { createHttpClient, type ClosableHttpClient } from '../../../src/system/http';
import type { Logger } from '../../../src/engine/logger';
import { waitFor } from '../support/wait';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string | Error): void => void lines.push(String(m));
  return { lines, trace: add, debug: add, info: add, warn: add, error: add };
}

describe('system/http against a local server', function () {
  this.timeout(20_000);
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  let dripped = 0;
  let connections = 0;
  let log: ReturnType<typeof recordingLogger>;
  let http: ClosableHttpClient;

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, body: string) => void> = {
    '/echo': (req, res, body) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, contentType: req.headers['content-type'] ?? null, body }));
    },
    '/status/503': (_req, res) => {
      res.statusCode = 503;
      res.end('{"error":"loading"}');
    },
    '/hang': () => undefined, // never answers
    '/big-declared': (_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024, 'a')),
    '/big-chunked': (_req, res) => {
      // No content-length: the cap must hold while streaming.
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 'b');
      const more = (): void => {
        while (sent < 4 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    },
    '/drip': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => {
        dripped++;
        res.write('x');
      }, 20);
      res.on('close', () => clearInterval(t));
    },
  };

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => (routes[(req.url ?? '').split('?')[0]] ?? ((_q, r) => ((r.statusCode = 404), r.end())))(req, res, body));
    });
    server.on('connection', (s: Socket) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    log = recordingLogger();
    http = createHttpClient(log);
  });
  afterEach(async () => http.close());

  it('sends JSON, returns status and body, and logs the call', async () => {
    const res = await http.request({ method: 'POST', url: `${base}/echo?level=1`, json: { tags: ['weights'] }, timeoutMs: 5000 });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { method: 'POST', contentType: 'application/json', body: '{"tags":["weights"]}' });
    assert.ok(res.ms >= 0);
    assert.match(log.lines[0], new RegExp(`^> POST ${base}/echo\\?level=1 200 \\[\\d+ms\\]$`));
  });

  it('resolves for every status', async () => {
    const res = await http.request({ method: 'GET', url: `${base}/status/503`, timeoutMs: 5000 });
    assert.equal(res.status, 503);
    assert.equal(res.body, '{"error":"loading"}');
  });

  it('times out a server that never answers (HTTP_TIMEOUT)', async () => {
    const t0 = Date.now();
    await assert.rejects(http.request({ method: 'GET', url: `${base}/hang`, timeoutMs: 300 }), (e: unknown) => isGpumodError(e, 'HTTP_TIMEOUT'));
    const took = Date.now() - t0;
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
    assert.match(log.lines[0], /^> GET \S+\/hang HTTP_TIMEOUT \[\d+ms\]$/);
  });

  it('reports a refused connection as HTTP_UNREACHABLE with the cause', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await assert.rejects(http.request({ method: 'GET', url: `http://127.0.0.1:${port}/health`, timeoutMs: 5000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_UNREACHABLE'));
      assert.match(e.message, /ECONNREFUSED/);
      assert.ok(e.cause);
      return true;
    });
  });

  it('refuses a body whose declared length exceeds maxBytes', async () => {
    await assert.rejects(http.request({ method: 'GET', url: `${base}/big-declared`, timeoutMs: 5000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_BAD_RESPONSE'));
      assert.match(e.message, /2097152 bytes, more than the 1048576 allowed/);
      return true;
    });
  });

  it('stops reading a streamed body at maxBytes', async () => {
    const before = process.memoryUsage().rss;
    await assert.rejects(http.request({ method: 'GET', url: `${base}/big-chunked`, timeoutMs: 5000, maxBytes: 100_000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_BAD_RESPONSE'));
      assert.match(e.message, /more than the 100000 bytes allowed/);
      return true;
    });
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024);
  });

  it('bounds a slow drip by the deadline, not by the size cap', async () => {
    dripped = 0;
    const t0 = Date.now();
    await assert.rejects(http.request({ method: 'GET', url: `${base}/drip`, timeoutMs: 400 }), (e: unknown) => isGpumodError(e, 'HTTP_TIMEOUT'));
    const took = Date.now() - t0;
    assert.ok(took >= 390 && took < 1500, `took ${took} ms`);
    assert.ok(dripped > 3, 'the server was sending');
    const at = dripped;
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(dripped - at <= 1, 'the connection was closed');
  });

  it('cancels on the caller’s AbortSignal (CANCELLED), also mid-body', async () => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 100);
    const t0 = Date.now();
    await assert.rejects(http.request({ method: 'GET', url: `${base}/hang`, timeoutMs: 5000, signal: ctrl.signal }), (e: unknown) => isGpumodError(e, 'CANCELLED'));
    assert.ok(Date.now() - t0 < 1000);
    const mid = new AbortController();
    setTimeout(() => mid.abort(), 150);
    await assert.rejects(http.request({ method: 'GET', url: `${base}/drip`, timeoutMs: 5000, signal: mid.signal }), (e: unknown) => isGpumodError(e, 'CANCELLED'));
    await assert.rejects(http.request({ method: 'GET', url: `${base}/echo`, timeoutMs: 5000, signal: mid.signal }), (e: unknown) => isGpumodError(e, 'CANCELLED'));
  });

  it('refuses non-loopback hosts unless allowed', async () => {
    const t0 = Date.now();
    await assert.rejects(http.request({ method: 'POST', url: 'http://10.255.255.1:7071/sleep?level=1', timeoutMs: 5000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_UNREACHABLE'));
      assert.match(e.message, /10\.255\.255\.1 is not a loopback address and not in allowedHosts/);
      return true;
    });
    assert.ok(Date.now() - t0 < 100, 'refused without any network I/O');
    await assert.rejects(http.request({ method: 'GET', url: 'file:///etc/passwd', timeoutMs: 5000 }), (e: unknown) => isGpumodError(e, 'HTTP_UNREACHABLE'));
    const allowing = createHttpClient(log, { allowedHosts: ['gpumod-test.invalid'] });
    await assert.rejects(allowing.request({ method: 'GET', url: 'http://gpumod-test.invalid:7071/health', timeoutMs: 5000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_UNREACHABLE'));
      assert.doesNotMatch(e.message, /not a loopback/); // it was attempted: the name does not resolve
      return true;
    });
    await allowing.close();
    // IPv6: allowed_hosts and the URL may spell one address differently; it is attempted, not refused.
    const v6 = createHttpClient(log, { allowedHosts: ['[FD00:0::1]'] });
    await assert.rejects(v6.request({ method: 'GET', url: 'http://[fd00::1]:7071/health', timeoutMs: 300 }), (e: unknown) => {
      assert.ok(isGpumodError(e));
      assert.doesNotMatch(e.message, /not a loopback/);
      return true;
    });
    await v6.close();
  });

  it('reuses kept-alive connections, and closes them soon when idle', async () => {
    const quick = createHttpClient(log, { keepAliveMs: 200 });
    const before = connections;
    const open = new Set(sockets);
    for (let i = 0; i < 5; i++) assert.equal((await quick.request({ method: 'GET', url: `${base}/echo`, timeoutMs: 5000 })).status, 200);
    assert.ok(connections - before < 5, `${connections - before} connections for 5 requests`);
    const ours = [...sockets].filter((s) => !open.has(s));
    await waitFor('the idle connections to close', () => (ours.every((s) => s.destroyed) ? true : undefined), 3000);
    await quick.close();
  });
});

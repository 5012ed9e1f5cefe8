// The HTTP plumbing every fake shares: routing with 404/405, one log line per request, --port 0,
// injected faults (CLI and runtime /_fake/fault), /_fake/state, "refuse" (stop listening) and SIGTERM.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Options } from './options';

export type FaultKind = '500' | 'hang' | 'crash' | 'refuse' | 'engine-dead';
const FAULT_KINDS: FaultKind[] = ['500', 'hang', 'crash', 'refuse', 'engine-dead'];

export interface Fault {
  /** A path like /wake_up (query ignored), or `*` for every request. */
  endpoint: string;
  kind: FaultKind;
  /** The first `after` matching calls succeed. */
  after: number;
  /** How many times it fires after that (undefined = forever). */
  times?: number;
  /** Error message for kind 500. */
  message?: string;
  /** For kind refuse: listen again after this many ms (undefined = never). */
  forMs?: number;
  seen: number;
  fired: number;
}

export function parseFaultSpec(spec: string): Fault {
  const [endpoint, kind, after, times] = spec.split(':');
  return faultFromJson({ endpoint, kind, after: after === undefined ? 0 : Number(after), times: times === undefined ? undefined : Number(times) });
}

export function faultFromJson(v: unknown): Fault {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const endpoint = o.endpoint;
  const kind = String(o.kind) as FaultKind;
  if (typeof endpoint !== 'string' || !(endpoint === '*' || endpoint.startsWith('/'))) throw new Error(`fault endpoint must be a path or *: ${JSON.stringify(endpoint)}`);
  if (!FAULT_KINDS.includes(kind)) throw new Error(`fault kind must be one of ${FAULT_KINDS.join('|')}: ${JSON.stringify(o.kind)}`);
  const num = (x: unknown, what: string): number | undefined => {
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new Error(`fault ${what} must be a number >= 0`);
    return x;
  };
  return {
    endpoint,
    kind,
    after: num(o.after, 'after') ?? 0,
    times: num(o.times, 'times'),
    message: typeof o.message === 'string' ? o.message : undefined,
    forMs: num(o.forMs, 'forMs'),
    seen: 0,
    fired: 0,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export class Ctx {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  private bodyPromise?: Promise<string>;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.method = req.method ?? 'GET';
    this.path = url.pathname;
    this.query = url.searchParams;
  }

  /** True once the client went away (a hung request it gave up on, say). */
  get gone(): boolean {
    return this.req.destroyed && !this.res.writableEnded;
  }

  body(): Promise<string> {
    this.bodyPromise ??= new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.req.on('data', (c: Buffer) => chunks.push(c));
      this.req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      this.req.on('error', reject);
    });
    return this.bodyPromise;
  }

  /** The body as JSON; `error` carries the parser's message for malformed bodies. */
  async json(): Promise<{ ok: true; value: unknown; text: string } | { ok: false; error: string; text: string }> {
    const text = await this.body();
    try {
      return { ok: true, value: JSON.parse(text) as unknown, text };
    } catch (err) {
      return { ok: false, error: (err as Error).message, text };
    }
  }

  send(status: number, body: string, contentType?: string): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (contentType) headers['content-type'] = contentType;
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  sendJson(status: number, value: unknown, contentType = 'application/json'): void {
    this.send(status, JSON.stringify(value), contentType);
  }

  /** 200 (or another status) with an empty body, as FastAPI's Response() sends it. */
  sendEmpty(status = 200): void {
    this.send(status, '');
  }
}

export type Handler = (ctx: Ctx) => void | Promise<void>;

export interface Route {
  method: string;
  path: string;
  handler: Handler;
}

export interface FakeServerConfig {
  name: string;
  opts: Options;
  routes: Route[];
  notFound: Handler;
  methodNotAllowed: Handler;
  /** Answers an injected kind-500 fault in this server's error shape. */
  fault500: (ctx: Ctx, message: string) => void;
  onEngineDead?: () => void;
  onFaultsCleared?: () => void;
  state: () => Record<string, unknown>;
  /** Extra control routes, e.g. POST /_fake/kill-model. */
  control?: Route[];
}

export class FakeServer {
  readonly faults: Fault[];
  private readonly server: Server;
  private boundPort = 0;
  private isListening = false;
  private shuttingDown = false;

  constructor(private readonly cfg: FakeServerConfig) {
    this.faults = cfg.opts.list('fault').map(parseFaultSpec);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.isListening;
  }

  log(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  /** Starts listening; the first listen prints `listening on PORT` (the actual port, for --port 0). */
  listen(): Promise<number> {
    const port = this.boundPort || this.cfg.opts.num('port');
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, this.cfg.opts.str('host'), () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        this.isListening = true;
        this.log(`listening on ${this.boundPort}`);
        resolve(this.boundPort);
      });
    });
  }

  /** Connections are refused from now on (the socket is closed), as after an HTTP server crash. */
  stopListening(): void {
    if (!this.isListening) return;
    this.isListening = false;
    this.server.close();
    this.server.closeAllConnections();
  }

  /**
   * SIGTERM/SIGINT: stop answering, let the fake release its memory with the stop lag, and exit 0
   * at ~70% of --stop-ms (so the GPU shows the memory freed a little after the exit, as a real one does).
   */
  onShutdown(release: (lagMs: number) => void): void {
    const stop = (signal: string): void => {
      if (this.shuttingDown) return;
      this.shuttingDown = true;
      const stopMs = this.cfg.opts.ms('stop-ms');
      const lag = this.releaseLag(stopMs);
      process.stderr.write(`${this.cfg.name}: ${signal}, shutting down\n`);
      this.stopListening();
      try {
        release(lag);
      } finally {
        setTimeout(() => process.exit(0), stopMs * 0.7);
      }
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  }

  /** The lag a release shows with: `defaultMs` unless --release-lag-ms overrides it (both time-scaled). */
  releaseLag(defaultMs: number): number {
    const o = this.cfg.opts.optNum('release-lag-ms');
    return o === undefined ? defaultMs : this.cfg.opts.scale(o);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = Date.now();
    const ctx = new Ctx(req, res);
    res.on('finish', () => this.log(`${ctx.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms`));
    res.on('close', () => {
      if (res.writableFinished) return;
      const how = res.headersSent ? `${res.statusCode} ${Date.now() - t0}ms (stream closed)` : `- ${Date.now() - t0}ms (connection closed before an answer)`;
      this.log(`${ctx.method} ${req.url} ${how}`);
    });
    try {
      if (ctx.path.startsWith('/_fake/')) return await this.handleControl(ctx);
      if (this.applyFault(ctx)) return;
      const routes = this.cfg.routes.filter((r) => r.path === ctx.path);
      if (routes.length === 0) return await this.cfg.notFound(ctx);
      const route = routes.find((r) => r.method === ctx.method || (ctx.method === 'HEAD' && r.method === 'GET'));
      if (!route) return await this.cfg.methodNotAllowed(ctx);
      await route.handler(ctx);
    } catch (err) {
      process.stderr.write(`${this.cfg.name}: ${ctx.method} ${ctx.path}: ${(err as Error).stack ?? String(err)}\n`);
      ctx.send(500, 'Internal Server Error', 'text/plain; charset=utf-8');
    }
  }

  /** Returns true when a fault took the request over. */
  private applyFault(ctx: Ctx): boolean {
    for (const f of this.faults) {
      if (f.endpoint !== '*' && f.endpoint !== ctx.path) continue;
      f.seen++;
      if (f.seen <= f.after) continue;
      if (f.times !== undefined && f.fired >= f.times) continue;
      f.fired++;
      process.stderr.write(`${this.cfg.name}: fault ${f.kind} on ${ctx.method} ${ctx.path}\n`);
      switch (f.kind) {
        case '500':
          this.cfg.fault500(ctx, f.message ?? `fake fault injected on ${ctx.path}`);
          return true;
        case 'hang':
          return true; // never answered; the client's timeout is what is under test
        case 'crash':
          process.stderr.write(`${this.cfg.name}: crashing (fault) mid-request\n`);
          process.exit(1);
          return true;
        case 'refuse':
          this.stopListening(); // first, so a client retrying at once is refused rather than reset
          ctx.req.socket.destroy();
          if (f.forMs !== undefined) setTimeout(() => void this.listen().catch(() => undefined), f.forMs);
          return true;
        case 'engine-dead':
          this.cfg.onEngineDead?.();
          return false; // the request goes on and meets a dead engine
      }
    }
    return false;
  }

  private async handleControl(ctx: Ctx): Promise<void> {
    const key = `${ctx.method} ${ctx.path}`;
    if (key === 'GET /_fake/state') {
      return ctx.sendJson(200, { ...this.cfg.state(), pid: process.pid, port: this.boundPort, faults: this.faults });
    }
    if (key === 'POST /_fake/fault') {
      const body = await ctx.json();
      try {
        if (!body.ok) throw new Error(`bad JSON: ${body.error}`);
        const list = Array.isArray(body.value) ? body.value : [body.value];
        this.faults.push(...list.map(faultFromJson));
      } catch (err) {
        return ctx.sendJson(400, { error: (err as Error).message });
      }
      return ctx.sendJson(200, { faults: this.faults });
    }
    if (key === 'DELETE /_fake/fault') {
      const only = ctx.query.get('endpoint');
      for (let i = this.faults.length - 1; i >= 0; i--) if (only === null || this.faults[i].endpoint === only) this.faults.splice(i, 1);
      this.cfg.onFaultsCleared?.();
      return ctx.sendJson(200, { faults: this.faults });
    }
    const extra = this.cfg.control?.find((r) => r.method === ctx.method && r.path === ctx.path);
    if (extra) return await extra.handler(ctx);
    ctx.sendJson(404, { error: `no control route ${key}` });
  }
}

/** FastAPI's answers for unknown routes and wrong methods (vLLM and the hook server share them). */
export const fastApiNotFound: Handler = (ctx) => ctx.sendJson(404, { detail: 'Not Found' });
export const fastApiMethodNotAllowed: Handler = (ctx) => ctx.sendJson(405, { detail: 'Method Not Allowed' });

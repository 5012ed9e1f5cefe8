// `gpumod gateway`: an OpenAI-compatible endpoint on loopback. A request is routed by the model it
// names, its service woken first if need be, then forwarded as it is: bodies unaltered, responses
// streamed through unbuffered, hop-by-hop headers dropped, a client that goes away aborts upstream.
import { timingSafeEqual } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_FILE } from '../system/lock';
import { createServer, request as httpRequest, Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config, ServiceConfig } from '../config/types';
import { baseUrl } from '../drivers/common';
import { observe } from '../engine/observe';
import type { EnginePorts } from '../engine/ports';
import type { Observation } from '../engine/types';
import { errorMessage } from '../errors';
import { isInferencePath, modelIndex, requestedModel, streamRequested } from './routes';
import { Unavailable, Waker, type MachineFiles } from './waker';
import { currentMode } from '../engine/currentMode';
import { toWire } from '../engine/observationWire';
import type { GatewayStatus } from './status';
import { StatusFeed, type Look } from './statusFeed';

/** A streaming client waiting for a wake gets its answer's headers after this, then a comment now and then. */
const KEEPALIVE_AFTER_MS = 1000;
const KEEPALIVE_EVERY_MS = 10_000;

/** How long one look at the machine answers /v1/models. */
const MODELS_LOOK_MS = 1000;

/** Request bodies (prompts, audio) up to this size are read before routing; larger ones get 413. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

export interface Gateway {
  port: number;
  url: string;
  waker: Waker;
  close(): Promise<void>;
}

export interface GatewayOptions {
  port: number;
  token?: string;
  /** The state file's directory: /gpumod/events follows switches by anyone through it. */
  stateDir?: string;
  /** How often /gpumod/events looks at the machine while someone listens (ms). */
  statusPeriodMs?: number;
}

/** The editor's polling interval's default: a listener to /gpumod/events sees changes at least as soon. */
const STATUS_PERIOD_MS = 3000;

function sendError(res: ServerResponse, status: number, message: string, type: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ error: { message, type, code: status } }));
}

/**
 * While a streaming client waits for its model to wake, its answer begins (200, text/event-stream)
 * and an SSE comment goes out now and then, so that it does not time out. Returns the stop.
 */
function keepStreamAlive(res: ServerResponse, svc: ServiceConfig): () => void {
  let every: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(`: gpumod: waking ${svc.name}\n\n`);
    every = setInterval(() => res.write(`: gpumod: still waking ${svc.name}\n\n`), KEEPALIVE_EVERY_MS);
  }, KEEPALIVE_AFTER_MS);
  return () => {
    clearTimeout(first);
    if (every) clearInterval(every);
  };
}

/** A stream already begun cannot turn into an error status: the error is its last event. */
function endStreamWithError(res: ServerResponse, message: string, code: number): void {
  res.end(`data: ${JSON.stringify({ error: { message, type: code === 503 ? 'service_unavailable' : 'upstream_error', code } })}\n\ndata: [DONE]\n\n`);
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${token}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Only local programs may use the gateway, not web pages: a browser's request to it from another site
 * carries that site's Origin, and one through DNS rebinding a Host that is not loopback. Either could
 * otherwise switch the GPU from a page the user merely visited.
 */
function fromLocalProgram(req: IncomingMessage, port: number): boolean {
  const host = (req.headers.host ?? '').toLowerCase();
  if (host && !LOOPBACK_NAMES.some((n) => host === n || host === `${n}:${port}`)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const u = new URL(origin);
    return LOOPBACK_NAMES.includes(u.hostname.toLowerCase()) || LOOPBACK_NAMES.includes(`[${u.hostname}]`);
  } catch {
    return false;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startGateway(config: Config, ports: EnginePorts, opts: GatewayOptions): Promise<Gateway> {
  // A switch by anyone else changes what is awake under the gateway: checked at each request (two stats).
  const stateDir = opts.stateDir;
  const files: MachineFiles | undefined = stateDir
    ? {
        lockHeld: () => existsSync(join(stateDir, LOCK_FILE)),
        stateStamp: () => {
          try {
            return statSync(join(stateDir, 'state.json')).mtimeMs;
          } catch {
            return undefined;
          }
        },
      }
    : undefined;
  const waker = new Waker(config, ports, files);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  /** Model names servers list in /v1/models, per service, learnt while they answer. */
  const learnt = new Map<string, string[]>();
  /** modelIndex of the config and what is learnt, rebuilt when something new is learnt. */
  let index = modelIndex(config, learnt);

  async function learn(signal: AbortSignal): Promise<void> {
    await Promise.all(
      [...config.services.values()]
        .filter((s) => s.driver === 'vllm')
        .map(async (s) => {
          try {
            const r = await ports.http.request({ method: 'GET', url: `${baseUrl(s)}/v1/models`, timeoutMs: 2000, signal, quiet: true, maxBytes: 256 * 1024 });
            const ids = ((JSON.parse(r.body) as { data?: Array<{ id?: unknown }> }).data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
            if (r.status === 200 && ids.length > 0 && ids.join('\n') !== learnt.get(s.name)?.join('\n')) {
              learnt.set(s.name, ids);
              index = modelIndex(config, learnt);
            }
          } catch {
            /* not answering now: what was learnt stays */
          }
        }),
    );
  }

  const startedAt = Date.now();
  function buildStatus({ obs, state }: Look): GatewayStatus {
    const cm = currentMode(config, obs, state?.mode, state?.idle);
    const served = new Map<string, string[]>();
    for (const [model, svc] of index) served.set(svc.name, [...(served.get(svc.name) ?? []), model]);
    return {
      url: `http://127.0.0.1:${boundPort}/v1`,
      pid: process.pid,
      startedAt,
      tokenRequired: Boolean(opts.token),
      mode: cm.mode ?? null,
      idle: cm.idle ?? [],
      drift: cm.drift,
      switching: state?.switching ?? null,
      services: [...config.services.values()].map((s) => ({
        name: s.name,
        models: served.get(s.name) ?? [],
        ...(s.idleSleepMs ? { idleSleepS: s.idleSleepMs / 1000 } : {}),
        ...waker.view(s.name),
      })),
      observation: toWire(obs),
    };
  }
  const feed = new StatusFeed({
    look: async (periodic) => {
      const signal = AbortSignal.timeout(10_000);
      const [obs, state] = await Promise.all([observe(config, ports, signal, periodic ? { gpuMaxAgeMs: opts.statusPeriodMs ?? STATUS_PERIOD_MS } : {}), ports.store.readState()]);
      return { obs, state };
    },
    build: buildStatus,
    periodMs: opts.statusPeriodMs ?? STATUS_PERIOD_MS,
    stateDir: opts.stateDir,
    follow: ports.gpu.follow?.bind(ports.gpu),
    onError: (m) => ports.log.warn(`gateway status: ${m}`),
  });
  waker.onChange = () => feed.demandChanged();
  waker.onSwitch = (e) => feed.switchEvent(e);

  async function statusJson(res: ServerResponse): Promise<void> {
    const s = await feed.current();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.end(JSON.stringify(s));
  }

  /** /v1/models's look, shared by the calls within a second of it (clients poll it; each look starts processes). */
  let modelsLook: { at: number; look: Promise<Observation> } | undefined;
  function lookForModels(): Promise<Observation> {
    if (modelsLook && Date.now() - modelsLook.at < MODELS_LOOK_MS) return modelsLook.look;
    const signal = AbortSignal.timeout(10_000);
    const look = Promise.all([observe(config, ports, signal), learn(signal)]).then(([obs]) => obs);
    modelsLook = { at: Date.now(), look };
    look.catch(() => (modelsLook = undefined));
    return look;
  }

  async function models(res: ServerResponse): Promise<void> {
    const obs = await lookForModels();
    const data = [...index].map(([id, svc]) => {
      const o = obs.services.get(svc.name);
      const state = o?.state === 'sleeping' ? `asleep ${o.sleep ?? ''}`.trim() : (o?.state ?? 'unknown');
      return { id, object: 'model', created: 0, owned_by: 'gpumod', service: svc.name, state };
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data }));
  }

  /**
   * Forwards the request; `refused` (nothing sent to the client) when the service refused the
   * connection and `mayRetry`: it went away under the gateway, and the caller wakes it again.
   */
  function forward(req: IncomingMessage, res: ServerResponse, svc: ServiceConfig, body: Buffer, mayRetry: boolean, onUpstream: (u: ClientRequest) => void): Promise<'answered' | 'refused'> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || (k === 'authorization' && opts.token)) continue;
      headers[k] = v;
    }
    headers['content-length'] = String(body.length);
    return new Promise((resolve) => {
      const upstream = httpRequest({ host: svc.host, port: svc.port, method: req.method, path: req.url, headers, agent }, (up) => {
        resolve('answered');
        if (res.headersSent) {
          // A streaming client already has its 200 and keep-alives: the stream goes on, or ends with the error as an event.
          if (up.statusCode === 200) return void up.pipe(res);
          let text = '';
          up.on('data', (d: Buffer) => (text += d.toString()));
          up.on('end', () => endStreamWithError(res, `${svc.name} answered ${up.statusCode ?? '?'}: ${text.slice(0, 2000)}`, up.statusCode ?? 502));
          return;
        }
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        // No flush of the headers alone: they leave with the first bytes of the answer, in one packet.
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.on('error', () => res.destroy());
      });
      upstream.on('error', (e: NodeJS.ErrnoException) => {
        if (mayRetry && e.code === 'ECONNREFUSED') return resolve('refused');
        resolve('answered');
        // Broken mid-answer: an event stream ends with the error as its last event, anything else is cut off.
        const streaming = String(res.getHeader('content-type') ?? '').startsWith('text/event-stream');
        if (res.headersSent && streaming) return endStreamWithError(res, `${svc.name} did not answer: ${errorMessage(e)}`, 502);
        sendError(res, 502, `${svc.name} did not answer: ${errorMessage(e)}`, 'upstream_error');
      });
      upstream.setNoDelay(true);
      onUpstream(upstream);
      upstream.end(body);
    });
  }

  async function inference(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (!body) return sendError(res, 413, `request body over ${MAX_BODY_BYTES} bytes`, 'invalid_request_error');
    const model = requestedModel(req.headers['content-type'], body);
    if (model !== undefined && !index.has(model)) await learn(AbortSignal.timeout(3000));
    const svc = model === undefined ? undefined : index.get(model);
    if (!svc) {
      const known = [...index.keys()].join(', ') || 'none configured';
      return sendError(res, model === undefined ? 400 : 404, model === undefined ? `the request names no model (models: ${known})` : `no service serves the model "${model}" (models: ${known})`, 'invalid_request_error');
    }
    // In flight from when it is served until the answer ends or the client goes away (which aborts it upstream).
    let upstream: ClientRequest | undefined;
    let done: (() => void) | undefined;
    res.once('close', () => {
      if (!res.writableFinished) upstream?.destroy();
      done?.();
    });
    const keepAlive = streamRequested(req.headers['content-type'], body) ? keepStreamAlive(res, svc) : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const served = waker.serve(svc);
        done = typeof served === 'function' ? served : await served;
      } catch (e) {
        keepAlive?.();
        const retry = e instanceof Unavailable ? e.retryAfterS : 5;
        if (res.headersSent) return endStreamWithError(res, errorMessage(e), 503);
        return sendError(res, 503, errorMessage(e), 'service_unavailable', { 'retry-after': String(retry) });
      }
      keepAlive?.();
      if (res.destroyed) return done(); // gone while its model woke
      const sent = await forward(req, res, svc, body, attempt === 0, (u) => (upstream = u));
      if (sent === 'answered') return;
      // The service went away under the gateway (it crashed, someone stopped it): look again, and wake it once more.
      done();
      done = undefined;
      waker.forget();
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (!fromLocalProgram(req, boundPort)) return sendError(res, 403, 'gpumod gateway serves local programs only (this request came from a web page or another host name)', 'permission_error');
    if (!authorized(req, opts.token)) return sendError(res, 401, 'missing or wrong bearer token', 'authentication_error', { 'www-authenticate': 'Bearer' });
    const fail = (e: unknown): void => sendError(res, 500, errorMessage(e), 'internal_error');
    if (req.method === 'GET' && url.pathname === '/v1/models') return void models(res).catch(fail);
    if (req.method === 'GET' && url.pathname === '/gpumod/status') return void statusJson(res).catch(fail);
    if (req.method === 'GET' && url.pathname === '/gpumod/events') return feed.subscribe(req, res);
    if (req.method === 'POST' && isInferencePath(url.pathname)) return void inference(req, res).catch(fail);
    sendError(res, 404, `gpumod gateway: no route for ${req.method ?? ''} ${url.pathname}`, 'invalid_request_error');
  });
  let boundPort = opts.port;
  server.keepAliveTimeout = 65_000;
  // Every answer's bytes leave as soon as they are written (tokens of a stream, small JSON answers).
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  void learn(AbortSignal.timeout(5000));
  const port = (server.address() as AddressInfo).port;
  boundPort = port;
  return {
    port,
    url: `http://127.0.0.1:${port}/v1`,
    waker,
    close: async () => {
      waker.close();
      feed.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
    },
  };
}

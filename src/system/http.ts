// HttpClient on node:http: one deadline for the whole exchange, bounded bodies, loopback unless allowed.
// Node's own client, not a library: the exchanges are small JSON ones on loopback, and the pooled
// keep-alive sockets are all a switch needs from a client (undici was 300 KB of the extension).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { canonicalHost, isAllowedHost } from '../config/hosts';
import { GpumodError, errorMessage } from '../errors';
import type { Logger } from '../engine/logger';
import { redactUrl } from './redact';
import type { HttpClient, HttpRequest, HttpResponse } from '../engine/machinePorts';

export const DEFAULT_MAX_BYTES = 1024 * 1024;

export interface HttpClientOptions {
  /** Non-loopback hosts the user explicitly allowed (vLLM's sleep endpoints are unauthenticated). */
  allowedHosts?: readonly string[];
  /** Idle keep-alive sockets close after this, so a CLI run exits promptly. */
  keepAliveMs?: number;
}

export interface ClosableHttpClient extends HttpClient {
  /** Closes the pooled connections (the CLI calls it before exiting). */
  close(): Promise<void>;
}

function excerpt(body: string, max = 200): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 3)}...` : one || '(empty body)';
}

/** The body as JSON, or HTTP_BAD_RESPONSE naming `what` (e.g. "vllm-chat GET /is_sleeping") and an excerpt. */
export function parseJson(res: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(res.body) as unknown;
  } catch (e) {
    throw new GpumodError('HTTP_BAD_RESPONSE', `${what} answered malformed JSON (HTTP ${res.status}): ${excerpt(res.body)}`, { cause: e });
  }
}

function errCode(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : errorMessage(e);
}

export function createHttpClient(log: Logger, options: HttpClientOptions = {}): ClosableHttpClient {
  const allowed = options.allowedHosts ?? [];
  const keepAliveMs = options.keepAliveMs ?? 2000;
  // `timeout` closes a pooled socket after that long idle; a socket in use is bounded by the exchange's deadline.
  const pool = { keepAlive: true, timeout: keepAliveMs, scheduling: 'lifo' as const };
  const agents = { http: new HttpAgent(pool), https: new HttpsAgent(pool) };

  function target(req: HttpRequest): URL {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch (e) {
      log.warn(`> ${req.method} ${redactUrl(req.url)} refused: invalid URL`);
      // The parser's error keeps the raw URL in `input`: the cause carries its message only.
      throw new GpumodError('HTTP_UNREACHABLE', `invalid URL ${JSON.stringify(redactUrl(req.url))}`, { cause: new TypeError(errorMessage(e)) });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new GpumodError('HTTP_UNREACHABLE', `refusing ${redactUrl(req.url)}: only http and https are supported`);
    }
    const host = canonicalHost(url.hostname) ?? url.hostname;
    if (!isAllowedHost(host, allowed)) {
      log.warn(`> ${req.method} ${redactUrl(req.url)} refused: not loopback, not in allowedHosts`);
      throw new GpumodError(
        'HTTP_UNREACHABLE',
        `refusing ${req.method} ${redactUrl(req.url)}: ${host} is not a loopback address and not in allowedHosts ` +
          `(sleep and wake endpoints are unauthenticated; list the host in allowedHosts to allow it)`,
      );
    }
    return url;
  }

  /** The response's head, once it arrives; its body is read by the caller. */
  function send(url: URL, req: HttpRequest, signal: AbortSignal): Promise<IncomingMessage> {
    const body = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
    const https = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const out = (https ? httpsRequest : httpRequest)(url, { method: req.method, headers, signal, agent: https ? agents.https : agents.http }, resolve);
      out.on('error', reject);
      out.end(body);
    });
  }

  return {
    async request(req) {
      const url = target(req);
      // Logged and put in every message: never with the credentials a URL may carry.
      const what = `${req.method} ${redactUrl(req.url)}`;
      const maxBytes = req.maxBytes ?? DEFAULT_MAX_BYTES;
      const t0 = performance.now();
      const elapsed = (): number => Math.round(performance.now() - t0);
      if (req.signal?.aborted) throw new GpumodError('CANCELLED', `cancelled before ${what}`);

      // One controller for the whole exchange: the deadline and the caller's signal both abort it,
      // and the flags say which one did.
      const ctrl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ctrl.abort(new Error('deadline'));
      }, req.timeoutMs);
      const onAbort = (): void => ctrl.abort(new Error('cancelled'));
      req.signal?.addEventListener('abort', onAbort, { once: true });

      const fail = (e: unknown, phase: 'connect' | 'body'): GpumodError => {
        if (e instanceof GpumodError) return e;
        if (timedOut) return new GpumodError('HTTP_TIMEOUT', `${what} did not complete within ${req.timeoutMs} ms`, { cause: e });
        if (req.signal?.aborted) return new GpumodError('CANCELLED', `cancelled: ${what}`, { cause: e });
        return phase === 'connect'
          ? new GpumodError('HTTP_UNREACHABLE', `${what}: ${errCode(e)}`, { cause: e })
          : new GpumodError('HTTP_BAD_RESPONSE', `${what}: connection broke while reading the body (${errCode(e)})`, { cause: e });
      };

      try {
        let res: IncomingMessage;
        try {
          res = await send(url, req, ctrl.signal);
        } catch (e) {
          throw fail(e, 'connect');
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          throw new GpumodError('HTTP_BAD_RESPONSE', `${what} answered ${declared} bytes, more than the ${maxBytes} allowed`);
        }
        const chunks: Buffer[] = [];
        let total = 0;
        try {
          for await (const chunk of res) {
            const buf = chunk as Buffer;
            total += buf.length;
            if (total > maxBytes) {
              res.destroy();
              throw new GpumodError('HTTP_BAD_RESPONSE', `${what} answered more than the ${maxBytes} bytes allowed`);
            }
            chunks.push(buf);
          }
          // A server that closes mid-body ends the stream early without an error on some paths.
          if (!res.complete) throw Object.assign(new Error('response ended before its end'), { code: 'ECONNRESET' });
        } catch (e) {
          throw fail(e, 'body');
        }
        const ms = elapsed();
        (req.quiet ? log.debug : log.info)(`> ${what} ${res.statusCode} [${ms}ms]`);
        return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms };
      } catch (e) {
        const err = e instanceof GpumodError ? e : fail(e, 'connect');
        (req.quiet ? log.debug : log.info)(`> ${what} ${err.code} [${elapsed()}ms]`);
        throw err;
      } finally {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
      }
    },

    async close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

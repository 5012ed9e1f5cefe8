import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import { redactUrl } from '../system/redact';
import type { HttpRequest, HttpResponse } from '../engine/machinePorts';
import type { DriverContext, Probe } from '../engine/driverPort';
import { answerText, deterministicBody } from './readinessAnswer';

/** A single probe must never hold up the status bar: short, and retried by the next poll. */
export const PROBE_TIMEOUT_MS = 3000;

export function baseUrl(svc: ServiceConfig): string {
  const host = svc.host.includes(':') && !svc.host.startsWith('[') ? `[${svc.host}]` : svc.host;
  return `http://${host}:${svc.port}`;
}

export function call(
  svc: ServiceConfig,
  ctx: DriverContext,
  method: HttpRequest['method'],
  path: string,
  timeoutMs: number,
  json?: unknown,
): Promise<HttpResponse> {
  return ctx.http.request({ method, url: baseUrl(svc) + path, json, timeoutMs, signal: ctx.signal, ...(ctx.quiet ? { quiet: true } : {}) });
}

export function excerpt(body: string): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 197)}...` : one || '(empty body)';
}

/** Every response is checked: anything but 2xx is an error naming the service, the call and the answer. */
export function expectOk(svc: ServiceConfig, what: string, res: HttpResponse): HttpResponse {
  if (res.status >= 200 && res.status < 300) return res;
  throw new GpumodError('HTTP_ERROR', `${svc.name}: ${what} answered ${res.status}: ${excerpt(res.body)}`);
}

/** No server answer gpumod reads nests deeper than a few levels. */
export const MAX_JSON_DEPTH = 64;

/** Whether `[`/`{` nest deeper than `limit` outside strings: one pass, before JSON.parse sees the text. */
function nestsDeeper(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * JSON.parse for text a server sent. Deep nesting is refused first: V8 takes ~0.5 s per MiB of
 * `[[[[…`, and a status poll must not spend that on a hostile answer.
 */
export function parseServerJson(text: string): unknown {
  if (nestsDeeper(text, MAX_JSON_DEPTH)) throw new GpumodError('HTTP_BAD_RESPONSE', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  return JSON.parse(text);
}

/** Parses a JSON body or fails naming the endpoint; servers are not trusted to answer in shape. */
export function jsonBody(svc: ServiceConfig, what: string, res: HttpResponse): unknown {
  try {
    return parseServerJson(res.body);
  } catch (e) {
    throw new GpumodError('HTTP_BAD_RESPONSE', `${svc.name}: ${what} answered malformed JSON: ${excerpt(res.body)}`, { cause: e });
  }
}

/** A probe that could not complete: nothing listening is `down`; anything else an `error` with the reason. */
export function probeFailure(e: unknown): Probe {
  if (isUnreachable(e)) return { state: 'down', healthy: false };
  if (e instanceof GpumodError && e.code === 'CANCELLED') throw e;
  return { state: 'error', healthy: false, detail: e instanceof Error ? e.message : String(e) };
}

export function isUnreachable(e: unknown): boolean {
  return e instanceof GpumodError && e.code === 'HTTP_UNREACHABLE';
}

export function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new GpumodError('CANCELLED', 'cancelled'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new GpumodError('CANCELLED', 'cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The first pause of a poll, and the longest: every ms between "done" and "seen done" is added to the switch. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 50;
/** Looks logged at info before the rest go to debug (with a count at the end). */
const POLL_LOUD = 3;

/**
 * Polls `check` until it returns a value, the pauses a quarter of the time waited so far, from 5 ms
 * up to 50 ms: servers answer within ms after an unload and seconds after a load, so a fast change
 * is seen within a quarter of its own time (doubling pauses could let it wait as long again), and a
 * loopback request costs ~1 ms, so even a 60 s cold start costs ~1200 cheap requests while the lag
 * between "ready" and "seen ready" stays under 50 ms. `check` gets a context whose requests, after
 * the first few, log at debug. Throws DEADLINE naming what was awaited and the last thing seen.
 */
export async function pollUntil<T>(
  ctx: DriverContext,
  what: string,
  deadlineMs: number,
  check: (ctx: DriverContext) => Promise<{ done: true; value: T } | { done: false; seen: string }>,
): Promise<T> {
  const start = Date.now();
  let seen = 'nothing yet';
  const quiet: DriverContext = { ...ctx, quiet: true };
  for (let looks = 1; ; looks++) {
    const r = await check(looks <= POLL_LOUD ? ctx : quiet);
    if (r.done) {
      if (looks > POLL_LOUD) ctx.log.info(`${what}: done after ${looks} looks in ${Date.now() - start} ms`);
      return r.value;
    }
    seen = r.seen;
    const left = deadlineMs - (Date.now() - start);
    if (left <= 0) throw new GpumodError('DEADLINE', `${what}: not done after ${Math.round(deadlineMs / 1000)} s (last seen: ${seen})`);
    const pause = Math.min(POLL_MAX_MS, Math.max(POLL_FIRST_MS, (Date.now() - start) / 4));
    await sleepFor(Math.min(pause, left), ctx.signal);
  }
}

/**
 * The configured readiness request, if any: a 2xx proves the server serves, not just listens. A text
 * request is sent deterministic (temperature 0, a fixed seed, a few tokens) and its answer returned,
 * so the engine can compare the output after a wake with the output after a cold start.
 */
export async function runReadiness(svc: ServiceConfig, ctx: DriverContext): Promise<string | undefined> {
  if (!svc.readiness) return undefined;
  const r = svc.readiness;
  const res = expectOk(svc, `readiness ${r.method} ${redactUrl(r.path)}`, await call(svc, ctx, r.method, r.path, svc.wakeTimeoutMs, deterministicBody(r.body)));
  try {
    return answerText(parseServerJson(res.body));
  } catch {
    return undefined; // not JSON: proves it serves, says nothing about what
  }
}

/** Waits until the health endpoint answers 2xx after a cold start; refused connections mean "not yet". */
export async function awaitHealth(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
  await pollUntil(ctx, `${svc.name}: waiting for ${redactUrl(svc.healthPath)}`, deadlineMs, async (look) => {
    try {
      const res = await call(svc, look, 'GET', svc.healthPath, PROBE_TIMEOUT_MS);
      return res.status >= 200 && res.status < 300 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
    } catch (e) {
      if (isUnreachable(e) || (e instanceof GpumodError && e.code === 'HTTP_TIMEOUT')) return { done: false, seen: 'not listening yet' };
      throw e;
    }
  });
}

/**
 * The probe of a server without a sleep state: its health. It answers, so it runs: a non-2xx makes it
 * unhealthy, not "still starting" (which would await it up to its start-up deadline).
 */
export async function healthProbe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
  try {
    const res = await call(svc, ctx, 'GET', svc.healthPath, PROBE_TIMEOUT_MS);
    return res.status >= 200 && res.status < 300 ? { state: 'awake', healthy: true } : { state: 'awake', healthy: false, detail: `${svc.healthPath} answered ${res.status}` };
  } catch (e) {
    return probeFailure(e);
  }
}

/** Health after the sleep probe: a sleeping server is asleep, not unhealthy. */
export async function healthy(svc: ServiceConfig, ctx: DriverContext): Promise<boolean> {
  try {
    const res = await call(svc, ctx, 'GET', svc.healthPath, PROBE_TIMEOUT_MS);
    return res.status >= 200 && res.status < 300;
  } catch (e) {
    if (e instanceof GpumodError && e.code === 'CANCELLED') throw e;
    return false;
  }
}

import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import type { HttpResponse } from '../engine/machinePorts';
import { awaitHealth, call, excerpt, expectOk, healthy, jsonBody, parseServerJson, pollUntil, PROBE_TIMEOUT_MS, probeFailure, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext, Probe, SleepDepth } from '../engine/driverPort';
import { readSamples } from './prometheus';

/**
 * vLLM's sleep mode over HTTP (dev endpoints, VLLM_SERVER_DEV_MODE=1):
 *   sleep  POST /sleep?level=1|2[&mode=wait]      (a query parameter, not a JSON body)
 *   wake   L1: POST /wake_up
 *          L2: POST /wake_up?tags=weights → POST /collective_rpc {"method":"reload_weights"}
 *              → POST /wake_up?tags=kv_cache → POST /reset_prefix_cache
 *   probe  GET /is_sleeping before GET /health (health stays 200 while asleep)
 */

const LEVEL: Record<string, number> = { l1: 1, l2: 2 };

const SLEEP_STATE = 'vllm:engine_sleep_state';
const RUNNING = 'vllm:num_requests_running';

/** The `sleep_state` labels whose engine_sleep_state gauge reads 1 (awake, weights_offloaded, discard_all). */
function sleepStates(metrics: string): Set<string> {
  const on = new Set<string>();
  for (const s of readSamples(metrics, [SLEEP_STATE])) {
    const state = s.labels.get('sleep_state');
    if (s.value === 1 && state !== undefined) on.add(state);
  }
  return on;
}

/** `vllm:engine_sleep_state{…,sleep_state="weights_offloaded"} 1` → l1; `discard_all` → l2. */
export function sleepDepthFromMetrics(metrics: string): SleepDepth | undefined {
  return depthOf(sleepStates(metrics));
}

function depthOf(states: ReadonlySet<string>): SleepDepth | undefined {
  if (states.has('discard_all')) return 'l2';
  if (states.has('weights_offloaded')) return 'l1';
  return undefined;
}

/** Sum of `vllm:num_requests_running` over engines; undefined when the server does not export it. */
export function runningRequests(metrics: string): number | undefined {
  let sum: number | undefined;
  for (const s of readSamples(metrics, [RUNNING])) if (Number.isFinite(s.value)) sum = (sum ?? 0) + s.value;
  return sum;
}

/** `mode=wait` (drain before sleeping) exists from vLLM 0.17; older servers ignore or reject it. */
export function supportsWaitMode(version: string | undefined): boolean {
  const m = version?.match(/^(\d+)\.(\d+)/);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 0 || minor >= 17;
}

function notDevMode(svc: ServiceConfig, what: string): GpumodError {
  return new GpumodError(
    'SLEEP_NOT_ENABLED',
    `${svc.name}: ${what} answered 404: the server runs without sleep endpoints; start it with VLLM_SERVER_DEV_MODE=1 and --enable-sleep-mode`,
  );
}

async function isSleeping(svc: ServiceConfig, ctx: DriverContext, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  const res = await call(svc, ctx, 'GET', '/is_sleeping', timeoutMs);
  if (res.status === 404) throw notDevMode(svc, 'GET /is_sleeping');
  const body = jsonBody(svc, 'GET /is_sleeping', expectOk(svc, 'GET /is_sleeping', res)) as { is_sleeping?: unknown };
  if (typeof body?.is_sleeping !== 'boolean') {
    throw new GpumodError('HTTP_BAD_RESPONSE', `${svc.name}: GET /is_sleeping answered without a boolean is_sleeping: ${excerpt(res.body)}`);
  }
  return body.is_sleeping;
}

async function metrics(svc: ServiceConfig, ctx: DriverContext): Promise<string | undefined> {
  try {
    const res = await call(svc, ctx, 'GET', '/metrics', PROBE_TIMEOUT_MS);
    return res.status === 200 ? res.body : undefined;
  } catch (e) {
    if (e instanceof GpumodError && e.code === 'CANCELLED') throw e;
    return undefined;
  }
}

async function version(svc: ServiceConfig, ctx: DriverContext): Promise<string | undefined> {
  try {
    const res = await call(svc, ctx, 'GET', '/version', PROBE_TIMEOUT_MS);
    const body = res.status === 200 ? (parseServerJson(res.body) as { version?: unknown } | null) : undefined;
    return typeof body?.version === 'string' ? body.version : undefined;
  } catch {
    return undefined;
  }
}

function post(svc: ServiceConfig, ctx: DriverContext, path: string, timeoutMs: number, json?: unknown): Promise<HttpResponse> {
  return call(svc, ctx, 'POST', path, timeoutMs, json);
}

async function postOk(svc: ServiceConfig, ctx: DriverContext, path: string, timeoutMs: number, json?: unknown): Promise<void> {
  const res = await post(svc, ctx, path, timeoutMs, json);
  if (res.status === 404) throw notDevMode(svc, `POST ${path}`);
  expectOk(svc, `POST ${path}`, res);
}

/** Requests in flight are drained first: some vLLM versions crash when put to sleep mid-request. */
async function drain(svc: ServiceConfig, ctx: DriverContext): Promise<void> {
  await pollUntil(ctx, `${svc.name}: draining requests before sleep`, svc.sleepTimeoutMs, async (look) => {
    const text = await metrics(svc, look);
    const running = text === undefined ? 0 : runningRequests(text) ?? 0;
    return running === 0 ? { done: true, value: undefined } : { done: false, seen: `${running} request(s) running` };
  });
}

export const vllmDriver: Driver = {
  kind: 'vllm',

  capabilities(svc: ServiceConfig): DriverCapabilities {
    const levels: SleepDepth[] = svc.sleep === 'l1' ? ['l1', 'l2'] : svc.sleep === 'l2' ? ['l2'] : [];
    return { sleepLevels: levels, canWake: levels.length > 0, canDrain: levels.length > 0 };
  },

  async probe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
    // Every answer below needs /health: asked beside /is_sleeping, a look costs one round trip, not two.
    const health = healthy(svc, ctx);
    let sleeping: boolean;
    try {
      sleeping = await isSleeping(svc, ctx);
    } catch (e) {
      if (e instanceof GpumodError && e.code === 'SLEEP_NOT_ENABLED') {
        // Without dev mode the server cannot be asleep; it serves or it does not.
        const ok = await health;
        return { state: ok ? 'awake' : 'error', healthy: ok, detail: 'sleep endpoints disabled (VLLM_SERVER_DEV_MODE=1 not set)' };
      }
      health.catch(() => undefined);
      return probeFailure(e);
    }
    if (sleeping) {
      const text = await metrics(svc, ctx);
      const depth = text ? sleepDepthFromMetrics(text) : undefined;
      // Unknown depth is reported as l2, never guessed from the config: an l1 service may have been put
      // to sleep at L2, and waking that the L1 way (no reload_weights) serves garbage.
      return { state: 'asleep', sleep: depth ?? 'l2', healthy: await health, detail: depth ? undefined : 'depth unknown (no sleep-state metric): taken as l2, so a wake reloads the weights' };
    }
    const ok = await health;
    return { state: 'awake', healthy: ok, detail: ok ? undefined : 'health check failed' };
  },

  async sleep(svc: ServiceConfig, depth: SleepDepth, ctx: DriverContext, opts?: { force?: boolean }): Promise<void> {
    const level = LEVEL[depth];
    if (!level) throw new GpumodError('USAGE', `${svc.name}: vLLM sleeps at l1 or l2, not ${depth}`);
    let query = `level=${level}`;
    if (!opts?.force) {
      if (supportsWaitMode(await version(svc, ctx))) query += '&mode=wait';
      else await drain(svc, ctx);
    }
    await postOk(svc, ctx, `/sleep?${query}`, svc.sleepTimeoutMs);
    // A server without --enable-sleep-mode may answer 200 and stay awake: believe only /is_sleeping.
    if (!(await isSleeping(svc, ctx))) {
      throw new GpumodError('SLEEP_INEFFECTIVE', `${svc.name}: POST /sleep answered 200 but /is_sleeping is false (is --enable-sleep-mode set?)`);
    }
  },

  async wake(svc: ServiceConfig, ctx: DriverContext, depth?: SleepDepth): Promise<void> {
    let observed = depth;
    if (observed === undefined) {
      const text = await metrics(svc, ctx);
      const states = sleepStates(text ?? '');
      observed = depthOf(states);
      // Asked without a depth (a rollback after a sleep that failed or never began): an awake server
      // must not get the L2 path, whose reload_weights re-reads the weights under a serving engine.
      if (observed === undefined) {
        const awake = states.has('awake') || !(await isSleeping(svc, ctx));
        if (awake) return;
      }
    }
    if (observed === 'l1') {
      await postOk(svc, ctx, '/wake_up', svc.wakeTimeoutMs);
    } else {
      // L2, or unknown: the weights may be gone, and waking without reload_weights serves garbage.
      await postOk(svc, ctx, '/wake_up?tags=weights', svc.wakeTimeoutMs);
      await postOk(svc, ctx, '/collective_rpc', svc.wakeTimeoutMs, { method: 'reload_weights' });
      await postOk(svc, ctx, '/wake_up?tags=kv_cache', svc.wakeTimeoutMs);
      await postOk(svc, ctx, '/reset_prefix_cache', svc.wakeTimeoutMs);
    }
    if (await isSleeping(svc, ctx)) {
      throw new GpumodError('HTTP_BAD_RESPONSE', `${svc.name}: the wake sequence answered 200 but /is_sleeping is still true`);
    }
  },

  async awaitReady(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
    await awaitHealth(svc, ctx, deadlineMs);
  },

  readiness: runReadiness,
};
